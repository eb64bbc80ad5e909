from django.urls import path

from moderation.api import audit, sanctions

G = "guilds/<int:guild_id>"

# REST routes (mounted under /api/v1/) and web routes of this app.
api_urlpatterns = [
    path(f"{G}/audit-logs", audit.AuditLogView.as_view(), name="api-audit-logs"),
    path(f"{G}/modlog/export", audit.ModlogExportView.as_view(), name="api-modlog-export"),
    path(f"{G}/bans", sanctions.BansView.as_view(), name="api-bans"),
    path(f"{G}/bans/<int:user_id>", sanctions.BanView.as_view(), name="api-ban"),
]

urlpatterns: list = []
