"""Who may say what: the origin rules an inbound activity must meet, as Mastodon applies them.

The HTTP signature proves which key signed a request; these rules tie what the activity
claims to that key, so one account cannot speak for another, even on its own server:

- the activity's `actor` and `id` live on the origin of the key (checked in `inbox.receive`);
- the key is owned by that actor: the cached key row's actor is the activity's actor, not
  another actor of the same host (`key_owner`);
- what an actor creates, changes, deletes or undoes lives on its own host: the object's id
  of a Create, Update, Delete or Undo (`object_origin`). An Announce shares something, which
  may live anywhere, as in Mastodon;
- an object it creates or updates is attributed to it: `attributedTo`, when present, names
  the actor and nobody else, and a Create of a post (Note and friends) must have it
  (`attribution`); an undone activity's own `actor` is the actor too.

Deliberately accepted beyond Mastodon, each documented in docs/federation.md: every actor of
a UNITED node publishes the node's key material, but under its own keyId, so the key owner
rule holds per actor (a node actor's key cannot sign for one of its users); and a guild's
Group announces activities of other actors (its members, on any node) because the hosting
node is authoritative for its guild — `mirror` applies them only to the replica of that
Group's guild.
"""

from __future__ import annotations

from typing import Any

from federation.activities import object_id
from federation.remote import origin

# Types Mastodon stores as posts: creating one without saying who wrote it is refused.
POST_TYPES = frozenset({"Note", "Article", "Page", "Question", "Event", "Audio", "Image", "Video"})
OWN_OBJECT_TYPES = frozenset({"Create", "Update", "Delete", "Undo"})


class OriginError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


def _ids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    found = [object_id(v) for v in values]
    return [v or "" for v in found]


def check_key_owner(actor: str, key_owner: str | None) -> None:
    if key_owner != actor:
        raise OriginError(
            "key_owner", f"the signing key belongs to {key_owner or 'nobody we know'}, not {actor}"
        )


def check_activity(activity: dict[str, Any], actor: str) -> None:
    """Raise OriginError when `activity` (already signed by `actor`) claims what is not its own."""
    kind = activity.get("type")
    inner = activity.get("object")
    home = origin(actor)
    if kind == "Move" and object_id(inner) != actor:
        # An account moves only itself (Mastodon's rule): nobody moves someone else.
        raise OriginError("move_object", f"Move of {object_id(inner)}, sent by {actor}")
    if kind in OWN_OBJECT_TYPES:
        target = object_id(inner)
        if target is not None and origin(target) != home:
            raise OriginError("object_origin", f"{kind} of {target}, which is not on {home}")
    if not isinstance(inner, dict):
        return
    if kind in {"Create", "Update"}:
        authors = _ids(inner["attributedTo"]) if "attributedTo" in inner else []
        if any(author != actor for author in authors):
            raise OriginError(
                "attribution", f"{inner.get('type')} attributed to {authors}, sent by {actor}"
            )
        if kind == "Create" and inner.get("type") in POST_TYPES and not authors:
            raise OriginError("attribution", f"a {inner.get('type')} with no attributedTo")
    if kind == "Undo" and "actor" in inner and object_id(inner["actor"]) != actor:
        raise OriginError("attribution", f"Undo of an activity by {object_id(inner['actor'])}")
