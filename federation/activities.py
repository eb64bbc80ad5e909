"""Domain events to ActivityPub JSON, and back to the few fields we read.

Outgoing activities carry exactly the fields in FIELDS (docs/federation.md lists the same):
no IP address, device, client version, read state or timestamp beyond what a field needs.
`minimal()` enforces it on every activity before it is stored in the outbox.
"""

from __future__ import annotations

from typing import Any

from federation import actors
from united.ids import new_id

AS2_CONTEXT = actors.AS2

# type → the only top-level fields an activity of that type may carry.
FIELDS: dict[str, frozenset[str]] = {
    "Follow": frozenset({"@context", "id", "type", "actor", "object"}),
    "Accept": frozenset({"@context", "id", "type", "actor", "object"}),
    "Reject": frozenset({"@context", "id", "type", "actor", "object"}),
    "Undo": frozenset({"@context", "id", "type", "actor", "object"}),
}
# Embedded objects (the Follow inside Accept/Reject/Undo) carry these.
EMBEDDED_FIELDS = frozenset({"id", "type", "actor", "object"})


class MetadataLeak(ValueError):
    """An activity would carry a field our profile does not list."""


def minimal(activity: dict[str, Any]) -> dict[str, Any]:
    allowed = FIELDS.get(activity.get("type", ""))
    if allowed is None:
        raise MetadataLeak(f"activity type {activity.get('type')!r} is not in our profile")
    extra = set(activity) - allowed
    if extra:
        raise MetadataLeak(f"{activity['type']} would carry {sorted(extra)}")
    inner = activity.get("object")
    if isinstance(inner, dict) and set(inner) - EMBEDDED_FIELDS:
        raise MetadataLeak(f"embedded object would carry {sorted(set(inner) - EMBEDDED_FIELDS)}")
    return activity


def new_activity_uri() -> str:
    return f"{actors.base_url()}/activities/{new_id()}"


def follow(actor: str, target: str) -> dict[str, Any]:
    return minimal(
        {
            "@context": AS2_CONTEXT,
            "id": new_activity_uri(),
            "type": "Follow",
            "actor": actor,
            "object": target,
        }
    )


def embedded_follow(follow_uri: str, actor: str, target: str) -> dict[str, Any]:
    return {"id": follow_uri, "type": "Follow", "actor": actor, "object": target}


def _respond(kind: str, actor: str, follow_uri: str, follower: str) -> dict[str, Any]:
    return minimal(
        {
            "@context": AS2_CONTEXT,
            "id": new_activity_uri(),
            "type": kind,
            "actor": actor,
            "object": embedded_follow(follow_uri, follower, actor),
        }
    )


def accept(actor: str, follow_uri: str, follower: str) -> dict[str, Any]:
    return _respond("Accept", actor, follow_uri, follower)


def reject(actor: str, follow_uri: str, follower: str) -> dict[str, Any]:
    return _respond("Reject", actor, follow_uri, follower)


def undo_follow(actor: str, follow_uri: str, target: str) -> dict[str, Any]:
    return minimal(
        {
            "@context": AS2_CONTEXT,
            "id": new_activity_uri(),
            "type": "Undo",
            "actor": actor,
            "object": embedded_follow(follow_uri, actor, target),
        }
    )


def object_id(value: Any) -> str | None:
    """The id of an object given inline or by reference."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None
