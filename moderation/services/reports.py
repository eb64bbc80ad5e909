"""Reports and the cases they form (`cases` is the moderators' side).

Queues: a reported message or member of a guild goes to that guild's queue (its moderators:
any of MANAGE_MESSAGES, KICK_MEMBERS, BAN_MEMBERS, MODERATE_MEMBERS); a reported guild, or a
user reported without a guild, goes to the node queue, worked by the operators (superusers).
A case shows its reports, the snapshot taken when it was opened, internal notes, and the
actions taken from it, each linked to the moderation-log entry it wrote.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from guilds.models import Guild, Member
from moderation.models import (
    SEVERITY,
    UNRESOLVED,
    Category,
    Report,
    ReportCase,
    TargetKind,
)
from united import ratelimit
from united.errors import Invalid, NotFound
from united.ids import parse_snowflake

if TYPE_CHECKING:
    from messaging.models import Message

NOTE_MAX = 1000
ATTACHED_MAX = 8000


def attachment_bytes(target_key: str, content: str) -> bytes:
    """What a reporter's device signs when it attaches decrypted E2E content to a report."""
    body = {"target": target_key, "content": content}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _user_snapshot(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
    }


def _message_target(user: User, data: dict[str, Any]) -> dict[str, Any]:
    from messaging.services.messages import access_message

    if data.get("channel_id") is None or data.get("message_id") is None:
        raise Invalid(errors={"message_id": ["channel_id and message_id are required."]})
    # An id no row can have (not digits, or past 2**63-1) is as unknown as a missing one.
    channel_id = parse_snowflake(data.get("channel_id")) or 0
    message_id = parse_snowflake(data.get("message_id")) or 0
    access, message = access_message(user, channel_id, message_id)
    if message.deleted:
        raise NotFound("Unknown message", code=10008)
    return {**message_target(message), "guild": access.ctx.guild}


def message_target(message: Message) -> dict[str, Any]:
    """A message as a case target, guild-less (the caller decides the queue): also what a
    report forwarded from another node about it opens on the author's home node."""
    snapshot = {
        "message": {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "channel_name": message.channel.name,
            "content": message.content,
            "content_html": message.content_html,
            "timestamp": _iso(message.created_at),
            "edited_timestamp": _iso(message.edited_at),
            "edits": [e.content for e in message.edits.order_by("id")],
        },
        "author": _user_snapshot(message.author) if message.author else None,
    }
    return {
        "kind": TargetKind.MESSAGE,
        "key": f"message:{message.id}",
        "guild": None,
        "message_id": message.id,
        "channel_id": message.channel_id,
        "target_user": message.author,
        "snapshot": snapshot,
    }


def _user_target(user: User, data: dict[str, Any]) -> dict[str, Any]:
    target = User.objects.filter(id=parse_snowflake(data.get("user_id")) or 0).first()
    if target is None:
        raise NotFound("Unknown User", code=10013)
    if target.id == user.id:
        raise Invalid(errors={"user_id": ["You cannot report yourself."]})
    guild = None
    if data.get("guild_id") is not None:
        from guilds.services.access import guild_context, unknown_guild, unknown_member

        guild_id = parse_snowflake(data["guild_id"])
        if guild_id is None:
            raise unknown_guild()
        guild = guild_context(user, guild_id).guild
        if not Member.objects.filter(guild=guild, user=target).exists():
            raise unknown_member()
    key = f"user:{target.id}" + (f"@{guild.id}" if guild else "")
    return {
        "kind": TargetKind.USER,
        "key": key,
        "guild": guild,
        "target_user": target,
        "snapshot": {"user": _user_snapshot(target)},
    }


