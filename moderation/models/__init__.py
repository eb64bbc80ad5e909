from moderation.models.audit import AppendOnly, AuditLogEntry, ModlogHead
from moderation.models.automod import AutomodAction, AutomodRule
from moderation.models.operators import (
    GuildSuspension,
    NodeAccount,
    NodeAuditEntry,
    OperatedGuild,
)
from moderation.models.reports import (
    CASE_TRANSITIONS,
    SEVERITY,
    UNRESOLVED,
    CaseAction,
    CaseNote,
    CaseState,
    Category,
    Report,
    ReportCase,
    TargetKind,
)
from moderation.models.sanctions import GuildBan, MemberTimeout, ModeratedMember

__all__ = [
    "CASE_TRANSITIONS",
    "SEVERITY",
    "UNRESOLVED",
    "AppendOnly",
    "AuditLogEntry",
    "AutomodAction",
    "AutomodRule",
    "CaseAction",
    "CaseNote",
    "CaseState",
    "Category",
    "GuildBan",
    "GuildSuspension",
    "MemberTimeout",
    "NodeAccount",
    "NodeAuditEntry",
    "OperatedGuild",
    "ModeratedMember",
    "ModlogHead",
    "Report",
    "ReportCase",
    "TargetKind",
]
