"""Membership: join, leave, nicknames, member roles, the member list."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import serialize_user
from guilds import permissions as perms
from guilds.models import Guild, Member, Role, member_sort_name
from guilds.serialize import serialize_member
from guilds.services import fields
from guilds.services.access import (
    GuildContext,
    guild_context,
    member_role_ids,
    unknown_member,
    unknown_role,
)
from guilds.services.fields import FieldErrors, reason_of, snowflake
from united import events, names
from united.audit import Audit, AuditLogEvent
from united.errors import Invalid

MEMBER_PAGE_MAX = 1000
# A member holding any of these is a moderator: nobody else in the guild may pass for them.
MODERATOR_PERMISSIONS = (
    perms.P.ADMINISTRATOR
    | perms.P.MANAGE_GUILD
    | perms.P.KICK_MEMBERS
    | perms.P.BAN_MEMBERS
    | perms.P.MODERATE_MEMBERS
    | perms.P.MANAGE_ROLES
)


def _member_event(member: Member, role_ids: Iterable[int] | None = None) -> dict[str, Any]:
    return {**serialize_member(member, role_ids), "guild_id": str(member.guild_id)}


@transaction.atomic
def do_add_member(guild: Guild, user: User, *, temporary: bool = False) -> tuple[Member, bool]:
    """Add `user` to `guild`; (member, created). Joining twice changes nothing."""
    existing = Member.objects.filter(guild=guild, user=user).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            member = Member.objects.create(
                guild=guild,
                user=user,
                temporary=temporary,
                sort_name=member_sort_name(None, user),
            )
    except IntegrityError:
        return Member.objects.get(guild=guild, user=user), False
    Guild.objects.filter(id=guild.id).update(last_activity_at=timezone.now())
    events.broadcast(events.guild_group(guild.id), "GUILD_MEMBER_ADD", _member_event(member, ()))
    from guilds.services.guilds import guild_payload

    ctx = guild_context(user, guild.id)
    events.broadcast(events.user_group(user.id), "GUILD_CREATE", guild_payload(ctx))
    return member, True


def do_restore_member(
    guild: Guild, user: User, *, role_ids: Iterable[int], nick: str | None, temporary: bool
) -> bool:
    """A membership that ended without the member's doing (the operator blocked their node)
    comes back as it was, with its roles and nickname, in one GUILD_MEMBER_ADD."""
    with transaction.atomic():
        if Member.objects.filter(guild=guild, user=user).exists():
            return False
        member = Member.objects.create(
            guild=guild,
            user=user,
            nick=nick,
            temporary=temporary,
            sort_name=member_sort_name(nick, user),
        )
        roles = list(Role.objects.filter(guild=guild, id__in=list(role_ids)).exclude(id=guild.id))
        member.roles.set(roles)
        events.broadcast(
            events.guild_group(guild.id),
            "GUILD_MEMBER_ADD",
            _member_event(member, [r.id for r in roles]),
        )
    from guilds.services.guilds import guild_payload

    ctx = guild_context(user, guild.id)
    events.broadcast(events.user_group(user.id), "GUILD_CREATE", guild_payload(ctx))
    return True


def do_move_member(guild: Guild, old: User, new: User) -> bool:
    """A person moved their account to another node (docs/accounts.md "Moving"): the
    membership of `old` becomes `new`'s with its roles, nickname and join date. When `new` is
    already a member the two merge (roles together, the earlier join date, `new`'s nickname
    first). `old` then leaves without a kick in the audit log. False when `old` is no member."""
    with transaction.atomic():
        before = Member.objects.select_for_update().filter(guild=guild, user=old).first()
        if before is None:
            return False
        role_ids = set(member_role_ids(before)) - {guild.id}
        member = Member.objects.select_for_update().filter(guild=guild, user=new).first()
        if member is None:
            member = Member.objects.create(
                guild=guild,
                user=new,
                nick=before.nick,
                joined_at=before.joined_at,
                temporary=before.temporary,
                sort_name=member_sort_name(before.nick, new),
            )
            member.roles.set(role_ids)
            events.broadcast(
                events.guild_group(guild.id),
                "GUILD_MEMBER_ADD",
                _member_event(member, sorted(role_ids)),
            )
            added = True
        else:
            member.nick = member.nick or before.nick
            member.joined_at = min(member.joined_at, before.joined_at)
            member.temporary = member.temporary and before.temporary
            member.sort_name = member_sort_name(member.nick, new)
            member.save(update_fields=["nick", "joined_at", "temporary", "sort_name"])
            member.roles.add(*role_ids)
            events.broadcast(
                events.guild_group(guild.id),
                "GUILD_MEMBER_UPDATE",
                _member_event(member, member_role_ids(member)),
            )
            added = False
        do_remove_member(guild, old, actor=None, audit=False)
    if added:
        from guilds.services.guilds import guild_payload

        ctx = guild_context(new, guild.id)
        events.broadcast(events.user_group(new.id), "GUILD_CREATE", guild_payload(ctx))
    return True


@transaction.atomic
def do_remove_member(
    guild: Guild, user: User, *, actor: User | None, audit: bool = True, reason: str = ""
) -> bool:
    deleted, _ = Member.objects.filter(guild_id=guild.id, user_id=user.id).delete()
    if not deleted:
        return False
    kick = None
    if audit:
        kick = Audit(guild.id, AuditLogEvent.MEMBER_KICK, user.id, reason=reason_of(reason))
    events.broadcast(
        events.guild_group(guild.id),
        "GUILD_MEMBER_REMOVE",
        {"guild_id": str(guild.id), "user": serialize_user(user)},
        actor=actor,
        audit=kick,
    )
    events.broadcast(
        events.user_group(user.id), "GUILD_DELETE", {"id": str(guild.id), "guild_id": str(guild.id)}
    )
    return True


def do_prune_temporary_member(guild: Guild, user: User) -> bool:
    """A temporary member who has not been given a role is removed (Discord's temporary
    membership); giving a role clears `temporary` (do_set_member_roles)."""
    member = Member.objects.filter(guild=guild, user=user, temporary=True).first()
    if member is None or member_role_ids(member):
        return False
    return do_remove_member(guild, user, actor=None, audit=False)


def do_end_temporary_memberships(user: User) -> int:
    """The member's last session ended (registered in accounts.hooks by GuildsConfig): every
    guild they joined through a temporary invite, and hold no role in, lets them go."""
    guilds = Guild.objects.filter(members__user=user, members__temporary=True)
    return sum(do_prune_temporary_member(guild, user) for guild in guilds)


def guild_guarded_names(
    guild: Guild, *, exclude_user_id: int | None = None
) -> list[names.Protected]:
    """The owner's and the moderators' names (username, display name, nickname here)."""
    from django.db.models import Q

    moderator_roles = [
        role.id for role in guild.roles.all() if int(role.permissions) & MODERATOR_PERMISSIONS
    ]
    members = (
        # exclude(user_id=None) excludes no one, which is what no exclude_user_id means.
        Member.objects.filter(guild=guild)  # type: ignore[misc]
        .filter(Q(user_id=guild.owner_id) | Q(roles__in=moderator_roles))
        .exclude(user_id=exclude_user_id)
        .select_related("user")
        .distinct()
    )
    found: list[names.Protected] = []
    for member in members:
        whose = (
            "the guild owner's name" if member.user_id == guild.owner_id else ("a moderator's name")
        )
        for name in (member.user.username, member.user.display_name, member.nick):
            if name:
                found.append(names.Protected(name, whose))
    return found


def guarded_names_for(user: User) -> list[names.Protected]:
    """accounts.hooks provider: the owners and moderators of every guild `user` is in, so a
    display name cannot pass for them either."""
    found: list[names.Protected] = []
    for guild in Guild.objects.filter(members__user=user):
        found += guild_guarded_names(guild, exclude_user_id=user.id)
    return found


def refuse_look_alike_nick(guild: Guild, target: Member, nick: str) -> None:
    """A nickname must not pass for the owner, a moderator or an operator. Reserved words
    (`admin`, `moderator` …) are refused too, except for who really is one."""
    from accounts.services.profile import operator_names

    protected = guild_guarded_names(guild, exclude_user_id=target.user_id)
    protected += operator_names(exclude=target.user)
    staff = target.user.is_staff or target.user.is_superuser
    moderator = target.user_id == guild.owner_id or any(
        int(role.permissions) & MODERATOR_PERMISSIONS for role in target.roles.all()
    )
    if not (staff or moderator):
        protected += names.reserved()
    names.refuse_look_alike(nick, "nick", protected)


def _target(ctx: GuildContext, user_id: int) -> Member:
    member = (
        Member.objects.select_related("user")
        .prefetch_related("roles")
        .filter(guild=ctx.guild, user_id=user_id)
        .first()
    )
    if member is None:
        raise unknown_member()
    return member


def get_member(user: User, guild_id: int, user_id: int) -> dict[str, Any]:
    ctx = guild_context(user, guild_id)
    return serialize_member(_target(ctx, user_id))


def list_members(
    user: User, guild_id: int, *, limit: int = 1, after: int = 0
) -> list[dict[str, Any]]:
    """Discord's GET /guilds/{id}/members: ordered by user id, paged with `after`."""
    ctx = guild_context(user, guild_id)
    if not 1 <= limit <= MEMBER_PAGE_MAX:
        raise Invalid(errors={"limit": [f"Between 1 and {MEMBER_PAGE_MAX}."]})
    members = (
        Member.objects.filter(guild=ctx.guild, user_id__gt=after)
        .select_related("user")
        .prefetch_related("roles")
        .order_by("user_id")[:limit]
    )
    return [serialize_member(m) for m in members]


