"""Who may sanction whom (see `moderation.services.sanctions` for the rules)."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from guilds.models import Guild, Member
from united import errors
from united.errors import Forbidden, NotFound


def unknown_user() -> NotFound:
    return NotFound("Unknown User", code=errors.UNKNOWN_USER)


@dataclass
class Standing:
    guild: Guild
    actor: User
    target: User
    member: Member | None


def access_target(
    actor: User,
    guild_id: int,
    user_id: int,
    flag: int,
    *,
    operator: bool = False,
    lock: bool = True,
) -> Standing:
    """Load the guild and the target, and check that `actor` may sanction them with `flag`."""
    from guilds.services.access import guild_context, missing_permissions, unknown_guild

    if operator:
        if not (actor.is_active and actor.is_superuser):
            raise missing_permissions("node operator")
        guilds = Guild.objects.select_for_update() if lock else Guild.objects
        guild = guilds.filter(id=guild_id).first()
        if guild is None:
            raise unknown_guild()
        ctx = None
    else:
        ctx = guild_context(actor, guild_id, lock=lock)
        ctx.require(flag)
        guild = ctx.guild
    target = User.objects.filter(id=user_id).first()
    if target is None:
        raise unknown_user()
    if target.id == guild.owner_id:
        raise Forbidden("The owner of a guild cannot be sanctioned")
    if target.id == actor.id:
        raise Forbidden("You cannot sanction yourself")
    member = Member.objects.filter(guild=guild, user=target).prefetch_related("roles").first()
    if member is not None and ctx is not None:
        ctx.require_above(ctx.member_rank(member), "member")
    return Standing(guild, actor, target, member)
