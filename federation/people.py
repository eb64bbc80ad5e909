"""People of other nodes, as this node's guilds, messages and moderation see them.

A remote person gets a local account row that can never sign in (no usable password, no
session, no token), named `name@node` so every list and every message shows where they live,
and linked to their actor id by a RemoteUser row. Guild membership, roles, bans, timeouts,
message authorship and reactions then work on them with the same services as for locals.
Local users are `actors.user_uri(username)`; everything else goes through RemoteUser.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from accounts.models import User
from federation import actors, remote
from federation.models import RemoteUser


def is_remote(user: User) -> bool:
    return RemoteUser.objects.filter(user_id=user.id).exists()


def actor_uri(user: User) -> str:
    identity = RemoteUser.objects.filter(user_id=user.id).values_list("actor_uri", flat=True)
    found = identity.first()
    return found or actors.user_uri(user.username)


def _name_from(uri: str, hint: str = "") -> str:
    name = hint or urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1] or "someone"
    return f"{name[:100]}@{remote.domain_of(uri)}"


def user_for_actor(uri: str, username_hint: str = "") -> User:
    """The local row for an actor id: our own user, or a `name@node` account for a remote one."""
    if actors.is_local(uri):
        from federation.services import local_user_for_uri

        user = local_user_for_uri(uri)
        if user is None:
            raise LookupError(f"{uri} is not a user of this node")
        return user
    found = RemoteUser.objects.select_related("user").filter(actor_uri=uri).first()
    if found is not None:
        return found.user
    username = _name_from(uri, username_hint)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                username = f"{username[:120]}~{RemoteUser.objects.count() + 1}"
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            RemoteUser.objects.create(user=user, actor_uri=uri, domain=remote.domain_of(uri))
    except IntegrityError:
        return RemoteUser.objects.select_related("user").get(actor_uri=uri).user
    return user


def remote_user_ids(domain: str | None = None) -> list[int]:
    rows = RemoteUser.objects.all()
    if domain is not None:
        rows = rows.filter(domain=domain)
    return list(rows.values_list("user_id", flat=True))


def remove_node_members(domain: str) -> int:
    """A blocked node's people are no longer members of the guilds we host (their messages
    stay, under their `name@node`); replicas of its guilds stay, read-only, with a notice.
    Each membership is kept as a SuspendedMembership, so unblocking gives it back."""
    from federation.models import SuspendedMembership
    from guilds.models import Member
    from guilds.services.members import do_remove_member

    removed = 0
    rows = Member.objects.filter(
        user__remote_identity__domain=domain, guild__link__isnull=True
    ).select_related("guild", "user")
    for member in rows:
        SuspendedMembership.objects.update_or_create(
            guild=member.guild,
            user=member.user,
            defaults={
                "domain": domain,
                "nick": member.nick,
                "role_ids": sorted(member.roles.values_list("id", flat=True)),
                "temporary": member.temporary,
            },
        )
        removed += do_remove_member(member.guild, member.user, actor=None, audit=False)
    return removed


def restore_node_members(domain: str) -> int:
    """Unblocking a node: its people are members again where blocking removed them, with
    their roles and nickname, unless they were banned meanwhile. The GUILD_MEMBER_ADD events
    send each guild's state to the node (federation.hosting)."""
    from federation.models import SuspendedMembership
    from guilds.services.members import do_restore_member
    from moderation.services.sanctions import is_banned

    restored = 0
    for row in SuspendedMembership.objects.filter(domain=domain).select_related("guild", "user"):
        with transaction.atomic():
            if not is_banned(row.guild, row.user):
                restored += do_restore_member(
                    row.guild,
                    row.user,
                    role_ids=row.role_ids,
                    nick=row.nick,
                    temporary=row.temporary,
                )
            row.delete()
    return restored
