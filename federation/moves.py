"""Moving an account to another node: ActivityPub's `Move`, as Mastodon does it.

1. On the new node (B) the member adds an alias: the old handle is resolved over WebFinger
   and its actor id published as `alsoKnownAs` on the member's actor (`check_add_alias`).
2. On the old node (A) the member moves (`check_move`): after re-authenticating, A fetches
   the new actor afresh and refuses unless its `alsoKnownAs` lists the old actor; then the
   old account is marked moved (read-only: accounts.services.moves), its memberships in the
   guilds A hosts pass to the new actor's `name@node` account, and a signed `Move` (actor =
   object = old, target = new) goes to every node that knows the account: the hosts of the
   guilds it is in, its followers' nodes, and the new account's node.
3. A receiving node checks the Move in the inbox request (`admit`), before any job runs, so
   a refusal is a clear 4xx to the sender: the signature and the origin rules as for every
   activity (the actor moves only itself: `origin.check_activity`), the target fetched afresh
   must list the actor in `alsoKnownAs`, and a second move of the account to elsewhere within
   the cool-down (30 days) is refused. The job (`handle`) then moves the person's
   memberships in the guilds this node hosts from the old account to the new one (roles,
   nickname and join date kept, merged when the new one is already a member), bans follow
   the person, and local followers of the old actor follow the new one. Replays change
   nothing: the memberships are already moved, and the cool-down row names this target.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import moves as account_moves
from federation import activities, actors, delivery, remote, services
from federation.activities import object_id
from federation.models import (
    AccountMove,
    Follow,
    GuildLink,
    InboxItem,
    InboxState,
    RemoteActor,
    RemoteUser,
)
from federation.people import user_for_actor
from guilds.models import Guild
from united.errors import APIError, Invalid

logger = logging.getLogger(__name__)
Outcome = tuple[str, str]

COOLDOWN = account_moves.MOVE_COOLDOWN
# How a refused inbound Move is answered (reason → HTTP status).
REFUSAL_STATUS = {
    "move_invalid": 400,
    "move_alias": 422,
    "move_cooldown": 409,
    "move_refused": 403,
    "move_unreachable": 503,
}


# Fetch failures worth the sender's retry; anything else about the target is a bad Move.
TRANSIENT = frozenset({"dns", "timeout", "connect", "status"})


class MoveRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        self.status = REFUSAL_STATUS[reason]
        super().__init__(f"{reason}: {detail}")


def aliases_of(document: dict[str, Any]) -> list[str]:
    value = document.get("alsoKnownAs")
    values = value if isinstance(value, list) else [value]
    return [v for v in (object_id(x) for x in values) if v]


# --- on the new node: the alias ------------------------------------------------------------


def _elsewhere(handle: Any) -> Any:
    """A handle of another node: moving within one node is renaming, which this is not."""
    if isinstance(handle, str):
        domain = handle.strip().removeprefix("acct:").rpartition("@")[2].lower()
        if domain == settings.FEDERATION_DOMAIN.lower():
            raise Invalid(errors={"handle": ["That is an account of this node."]})
    return handle


def check_add_alias(user: User, handle: Any) -> RemoteActor:
    """`handle` (name@node) is where this member is moving from: publish it as an alias."""
    actor = services.access_remote_actor(_elsewhere(handle))
    if actor.kind != "Person":
        raise Invalid(errors={"handle": ["That is not a person's account."]})
    account_moves.do_add_alias(user, actor.uri)
    return actor


def alias_rows(user: User) -> list[dict[str, str]]:
    """The member's aliases with a handle to show, from what we cached of each actor."""
    cached = {a.uri: a for a in RemoteActor.objects.filter(uri__in=account_moves.aliases(user))}
    rows = []
    for uri in account_moves.aliases(user):
        found = cached.get(uri)
        rows.append({"uri": uri, "handle": found.acct if found else uri})
    return rows


# --- on the old node: the move -------------------------------------------------------------