def check_update_member(
    user: User, guild_id: int, user_id: int, changes: dict[str, Any], *, reason: str = ""
) -> Member:
    """The guild's fields of Discord's PATCH /guilds/{id}/members/{uid}: `nick` and the full
    `roles` list; the member as it is now. Its door is moderation's
    (`moderation.services.timeouts.check_update_member`), which adds the timeout field
    (`communication_disabled_until`) in the same transaction."""
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        target = _target(ctx, user_id)
        errors = FieldErrors()
        nick = None
        if "nick" in changes:
            nick = changes["nick"]
            if nick is not None:
                nick = fields.name(errors, "nick", nick, min_length=0, max_length=32) or None
            if target.user_id == user.id and not ctx.is_owner:
                ctx.require(perms.P.CHANGE_NICKNAME)
            elif target.user_id != user.id:
                ctx.require(perms.P.MANAGE_NICKNAMES)
                ctx.require_above(ctx.member_rank(target), "member")
            if nick and not errors:
                refuse_look_alike_nick(ctx.guild, target, nick)
        wanted: set[int] | None = None
        if "roles" in changes:
            if not isinstance(changes["roles"], list):
                errors.add("roles", "Must be a list of role ids.")
            else:
                wanted = {
                    snowflake(errors, "roles", r, nullable=False) or 0 for r in changes["roles"]
                }
        errors.raise_if_any()
        if "nick" in changes:
            do_set_nick(ctx, target, nick, reason=reason)
        if wanted is not None:
            current = member_role_ids(target)
            do_change_member_roles(
                ctx, target, add=wanted - current, remove=current - wanted, reason=reason
            )
        return _target(ctx, user_id)


