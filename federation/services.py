"""Federation actions of local users (follow / unfollow a remote actor)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from federation import activities, actors, delivery, policy, remote
from federation.models import Follow, FollowState, RemoteActor
from united.errors import Forbidden, Invalid, NotFound


def local_user_for_uri(uri: str) -> User | None:
    prefix = actors.user_uri("")
    if not uri.startswith(prefix):
        return None
    username = uri[len(prefix) :]
    if not username or "/" in username:
        return None
    return User.objects.filter(
        username__iexact=username, is_active=True, remote_identity__isnull=True
    ).first()


def serialize_follow(follow: Follow) -> dict[str, Any]:
    return {
        "id": str(follow.id),
        "acct": follow.remote_actor.acct,
        "actor": follow.remote_actor.uri,
        "state": follow.state,
        "outgoing": follow.outgoing,
    }


def access_remote_actor(acct: Any) -> RemoteActor:
    if not isinstance(acct, str) or "@" not in acct.strip().lstrip("@"):
        raise Invalid(errors={"acct": ["Expected user@domain."]})
    try:
        actor = remote.webfinger(acct)
    except remote.RemoteError as exc:
        if exc.reason == "refused":
            raise Forbidden("This node does not federate with that domain") from None
        if exc.reason in {"not_found", "status"}:
            raise NotFound("No such remote account") from None
        raise Invalid(f"Could not reach {acct}: {exc.reason}") from None
    if actor.blocked:
        raise Forbidden("That account is blocked on this node")
    return actor


def check_follow(user: User, acct: Any) -> Follow:
    actor = access_remote_actor(acct)
    if policy.refusal(actor.node.domain):
        raise Forbidden("This node does not federate with that domain")
    return do_follow(user, actor)


@transaction.atomic
def do_follow(user: User, actor: RemoteActor) -> Follow:
    existing = Follow.objects.filter(local_user=user, remote_actor=actor, outgoing=True).first()
    if existing is not None:
        return existing
    payload = activities.follow(actors.user_uri(user.username), actor.uri)
    follow = Follow.objects.create(
        local_user=user,
        remote_actor=actor,
        outgoing=True,
        state=FollowState.PENDING,
        activity_uri=payload["id"],
    )
    delivery.fan_out(payload, [actor])
    return follow


def check_unfollow(user: User, acct: Any) -> bool:
    return do_unfollow(user, access_remote_actor(acct))


@transaction.atomic
def do_unfollow(user: User, actor: RemoteActor) -> bool:
    follow = Follow.objects.filter(local_user=user, remote_actor=actor, outgoing=True).first()
    if follow is None:
        return False
    payload = activities.undo_follow(actors.user_uri(user.username), follow.activity_uri, actor.uri)
    follow.delete()
    delivery.fan_out(payload, [actor])
    return True


@transaction.atomic
def do_accept_follower(user: User, actor: RemoteActor, follow_uri: str) -> Follow:
    """A remote actor follows a local user: we accept (no manual approval yet) and answer."""
    follow, _ = Follow.objects.update_or_create(
        local_user=user,
        remote_actor=actor,
        outgoing=False,
        defaults={"state": FollowState.ACCEPTED, "activity_uri": follow_uri},
    )
    delivery.fan_out(
        activities.accept(actors.user_uri(user.username), follow_uri, actor.uri), [actor]
    )
    return follow
