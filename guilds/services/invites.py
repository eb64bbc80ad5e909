"""Invites: create, list, resolve, revoke, accept.

An invite that is revoked, expired or used up is "Unknown Invite" (404, 10006) to everyone,
as in Discord; a banned user who tries one gets 403 (40007). Accepting locks the invite row,
so two people racing for the last use of a `max_uses` invite cannot both get in. Joining a
guild you are already in answers with the invite and uses nothing.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.services.moves import check_not_moved
from guilds import permissions as perms
from guilds import ports
from guilds.models import Invite, Member
from guilds.serialize import serialize_invite
from guilds.services.access import access_channel, guild_context, missing_permissions
from guilds.services.fields import FieldErrors, boolean, integer, reason_of
from united import errors, events, ratelimit
from united.audit import Audit, AuditLogEvent
from united.errors import Forbidden, Invalid, NotFound

MAX_AGE_LIMIT = 7 * 24 * 3600
MAX_USES_LIMIT = 100
CODE_BYTES = 8  # 11 url-safe characters
BANNED_FROM_GUILD = 40007


def unknown_invite() -> NotFound:
    return NotFound("Unknown Invite", code=errors.UNKNOWN_INVITE)


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def _load(code: str, *, lock: bool = False) -> Invite:
    invites = Invite.objects.select_for_update(of=("self",)) if lock else Invite.objects
    invite = invites.select_related("guild", "channel", "inviter").filter(code=code).first()
    if invite is None or not invite.usable():
        raise unknown_invite()
    return invite


def member_count(guild_id: int) -> int:
    return Member.objects.filter(guild_id=guild_id).count()


def resolve_invite(code: str, *, with_counts: bool = True) -> dict[str, Any]:
    """GET /invites/{code}: public, so a visitor or another node can see where it leads."""
    invite = _load(code)
    count = member_count(invite.guild_id) if with_counts else None
    return serialize_invite(invite, member_count=count)


def lookup_invite(code: str) -> Invite | None:
    """The usable invite for the landing page, or None."""
    try:
        return _load(code)
    except NotFound:
        return None


def check_create_invite(
    user: User, channel_id: int, data: dict[str, Any], *, reason: str = ""
) -> Invite:
    """POST /channels/{id}/invites: needs CREATE_INSTANT_INVITE in the channel."""
    with transaction.atomic():
        access = access_channel(user, channel_id)
        access.require(perms.P.CREATE_INSTANT_INVITE)
        if access.channel.is_category:
            raise unknown_invite_target()
        errs = FieldErrors()
        max_age = integer(errs, "max_age", data.get("max_age", 86400), low=0, high=MAX_AGE_LIMIT)
        max_uses = integer(errs, "max_uses", data.get("max_uses", 0), low=0, high=MAX_USES_LIMIT)
        temporary = boolean(errs, "temporary", data.get("temporary", False))
        errs.raise_if_any()
        ratelimit.limit_user("invite", user.id)
        now = timezone.now()
        invite = Invite.objects.create(
            code=new_code(),
            guild=access.ctx.guild,
            channel=access.channel,
            inviter=user,
            max_age=max_age,
            max_uses=max_uses,
            temporary=temporary,
            created_at=now,
            expires_at=now + timedelta(seconds=max_age) if max_age else None,
        )
        audit = Audit(
            access.ctx.guild.id,
            AuditLogEvent.INVITE_CREATE,
            None,
            [
                {"key": "code", "new_value": invite.code},
                {"key": "channel_id", "new_value": str(access.channel.id)},
                {"key": "max_age", "new_value": max_age},
                {"key": "max_uses", "new_value": max_uses},
                {"key": "temporary", "new_value": temporary},
            ],
            reason_of(reason),
        )
        payload = serialize_invite(invite, metadata=True)
        events.broadcast(
            events.guild_group(invite.guild_id),
            "INVITE_CREATE",
            {
                "channel_id": str(invite.channel_id),
                "guild_id": str(invite.guild_id),
                **{
                    k: payload[k]
                    for k in (
                        "code",
                        "created_at",
                        "inviter",
                        "max_age",
                        "max_uses",
                        "temporary",
                        "uses",
                        "expires_at",
                    )
                },
            },
            actor=user,
            audit=audit,
        )
        return invite


def unknown_invite_target() -> Invalid:
    return Invalid(errors={"channel_id": ["Invites lead to a text or voice channel."]})


def _active(queryset):
    now = timezone.now()
    return [i for i in queryset.select_related("guild", "channel", "inviter") if i.usable(now)]


def list_channel_invites(user: User, channel_id: int) -> list[dict[str, Any]]:
    access = access_channel(user, channel_id)
    access.require(perms.P.MANAGE_CHANNELS)
    return [
        serialize_invite(i, metadata=True)
        for i in _active(Invite.objects.filter(channel=access.channel))
    ]


def list_guild_invites(user: User, guild_id: int) -> list[dict[str, Any]]:
    ctx = guild_context(user, guild_id)
    ctx.require(perms.P.MANAGE_GUILD)
    return [
        serialize_invite(i, metadata=True) for i in _active(Invite.objects.filter(guild=ctx.guild))
    ]


def check_revoke_invite(user: User, code: str, *, reason: str = "") -> dict[str, Any]:
    """DELETE /invites/{code}: MANAGE_CHANNELS on its channel, or MANAGE_GUILD."""
    with transaction.atomic():
        invite = _load(code, lock=True)
        ctx = guild_context(user, invite.guild_id)
        if not (
            perms.has(ctx.base, perms.P.MANAGE_GUILD)
            or perms.has(ctx.channel_permissions(invite.channel), perms.P.MANAGE_CHANNELS)
        ):
            raise missing_permissions("MANAGE_CHANNELS")
        return do_revoke_invite(invite, user, reason=reason)


def do_revoke_invite(invite: Invite, actor: User | None, *, reason: str = "") -> dict[str, Any]:
    invite.revoked_at = timezone.now()
    invite.save(update_fields=["revoked_at"])
    audit = Audit(
        invite.guild_id,
        AuditLogEvent.INVITE_DELETE,
        None,
        [{"key": "code", "old_value": invite.code}, {"key": "uses", "old_value": invite.uses}],
        reason_of(reason),
    )
    events.broadcast(
        events.guild_group(invite.guild_id),
        "INVITE_DELETE",
        {
            "channel_id": str(invite.channel_id),
            "guild_id": str(invite.guild_id),
            "code": invite.code,
        },
        actor=actor,
        audit=audit,
    )
    return serialize_invite(invite, metadata=True)


def check_accept_invite(user: User, code: str) -> tuple[dict[str, Any], bool]:
    """POST /invites/{code}: join the guild. Returns (invite object, newly joined)."""
    from guilds.services.members import do_add_member

    check_not_moved(user)
    with transaction.atomic():
        invite = _load(code, lock=True)
        if Member.objects.filter(guild_id=invite.guild_id, user=user).exists():
            return serialize_invite(invite, member_count=member_count(invite.guild_id)), False
        if ports.is_banned(invite.guild_id, user.id):
            raise Forbidden("You are banned from this guild", code=BANNED_FROM_GUILD)
        ratelimit.limit_user("join", user.id)
        Invite.objects.filter(code=invite.code).update(uses=F("uses") + 1)
        invite.refresh_from_db(fields=["uses"])
        do_add_member(invite.guild, user, temporary=invite.temporary)
        return serialize_invite(invite, member_count=member_count(invite.guild_id)), True