def do_set_nick(ctx: GuildContext, target: Member, nick: str | None, *, reason: str = "") -> None:
    if target.nick == nick:
        return
    change = {"key": "nick", "old_value": target.nick, "new_value": nick}
    target.nick = nick
    target.sort_name = member_sort_name(nick, target.user)
    target.save(update_fields=["nick", "sort_name"])
    events.broadcast(
        events.guild_group(ctx.guild.id),
        "GUILD_MEMBER_UPDATE",
        _member_event(target, member_role_ids(target)),
        actor=ctx.user,
        audit=Audit(
            ctx.guild.id, AuditLogEvent.MEMBER_UPDATE, target.user_id, [change], reason_of(reason)
        ),
    )


def check_member_role(
    user: User, guild_id: int, user_id: int, role_id: int, *, add: bool, reason: str = ""
) -> None:
    """PUT/DELETE /guilds/{id}/members/{uid}/roles/{rid}."""
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        target = _target(ctx, user_id)
        if role_id not in ctx.roles:
            raise unknown_role()
        current = member_role_ids(target)
        add_ids = {role_id} - current if add else set()
        remove_ids = {role_id} & current if not add else set()
        do_change_member_roles(
            ctx, target, add=add_ids, remove=remove_ids, reason=reason, checked={role_id}
        )