def check_move(
    request: HttpRequest | None,
    user: User,
    handle: Any,
    *,
    password: Any,
    code: Any = None,
    passkey_state: Any = None,
    passkey_credential: Any = None,
) -> RemoteActor:
    account_moves.check_reauthenticate(
        request,
        user,
        password=password,
        code=code,
        passkey_state=passkey_state,
        passkey_credential=passkey_credential,
    )
    left = account_moves.cooldown_left(user)
    if left is not None:
        days = left.days + 1
        raise APIError(
            f"This account moved less than 30 days ago; it can move again in {days} days.",
            status=409,
            code=50035,
        )
    owned = list(Guild.objects.filter(owner=user, link__isnull=True).values_list("name", flat=True))
    if owned:
        raise Invalid(
            "Transfer or delete the guilds you own first: " + ", ".join(owned[:5]),
            errors={"handle": ["You own guilds on this node."]},
        )
    found = services.access_remote_actor(_elsewhere(handle))
    try:
        # Fresh: the alias was perhaps added a moment ago, after we cached the actor.
        target = remote.fetch_actor(found.uri, refresh=True)
    except remote.RemoteError as exc:
        raise Invalid(errors={"handle": [f"Could not reach that account: {exc.reason}."]}) from None
    old = actors.user_uri(user.username)
    if target.kind != "Person":
        raise Invalid(errors={"handle": ["That is not a person's account."]})
    if old not in aliases_of(target.document):
        raise Invalid(
            f"{target.acct} does not list this account as an alias.",
            errors={
                "handle": [
                    f"Sign in as {target.acct} first and add {user.username}@"
                    f"{settings.FEDERATION_DOMAIN} under Settings → Account → "
                    "Moving from another account."
                ]
            },
        )
    if target.document.get("movedTo"):
        raise Invalid(errors={"handle": ["That account has itself moved elsewhere."]})
    do_move(user, target)
    return target


def _audience(user: User, target: RemoteActor) -> list[RemoteActor]:
    """Every node that knows the account: its followers', the hosts of the guilds it is in
    (replicas here), and the new account's."""
    followers = RemoteActor.objects.filter(
        follows__local_user=user, follows__outgoing=False
    ).select_related("node")
    groups = GuildLink.objects.filter(guild__members__user=user).values_list("group_uri", flat=True)
    hosts = RemoteActor.objects.filter(uri__in=list(groups)).select_related("node")
    return [*followers, *hosts, target]


@transaction.atomic
def do_move(user: User, target: RemoteActor) -> int:
    """Mark the account moved, pass its memberships here to the new account, send the Move.
    Returns how many memberships of guilds hosted here moved."""
    old = actors.user_uri(user.username)
    recipients = _audience(user, target)
    account_moves.do_mark_moved(user, target.uri, target.acct)
    AccountMove.objects.update_or_create(
        old_uri=old, defaults={"new_uri": target.uri, "moved_at": timezone.now()}
    )
    moved = transfer(user, user_for_actor(target.uri, target.username))
    payload = activities.move(old, target.uri)
    AccountMove.objects.filter(old_uri=old).update(activity_uri=payload["id"])
    delivery.fan_out(payload, recipients)
    logger.info("%s moved to %s (%s memberships here)", old, target.uri, moved)
    return moved


def transfer(old: User, new: User) -> int:
    """The person's standing in the guilds this node hosts passes from `old` to `new`:
    memberships (guilds.services.members.do_move_member) and bans."""
    from guilds.services.members import do_move_member
    from moderation.models import GuildBan
    from moderation.services.sanctions import do_ban, is_banned

    moved = 0
    for guild in Guild.objects.filter(members__user=old, link__isnull=True).distinct():
        moved += do_move_member(guild, old, new)
    bans = GuildBan.objects.filter(user=old, guild__link__isnull=True).select_related("guild")
    for ban in bans:
        if is_banned(ban.guild, new) or ban.guild.owner_id == new.id:
            continue
        # Banning the person, not the account: a new account does not lift a ban.
        do_ban(ban.guild, None, new, "Moved from an account banned here")
        if ban.expires_at is not None:
            GuildBan.objects.filter(guild=ban.guild, user=new).update(expires_at=ban.expires_at)
    return moved


# --- on a receiving node -------------------------------------------------------------------


