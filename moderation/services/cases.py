"""Working a report queue: who may see a case, the queue order, assignment, the state
table, internal notes, and the one-click actions that link a case to the modlog entry its
sanction wrote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from guilds.models import Guild, Member, Role
from guilds.permissions import Permissions as P
from guilds.permissions import has
from moderation.models import (
    CASE_TRANSITIONS,
    UNRESOLVED,
    AuditLogEntry,
    CaseAction,
    CaseNote,
    CaseState,
    ReportCase,
    TargetKind,
)
from moderation.services.audit import record_audit
from moderation.services.timeouts import MAX_TIMEOUT
from united import events
from united.audit import AuditLogEvent
from united.errors import Forbidden, Invalid, NotFound

MODERATOR_PERMS = P.MANAGE_MESSAGES | P.KICK_MEMBERS | P.BAN_MEMBERS | P.MODERATE_MEMBERS
ACTIONS = ("delete_message", "warn", "timeout", "kick", "ban")
# A warning is a modlog entry about the member (MEMBER_UPDATE with this change key): the chain
# keeps it, and the member reads it on their own reports page (moderation.services.mine).
WARNING_KEY = "warning"


def unknown_case() -> NotFound:
    return NotFound("Unknown report case", code=10000)


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def is_case_moderator(user: User, guild_id: int | None) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if guild_id is None:
        return user.is_superuser
    from guilds.services.access import guild_context

    try:
        ctx = guild_context(user, guild_id)
    except NotFound:
        return False
    return ctx.is_admin or bool(ctx.base & MODERATOR_PERMS)


def access_case(user: User, case_id: Any, *, lock: bool = False) -> ReportCase:
    """The case if `user` works its queue, else 404 (a case's existence is not confirmed)."""
    cases = ReportCase.objects.select_for_update() if lock else ReportCase.objects
    try:
        case = cases.get(id=int(case_id))
    except (TypeError, ValueError, ReportCase.DoesNotExist):
        raise unknown_case() from None
    if not is_case_moderator(user, case.guild_id):
        raise unknown_case()
    return case


def open_count(user: User, guild_id: int) -> int | None:
    """Unresolved cases of a guild's queue for someone who works it; None for anyone else
    (the chat shows them no Moderation entry at all)."""
    if not is_case_moderator(user, guild_id):
        return None
    return ReportCase.objects.filter(guild_id=guild_id, state__in=UNRESOLVED).count()


def queue(user: User, guild_id: int | None, state: str | None = None) -> list[ReportCase]:
    """A guild's queue (or the node's, `guild_id=None`): most severe first, then oldest."""
    if not is_case_moderator(user, guild_id):
        if guild_id is None:
            raise NotFound("Not found")
        from guilds.services.access import guild_context, missing_permissions

        guild_context(user, guild_id)  # 404 to non-members
        raise missing_permissions("moderator")
    cases = ReportCase.objects.filter(
        Q(guild_id=guild_id) if guild_id else Q(guild__isnull=True)
    ).select_related("assignee", "target_user")
    if state:
        if state not in CaseState.values:
            raise Invalid(errors={"state": [f"One of {', '.join(CaseState.values)}."]})
        cases = cases.filter(state=state)
    else:
        cases = cases.filter(state__in=UNRESOLVED)
    return list(cases.order_by("-severity", "created_at")[:200])


def serialize_case(case: ReportCase, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(case.id),
        "guild_id": str(case.guild_id) if case.guild_id else None,
        "type": case.kind,
        "target": case.target_key,
        "state": case.state,
        "severity": case.severity,
        "report_count": case.report_count,
        "automod": case.automod,
        "assignee_id": str(case.assignee_id) if case.assignee_id else None,
        "target_user_id": str(case.target_user_id) if case.target_user_id else None,
        "created_at": _iso(case.created_at),
        "updated_at": _iso(case.updated_at),
    }
    if detail:
        data["snapshot"] = case.snapshot
        data["reports"] = [
            {
                "id": str(r.id),
                "reporter_id": str(r.reporter_id) if r.reporter_id else None,
                "category": r.category,
                "note": r.note,
                "reporter_attached_content": r.reporter_attached_content or None,
                "signature_valid": r.signature_valid,
                "created_at": _iso(r.created_at),
            }
            for r in case.reports.all()
        ]
        data["notes"] = [
            {"author_id": str(n.author_id), "body": n.body, "created_at": _iso(n.created_at)}
            for n in case.notes.all()
        ]
        data["actions"] = [
            {
                "action": a.action,
                "actor_id": str(a.actor_id) if a.actor_id else None,
                "modlog_seq": a.audit_entry.seq if a.audit_entry else None,
                "created_at": _iso(a.created_at),
            }
            for a in case.actions.select_related("audit_entry")
        ]
    return data


def moderator_ids(guild_id: int) -> list[int]:
    """Who works a guild's queue (`is_case_moderator` for each): the owner and the members
    whose roles, @everyone included, grant a moderator permission or ADMINISTRATOR."""
    bits = MODERATOR_PERMS | P.ADMINISTRATOR
    roles = Role.objects.filter(guild_id=guild_id).values_list("id", "permissions")
    granting = [role_id for role_id, perms in roles if perms & bits]
    members = Member.objects.filter(guild_id=guild_id)
    if guild_id not in granting:  # @everyone's id is the guild's: otherwise every member
        members = members.filter(roles__in=granting) if granting else members.none()
    ids = set(members.values_list("user_id", flat=True))
    owner = Guild.objects.filter(id=guild_id).values_list("owner_id", flat=True).first()
    if owner is not None:
        ids.add(owner)
    return sorted(ids)


def announce_case(case: ReportCase) -> None:
    """Tell the queue's moderators that it changed, so their open pages re-read the count
    of open reports beside Moderation. Only the case's id and state: what it is about is
    read by the page, with the reader's own permission."""
    if case.guild_id is None:
        return  # the operators' queue lives in the admin
    data = {"guild_id": str(case.guild_id), "case_id": str(case.id), "state": case.state}
    for user_id in moderator_ids(case.guild_id):
        events.broadcast_ephemeral(events.user_group(user_id), "REPORT_CASE_UPDATE", data)


def do_transition(case: ReportCase, new: str, *, assignee: User | None = None) -> None:
    """The one place case states change, by the transition table."""
    if new != case.state and new not in CASE_TRANSITIONS[CaseState(case.state)]:
        raise Invalid(errors={"state": [f"A {case.state} case cannot become {new}."]})
    case.state = new
    case.assignee = assignee if new == CaseState.ASSIGNED else case.assignee
    if new == CaseState.OPEN:
        case.assignee = None
    case.resolved_at = timezone.now() if new not in UNRESOLVED else None
    case.updated_at = timezone.now()
    case.save(update_fields=["state", "assignee", "resolved_at", "updated_at"])
    announce_case(case)


def check_update_case(user: User, case_id: Any, data: dict[str, Any]) -> ReportCase:
    """PATCH a case: `assignee_id` (assigns it) and/or `state`."""
    with transaction.atomic():
        case = access_case(user, case_id, lock=True)
        if "assignee_id" in data and data["assignee_id"] is not None:
            assignee = User.objects.filter(id=data["assignee_id"]).first()
            if assignee is None or not is_case_moderator(assignee, case.guild_id):
                raise Invalid(errors={"assignee_id": ["Someone who works this queue."]})
            do_transition(case, CaseState.ASSIGNED, assignee=assignee)
        if "state" in data:
            if data["state"] not in CaseState.values:
                raise Invalid(errors={"state": [f"One of {', '.join(CaseState.values)}."]})
            do_transition(case, data["state"], assignee=case.assignee)
        return case


def check_add_note(user: User, case_id: Any, body: Any) -> CaseNote:
    if not isinstance(body, str) or not 1 <= len(body.strip()) <= 2000:
        raise Invalid(errors={"body": ["1 to 2000 characters."]})
    with transaction.atomic():
        case = access_case(user, case_id)
        return CaseNote.objects.create(case=case, author=user, body=body.strip())


def check_case_action(
    user: User,
    case_id: Any,
    action: Any,
    *,
    reason: str = "",
    duration_seconds: Any = None,
    delete_message_seconds: Any = 0,
) -> CaseAction:
    """One click from a case: delete the message, warn, time out, kick or ban its author. Each
    goes through the same sanction service as every other door; the modlog entry's reason
    names the case, and the case records the entry."""
    from moderation.services import sanctions, timeouts

    if action not in ACTIONS:
        raise Invalid(errors={"action": [f"One of {', '.join(ACTIONS)}."]})
    with transaction.atomic():
        case = access_case(user, case_id, lock=True)
        operator = case.guild_id is None
        guild_id = case.guild_id
        if operator and case.kind == TargetKind.GUILD:
            raise Invalid(errors={"action": ["Guild reports are handled by suspending it."]})
        if guild_id is None:
            raise Invalid(errors={"action": ["A node-level user case has no guild to act in."]})
        if case.target_user_id is None:
            raise Invalid(errors={"action": ["The reported account no longer exists."]})
        why = f"[case {case.id}] {reason}".strip()[:512]
        entry: AuditLogEntry | None
        if action == "delete_message":
            entry = do_delete_case_message(user, case, why)
        elif action == "warn":
            entry = do_warn(user, guild_id, case.target_user_id, reason=reason, why=why)
        elif action == "timeout":
            if (
                not isinstance(duration_seconds, int)
                or isinstance(duration_seconds, bool)
                or not 0 <= duration_seconds <= MAX_TIMEOUT.total_seconds()
            ):
                raise Invalid(errors={"duration_seconds": ["Seconds, up to 28 days."]})
            until = timezone.now() + timedelta(seconds=max(duration_seconds, 0))
            entry = timeouts.check_timeout(user, guild_id, case.target_user_id, until, reason=why)
        elif action == "kick":
            entry = sanctions.check_kick(user, guild_id, case.target_user_id, reason=why)
        else:
            entry = sanctions.check_ban(
                user,
                guild_id,
                case.target_user_id,
                reason=why,
                delete_message_seconds=delete_message_seconds,
                duration_seconds=duration_seconds,
            )
        done = CaseAction.objects.create(case=case, action=action, actor=user, audit_entry=entry)
        if case.state != CaseState.ACTIONED:
            do_transition(case, CaseState.ACTIONED)
        return done


def do_delete_case_message(user: User, case: ReportCase, reason: str) -> AuditLogEntry:
    from guilds.services.access import access_channel
    from messaging.models import Message
    from messaging.services.messages import do_delete_message

    if case.message_id is None:
        raise Invalid(errors={"action": ["This case is not about a message."]})
    # A case about a message has a channel (checked just above).
    access = access_channel(user, case.channel_id)  # type: ignore[arg-type]
    if not has(access.permissions, P.MANAGE_MESSAGES):
        raise Forbidden("Missing Permissions: MANAGE_MESSAGES")
    message = Message.objects.select_related("channel").filter(id=case.message_id).first()
    if message is not None and not message.deleted:
        do_delete_message(message, actor=user)
    return record_audit(
        access.ctx.guild,
        user,
        AuditLogEvent.MESSAGE_DELETE,
        case.target_user_id,
        [
            {"key": "message_id", "new_value": str(case.message_id)},
            {"key": "channel_id", "new_value": str(case.channel_id)},
        ],
        reason,
    )


def do_warn(user: User, guild_id: int, target_id: int, *, reason: str, why: str) -> AuditLogEntry:
    """A warning needs words (it is all the member gets) and the right to time them out:
    MODERATE_MEMBERS over someone below the moderator (moderation.services.standing)."""
    from moderation.services.standing import access_target

    if not reason.strip():
        raise Invalid(errors={"reason": ["Say what the warning is for: the member reads it."]})
    standing = access_target(user, guild_id, target_id, P.MODERATE_MEMBERS)
    if standing.member is None:
        from guilds.services.access import unknown_member

        raise unknown_member()
    return record_audit(
        standing.guild,
        user,
        AuditLogEvent.MEMBER_UPDATE,
        target_id,
        [{"key": WARNING_KEY, "new_value": reason.strip()[:400]}],
        why,
    )