def do_change_member_roles(
    ctx: GuildContext,
    target: Member,
    *,
    add: AbstractSet[int],
    remove: AbstractSet[int],
    reason: str = "",
    checked: set[int] | None = None,
) -> None:
    """Needs MANAGE_ROLES, and every role given or taken must sit below the actor's highest
    role; @everyone is never assigned."""
    touched = add | remove | (checked or set())
    if not touched:
        return
    ctx.require(perms.P.MANAGE_ROLES)
    for role_id in touched:
        role = ctx.roles.get(role_id)
        if role is None or role.is_everyone:
            raise unknown_role()
        ctx.require_above(role.position)
    if not add and not remove:
        return
    target.roles.add(*add)
    target.roles.remove(*remove)
    if add and target.temporary:
        target.temporary = False
        target.save(update_fields=["temporary"])
    changes = []
    for key, ids in (("$add", add), ("$remove", remove)):
        if ids:
            changes.append(
                {
                    "key": key,
                    "new_value": [{"id": str(i), "name": ctx.roles[i].name} for i in sorted(ids)],
                }
            )
    events.broadcast(
        events.guild_group(ctx.guild.id),
        "GUILD_MEMBER_UPDATE",
        _member_event(target, member_role_ids(target)),
        actor=ctx.user,
        audit=Audit(
            ctx.guild.id,
            AuditLogEvent.MEMBER_ROLE_UPDATE,
            target.user_id,
            changes,
            reason_of(reason),
        ),
    )


def member_card(user: User, guild_id: int, user_id: int) -> dict[str, Any]:
    """What a member's profile card shows the viewer `user`: the member, their roles (highest
    first), the guilds both belong to, and the roles the viewer may give or take (MANAGE_ROLES,
    strictly below the viewer's highest role: the same rule `do_change_member_roles` applies).
    Someone who is not a member of the guild is "Unknown Member", as for the API."""
    ctx = guild_context(user, guild_id)
    target = _target(ctx, user_id)
    held = member_role_ids(target)
    roles = sorted(
        (ctx.roles[r] for r in held if r in ctx.roles and not ctx.roles[r].is_everyone),
        key=lambda r: -r.position,
    )
    assignable: list[dict[str, Any]] = []
    if perms.has(ctx.base, perms.P.MANAGE_ROLES):
        assignable = [
            {"role": role, "held": role.id in held}
            for role in sorted(ctx.roles.values(), key=lambda r: -r.position)
            if not role.is_everyone and role.position < ctx.top_position
        ]
    mutual = (
        Guild.objects.filter(members__user_id=user.id)
        .filter(members__user_id=target.user_id)
        .exclude(id=guild_id)
        .order_by("name")
    )
    return {
        "ctx": ctx,
        "member": target,
        "user": target.user,
        "roles": roles,
        "assignable": assignable,
        "mutual_guilds": list(mutual.values("id", "name")[:20]),
        "rank": ctx.member_rank(target),
    }