def _verify(activity: dict[str, Any]) -> str:
    """The target of an inbound Move, or MoveRefused. The signature and the origin rules
    (the actor moves only itself) were checked by the inbox already."""
    old = object_id(activity.get("actor")) or ""
    if object_id(activity.get("object")) != old:
        raise MoveRefused("move_invalid", "a Move's object must be its actor")
    target = activity.get("target")
    target = object_id(target)
    if not target or not target.startswith(("http://", "https://")) or target == old:
        raise MoveRefused("move_invalid", "a Move needs a target: the new actor's id")
    earlier = AccountMove.objects.filter(old_uri=old).first()
    if (
        earlier is not None
        and earlier.new_uri != target
        and timezone.now() - earlier.moved_at < COOLDOWN
    ):
        raise MoveRefused(
            "move_cooldown",
            f"{old} moved to {earlier.new_uri} on {earlier.moved_at:%Y-%m-%d}; "
            "another move within 30 days is refused",
        )
    if actors.is_local(target):
        user = services.local_user_for_uri(target)
        if user is None:
            raise MoveRefused("move_invalid", f"{target} is no account of this node")
        known = account_moves.aliases(user)
    else:
        try:
            document = remote.fetch_actor(target, refresh=True).document
        except remote.RemoteError as exc:
            if exc.reason == "refused":
                raise MoveRefused("move_refused", str(exc)) from None
            if exc.reason in TRANSIENT:
                raise MoveRefused("move_unreachable", f"cannot fetch {target}: {exc}") from None
            # A target no node can serve (a private address, a bad URL, not an actor) is the
            # sender's mistake, not a reason to try again.
            raise MoveRefused("move_invalid", f"{target} is no actor: {exc}") from None
        known = aliases_of(document)
    if old not in known:
        raise MoveRefused("move_alias", f"{target} does not list {old} in alsoKnownAs")
    return target


def admit(item: InboxItem) -> None:
    """In the inbox request (outside the inbox's slot: it may fetch the target): accept a
    stored Move for processing, or mark it failed and raise MoveRefused for the answer."""
    from jobs.services import enqueue

    try:
        _verify(item.payload)
    except MoveRefused as exc:
        InboxItem.objects.filter(id=item.id).update(
            state=InboxState.FAILED, detail=f"{exc.reason}: {exc.detail}"[:500]
        )
        raise
    enqueue("federation.process_inbox", {"item_id": item.id})


def refusal_of(item: InboxItem) -> MoveRefused | None:
    """A replayed Move that was refused the first time is refused again, the same way."""
    if item.type != "Move" or item.state != InboxState.FAILED:
        return None
    reason, _, detail = item.detail.partition(": ")
    return MoveRefused(reason if reason in REFUSAL_STATUS else "move_invalid", detail)


def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome:
    """The job: apply a Move `admit` accepted."""
    old = actor.uri
    target = object_id(activity.get("target")) or ""
    earlier = AccountMove.objects.select_for_update().filter(old_uri=old).first()
    if earlier is not None and earlier.new_uri != target:
        if timezone.now() - earlier.moved_at < COOLDOWN:
            return InboxState.FAILED, "move_cooldown: moved elsewhere within 30 days"
    if earlier is None or earlier.new_uri != target:
        AccountMove.objects.update_or_create(
            old_uri=old,
            defaults={
                "new_uri": target,
                "activity_uri": item.activity_uri,
                "moved_at": timezone.now(),
            },
        )
    # What the old actor says of itself now (its Move is signed by it, as its document is).
    RemoteActor.objects.filter(id=actor.id).update(document={**actor.document, "movedTo": target})
    moved = 0
    identity = RemoteUser.objects.select_related("user").filter(actor_uri=old).first()
    new_actor = RemoteActor.objects.filter(uri=target).first()
    if identity is not None:
        hint = new_actor.username if new_actor is not None else ""
        moved = transfer(identity.user, user_for_actor(target, hint))
    followed = 0
    if new_actor is not None:
        for follow in Follow.objects.filter(remote_actor=actor, outgoing=True).select_related(
            "local_user"
        ):
            # Mastodon's redirect: who followed the old account follows the new one.
            services.do_follow(follow.local_user, new_actor)
            services.do_unfollow(follow.local_user, actor)
            followed += 1
    return InboxState.PROCESSED, f"{old} moved to {target}: {moved} memberships, {followed} follows"