def _guild_target(user: User, data: dict[str, Any]) -> dict[str, Any]:
    from guilds.services.access import unknown_guild

    guild = Guild.objects.filter(id=parse_snowflake(data.get("guild_id")) or 0).first()
    if guild is None:
        raise unknown_guild()
    if not guild.discoverable and not Member.objects.filter(guild=guild, user=user).exists():
        raise unknown_guild()
    return {
        "kind": TargetKind.GUILD,
        "key": f"guild:{guild.id}",
        "guild": None,
        "target_guild_id": guild.id,
        "target_user": guild.owner,
        "snapshot": {
            "guild": {
                "id": str(guild.id),
                "name": guild.name,
                "description": guild.description,
                "owner_id": str(guild.owner_id),
            }
        },
    }


def _check_attachment(user: User, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Decrypted E2E content the reporter chose to attach, checked against their device key."""
    from accounts.models import Device
    from accounts.services.crypto import verify

    content = data.get("reporter_attached_content") or ""
    if not isinstance(content, str) or len(content) > ATTACHED_MAX:
        raise Invalid(errors={"reporter_attached_content": [f"At most {ATTACHED_MAX} characters."]})
    signature = data.get("reporter_signature") or ""
    fields: dict[str, Any] = {"reporter_attached_content": content}
    if not content or not signature:
        return fields
    # A missing id matches no device, refused just below (4xx).
    device = Device.objects.active().filter(user=user, id=data.get("reporter_device_id")).first()  # type: ignore[misc]
    if device is None:
        raise Invalid(errors={"reporter_device_id": ["One of your active devices."]})
    try:
        valid = verify(
            base64.b64decode(device.identity_key),
            attachment_bytes(key, content),
            base64.b64decode(signature, validate=True),
        )
    except ValueError:
        valid = False
    if not valid:
        raise Invalid(errors={"reporter_signature": ["Does not verify with that device's key."]})
    fields.update(reporter_signature=signature, reporter_device_id=device.id, signature_valid=True)
    return fields


def check_create_report(user: User, data: dict[str, Any]) -> Report:
    """POST /reports: report a message, a user or a guild you can see."""
    kinds = {"message": _message_target, "user": _user_target, "guild": _guild_target}
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        raise Invalid(errors={"type": ["One of message, user, guild."]})
    category = data.get("category")
    if category not in Category.values:
        raise Invalid(errors={"category": [f"One of {', '.join(Category.values)}."]})
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        raise Invalid(errors={"note": [f"At most {NOTE_MAX} characters."]})
    target = kinds[kind](user, data)
    extra = _check_attachment(user, target["key"], data)
    with transaction.atomic():
        case = do_open_case(target, severity=SEVERITY[Category(category)])
        existing = Report.objects.filter(case=case, reporter=user).first()
        if existing is not None:
            return existing
        ratelimit.limit_user("report", user.id)
        ReportCase.objects.filter(id=case.id).update(
            report_count=F("report_count") + 1, updated_at=timezone.now()
        )
        return Report.objects.create(
            case=case, reporter=user, category=category, note=note, **extra
        )


def do_open_case(target: dict[str, Any], *, severity: int, automod: bool = False) -> ReportCase:
    """The unresolved case for this target, or a new one with the content snapshotted now."""
    case = (
        ReportCase.objects.select_for_update()
        .filter(target_key=target["key"], state__in=UNRESOLVED)
        .first()
    )
    if case is None:
        try:
            with transaction.atomic():
                case = ReportCase.objects.create(
                    guild=target["guild"],
                    kind=target["kind"],
                    target_key=target["key"],
                    message_id=target.get("message_id"),
                    channel_id=target.get("channel_id"),
                    target_user=target.get("target_user"),
                    target_guild_id=target.get("target_guild_id"),
                    snapshot=target["snapshot"],
                    severity=severity,
                    automod=automod,
                )
        except IntegrityError:  # a concurrent first report opened it
            case = ReportCase.objects.select_for_update().get(
                target_key=target["key"], state__in=UNRESOLVED
            )
        else:
            from moderation.services.cases import announce_case

            announce_case(case)
    if severity > case.severity:
        ReportCase.objects.filter(id=case.id).update(severity=severity)
        case.severity = severity
    return case
