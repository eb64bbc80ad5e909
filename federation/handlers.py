"""Activity type → app service. Runs in a job for each stored InboxItem (federation.tasks).

Processing is idempotent: an item is handled only while `received`, and its effects and its
new state commit together. Network work (fetching an actor we do not know yet) happens before
the transaction so no database lock is held across a remote request. Types we do not handle
are acknowledged and marked `ignored`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from federation import moves, remote, services
from federation.activities import object_id
from federation.models import Follow, FollowState, InboxItem, InboxState, RemoteActor

logger = logging.getLogger(__name__)

Outcome = tuple[str, str]  # (InboxState, detail)


def _follow(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome:
    user = services.local_user_for_uri(object_id(activity.get("object")) or "")
    if user is None:
        return InboxState.IGNORED, "the followed actor is not a local user"
    services.do_accept_follower(user, actor, item.activity_uri)
    return InboxState.PROCESSED, f"{actor.uri} follows {user.username}"


def _answer(state: str) -> Callable[[InboxItem, dict[str, Any], RemoteActor], Outcome]:
    def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome:
        follow_uri = object_id(activity.get("object")) or ""
        updated = Follow.objects.filter(
            activity_uri=follow_uri, remote_actor=actor, outgoing=True
        ).update(state=state)
        if not updated:
            return InboxState.IGNORED, "no pending follow of ours matches"
        return InboxState.PROCESSED, f"follow {state}"

    return handle


def _undo(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome:
    inner = activity.get("object")
    inner_type = inner.get("type") if isinstance(inner, dict) else None
    follow_uri = object_id(inner) or ""
    if inner_type not in {None, "Follow"}:
        return InboxState.IGNORED, f"Undo of {inner_type} is not handled"
    deleted, _ = Follow.objects.filter(
        activity_uri=follow_uri, remote_actor=actor, outgoing=False
    ).delete()
    if not deleted:
        return InboxState.IGNORED, "no follow matches the Undo"
    return InboxState.PROCESSED, "follow undone"


def _update(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome:
    if object_id(activity.get("object")) != actor.uri:
        return InboxState.IGNORED, "only actor updates are handled"
    return InboxState.PROCESSED, "actor refreshed"


def _delete(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome:
    if object_id(activity.get("object")) != actor.uri:
        return InboxState.IGNORED, "only actor deletions are handled"
    actor.delete()
    return InboxState.PROCESSED, "actor deleted"


HANDLERS: dict[str, Callable[[InboxItem, dict[str, Any], RemoteActor], Outcome]] = {
    "Follow": _follow,
    "Accept": _answer(FollowState.ACCEPTED),
    "Reject": _answer(FollowState.REJECTED),
    "Undo": _undo,
    "Update": _update,
    "Delete": _delete,
    "Move": moves.handle,
}


def guilds_handle(item: InboxItem, actor: RemoteActor) -> Outcome | None:
    """Federated guilds first (hosting side, then replicas), then the generic handlers."""
    from federation import devices, groupdms, hosting, mirror, publicchannel, reports

    for module in (groupdms, hosting, mirror, publicchannel, devices, reports):
        try:
            with transaction.atomic():
                outcome = module.handle(item, item.payload, actor)
        except (ValueError, KeyError, TypeError, LookupError) as exc:
            # A malformed activity from a peer: recorded, never retried, never a crash.
            return InboxState.FAILED, f"{type(exc).__name__}: {exc}"
        if outcome is not None:
            return outcome
    return None


def process(item_id: int) -> str:
    item = InboxItem.objects.get(id=item_id)
    if item.state != InboxState.RECEIVED:
        return item.state
    handler = HANDLERS.get(item.type)
    actor: RemoteActor | None = None
    if handler is not None:
        # Outside the transaction: may fetch (Update: always refetch the actor's document).
        try:
            actor = remote.fetch_actor(item.actor_uri, refresh=item.type == "Update")
        except remote.RemoteError:
            if item.type != "Update":
                raise
            actor = None  # the refetch failed: go on with what we have cached (below)
    if actor is None:
        try:
            actor = remote.fetch_actor(item.actor_uri, refresh=False)
        except remote.RemoteError:
            actor = None
    with transaction.atomic():
        locked = InboxItem.objects.filter(id=item_id, state=InboxState.RECEIVED)
        guild_outcome = guilds_handle(item, actor) if actor is not None else None
        if guild_outcome is not None:
            state, detail = guild_outcome
        elif handler is None or actor is None:
            state, detail = InboxState.IGNORED, f"{item.type} is not handled"
        else:
            state, detail = handler(item, item.payload, actor)
        locked.update(state=state, detail=detail[:500], processed_at=timezone.now())
    logger.info("inbox item %s (%s) %s: %s", item.id, item.type, state, detail)
    return state
