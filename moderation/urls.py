from django.urls import path

from moderation import views
from moderation.api import audit, automod, members, reports, sanctions

G = "guilds/<id:guild_id>"

# REST routes (mounted under /api/v1/) and web routes of this app.
api_urlpatterns = [
    path(f"{G}/audit-logs", audit.AuditLogView.as_view(), name="api-audit-logs"),
    path(f"{G}/modlog/export", audit.ModlogExportView.as_view(), name="api-modlog-export"),
    path(f"{G}/members/<id:user_id>", members.MemberView.as_view(), name="api-member"),
    path(f"{G}/bans", sanctions.BansView.as_view(), name="api-bans"),
    path(f"{G}/bans/<id:user_id>", sanctions.BanView.as_view(), name="api-ban"),
    path(f"{G}/auto-moderation/rules", automod.RulesView.as_view(), name="api-automod-rules"),
    path(
        f"{G}/auto-moderation/rules/<id:rule_id>",
        automod.RuleView.as_view(),
        name="api-automod-rule",
    ),
    path("reports", reports.ReportsView.as_view(), name="api-reports"),
    path(f"{G}/report-cases", reports.GuildCasesView.as_view(), name="api-guild-cases"),
    path("report-cases", reports.NodeCasesView.as_view(), name="api-node-cases"),
    path("report-cases/<id:case_id>", reports.CaseView.as_view(), name="api-case"),
    path("report-cases/<id:case_id>/notes", reports.CaseNotesView.as_view(), name="api-case-notes"),
    path(
        "report-cases/<id:case_id>/actions",
        reports.CaseActionsView.as_view(),
        name="api-case-actions",
    ),
]

urlpatterns = [
    path("guilds/<id:guild_id>/moderation/", views.queue_page, name="moderation-queue"),
    path("guilds/<id:guild_id>/moderation/log/", views.modlog_page, name="moderation-log"),
    path(
        "guilds/<id:guild_id>/moderation/members/<id:user_id>/",
        views.member_page,
        name="moderation-member",
    ),
    path("moderation/cases/<id:case_id>/", views.case_page, name="moderation-case"),
]
