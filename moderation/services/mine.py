"""What a member sees of moderation about themselves: the reports they filed and what became of
each (in words, never the moderators' internal notes, assignee or the other reports of the
case), and the warnings moderators gave them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accounts.models import User
from guilds.models import Guild
from moderation.models import AuditLogEntry, CaseState, Category, Report
from moderation.services.cases import WARNING_KEY
from united.audit import AuditLogEvent

# The report categories in plain words, in the order the report dialog offers them.
CATEGORY_WORDS: dict[str, str] = {
    Category.SPAM: "Spam or unwanted advertising",
    Category.HARASSMENT: "Harassment or bullying",
    Category.HATE: "Hate speech",
    Category.VIOLENCE: "Violence or threats",
    Category.SEXUAL: "Sexual content that does not belong here",
    Category.SELF_HARM: "Someone may hurt themselves",
    Category.ILLEGAL: "Illegal content or activity",
    Category.IMPERSONATION: "Pretending to be someone else",
    Category.OTHER: "Something else",
}

# A reporter learns whether someone acted, not who is looking at it.
STATE_WORDS: dict[str, str] = {
    CaseState.OPEN: "Open: waiting for a moderator",
    CaseState.ASSIGNED: "Open: a moderator is looking at it",
    CaseState.ACTIONED: "Actioned: a moderator took action",
    CaseState.DISMISSED: "Dismissed: no action was taken",
}
STATE_SHORT: dict[str, str] = {
    CaseState.OPEN: "open",
    CaseState.ASSIGNED: "open",
    CaseState.ACTIONED: "actioned",
    CaseState.DISMISSED: "dismissed",
}
LIST_MAX = 100


def describe_target(snapshot: dict[str, Any]) -> str:
    """The reported thing as the reporter saw it when they reported it."""
    if "message" in snapshot:
        author = (snapshot.get("author") or {}).get("username") or "a deleted account"
        text = snapshot["message"].get("content") or ""
        short = text if len(text) <= 120 else text[:119] + "…"
        return f"Message by {author} in #{snapshot['message'].get('channel_name', '')}: “{short}”"
    if "user" in snapshot:
        return f"The account {snapshot['user'].get('username', '')}"
    if "guild" in snapshot:
        return f"The community {snapshot['guild'].get('name', '')}"
    return "Something you reported"


def my_reports(user: User) -> list[dict[str, Any]]:
    """The reports `user` filed, newest first, with the state of the case each joined."""
    rows = (
        Report.objects.filter(reporter=user)
        .select_related("case")
        .order_by("-created_at")[:LIST_MAX]
    )
    guild_names = dict(
        Guild.objects.filter(id__in={r.case.guild_id for r in rows if r.case.guild_id}).values_list(
            "id", "name"
        )
    )
    out = []
    for report in rows:
        case = report.case
        out.append(
            {
                "id": str(report.id),
                "about": describe_target(case.snapshot or {}),
                "where": guild_names.get(case.guild_id, "") if case.guild_id else "This node",
                "category": CATEGORY_WORDS.get(report.category, report.category),
                "created_at": report.created_at,
                "state": STATE_SHORT[case.state],
                "state_words": STATE_WORDS[case.state],
                "resolved_at": case.resolved_at,
            }
        )
    return out


def my_warnings(user: User) -> list[dict[str, Any]]:
    """Warnings moderators gave `user` (case action "warn"), newest first."""
    entries = AuditLogEntry.objects.filter(
        target_id=user.id, action_type=AuditLogEvent.MEMBER_UPDATE
    ).select_related("guild")[: LIST_MAX * 5]
    out: list[dict[str, Any]] = []
    for entry in entries:
        said = next((c for c in entry.changes or [] if c.get("key") == WARNING_KEY), None)
        if said is not None:
            when: datetime = entry.created_at
            out.append({"guild": entry.guild.name, "text": said.get("new_value"), "at": when})
        if len(out) >= LIST_MAX:
            break
    return out
