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

_BASE = frozenset({"@context", "id", "type", "actor", "object"})
# type → the only top-level fields an activity of that type may carry (at most these;
# optional ones are left out when empty).
FIELDS: dict[str, frozenset[str]] = {
    "Follow": _BASE | {"inviteCode"},
    "Accept": _BASE,
    "Reject": _BASE | {"content"},
    "Undo": _BASE | {"to"},
    "Create": _BASE | {"to", "cc"},
    "Update": _BASE | {"to", "cc"},
    "Delete": _BASE | {"to"},
    "EmojiReact": _BASE | {"content", "to"},
    "Announce": _BASE | {"to"},
    "Flag": _BASE | {"content"},
    "Block": _BASE | {"to"},
    "Leave": _BASE | {"to"},
    # An account moved (federation.moves): actor and object the old actor, target the new.
    "Move": _BASE | {"target"},
    "DeviceMessage": frozenset({"@context", "id", "type", "actor", "to", "devices", "payload"}),
}
# Embedded objects (the Follow inside Accept/Reject/Undo) carry these.
EMBEDDED_FIELDS = frozenset({"id", "type", "actor", "object", "content"})
# A message (Note) of a federated guild or of an announcement channel, and its tombstone.
NOTE_FIELDS = frozenset(
    {
        "id",
        "type",
        "attributedTo",
        "audience",
        "channelId",
        "messageId",
        "hlc",
        "content",
        "mediaType",
        "source",
        "inReplyTo",
        "expiresAt",
        "edited",
        "pinned",
        "reactions",
        "to",
        "cc",
        "published",
        "url",
        "attachment",
        "sensitive",
        "summary",
        "tag",
        "replies",
        "updated",
        # A webhook's post (no author account): its id and persona, and Discord-shaped embeds
        # that bots and webhooks send (docs/bots.md).
        "webhook",
        "embeds",
    }
)
STATE_FIELDS = frozenset({"id", "type", "revision", "guild", "channels", "roles", "members"})
# A member's voice state in a hosted guild (federation.voice): no name, no address, no level.
VOICE_STATE_FIELDS = frozenset(
    {"type", "actor", "channelId", "sessionId", "slot", "mute", "deaf", "selfMute", "selfDeaf"}
    | {"suppress"}
)
# A thread a member starts on their node (federation.guildwire.thread_doc): ids and its name.
THREAD_FIELDS = frozenset({"id", "type", "audience", "channelId", "threadId", "messageId", "name"})
# A federated group DM's membership (federation.groupdms): ids, a version, no message content.
GROUP_DM_FIELDS = frozenset(
    {"id", "type", "channelId", "key", "revision", "name", "owner", "members"}
)
EMBEDDED_BY_TYPE: dict[str, frozenset[str]] = {
    "GroupDM": GROUP_DM_FIELDS,
    "Note": NOTE_FIELDS,
    "VoiceState": VOICE_STATE_FIELDS,
    "Tombstone": frozenset({"id", "type", "messageId", "channelId", "hlc"}),
    "GuildState": STATE_FIELDS,
    "Thread": THREAD_FIELDS,
}


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
    if isinstance(inner, dict):
        if activity["type"] == "Announce" or (
            activity["type"] == "Undo" and inner.get("type") != "Follow"
        ):
            minimal(inner)  # an activity inside an activity: the same rules
            return activity
        allowed_inner = EMBEDDED_BY_TYPE.get(inner.get("type", ""), EMBEDDED_FIELDS)
        if set(inner) - allowed_inner:
            raise MetadataLeak(f"embedded object would carry {sorted(set(inner) - allowed_inner)}")
    return activity


def new_activity_uri() -> str:
    return f"{actors.base_url()}/activities/{new_id()}"


def follow(actor: str, target: str, invite_code: str | None = None) -> dict[str, Any]:
    activity = {
        "@context": AS2_CONTEXT,
        "id": new_activity_uri(),
        "type": "Follow",
        "actor": actor,
        "object": target,
    }
    if invite_code:
        # An AS2 @context may be a list; the dict was inferred from its first keys.
        activity["@context"] = [AS2_CONTEXT, actors.GUILD_CONTEXT]  # type: ignore[assignment]
        activity["inviteCode"] = invite_code
    return minimal(activity)


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


def reject(actor: str, follow_uri: str, follower: str, reason: str = "") -> dict[str, Any]:
    activity = _respond("Reject", actor, follow_uri, follower)
    if reason:
        activity["content"] = reason[:300]
    return minimal(activity)


def reject_activity(actor: str, refused: dict[str, Any], reason: str) -> dict[str, Any]:
    """The host refuses a member's activity (a message without SEND_MESSAGES, a banned
    member…): the refused activity is named, with the reason, so the sender can show it."""
    inner = {
        "id": refused["id"],
        "type": refused["type"],
        "actor": object_id(refused.get("actor")) or "",
        "object": object_id(refused.get("object")) or "",
    }
    return minimal(
        {
            "@context": AS2_CONTEXT,
            "id": new_activity_uri(),
            "type": "Reject",
            "actor": actor,
            "object": inner,
            "content": reason[:300],
        }
    )


def build(kind: str, actor: str, obj: Any, **extra: Any) -> dict[str, Any]:
    """Any other activity of our profile: `extra` are its optional top-level fields."""
    activity: dict[str, Any] = {
        "@context": [AS2_CONTEXT, actors.GUILD_CONTEXT],
        "id": new_activity_uri(),
        "type": kind,
        "actor": actor,
        "object": obj,
    }
    activity.update({k: v for k, v in extra.items() if v not in (None, "", [])})
    return minimal(activity)


def move(old: str, new: str) -> dict[str, Any]:
    """`old` moved to `new` (Mastodon's Move: the actor moves itself)."""
    return minimal(
        {
            "@context": AS2_CONTEXT,
            "id": new_activity_uri(),
            "type": "Move",
            "actor": old,
            "object": old,
            "target": new,
        }
    )


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
