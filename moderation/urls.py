from django.urls import path

from moderation import api

# REST routes (mounted under /api/v1/) and web routes of this app.
api_urlpatterns = [
    path("guilds/<int:guild_id>/audit-logs", api.AuditLogView.as_view(), name="api-audit-logs"),
]

urlpatterns: list = []
