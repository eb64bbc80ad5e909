"""ActivityPub actors this node serves: users (Person), the node itself (Application), and any
kind another app registers (guilds as Group, next issue) with `register_actor_kind`.

Every actor speaks with the node's keys (node keys are the identity, docs/federation.md):
`publicKey` carries the RSA key under `<actor>#main-key` for Mastodon-compatible peers and
`assertionMethod` lists the Ed25519 keys as Multikeys (FEP-521a), one id per key so a rotated
key stays valid for its overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from federation import keys
from federation.models import KeyAlgorithm

AS2 = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS2}#Public"
SECURITY = "https://w3id.org/security/v1"
UNITED_NS = "https://united.chat/ns#"
# Our extension terms, inlined so no peer has to fetch a context document.
UNITED_CONTEXT: dict[str, Any] = {
    "united": UNITED_NS,
    "Multikey": "https://w3id.org/security#Multikey",
    "assertionMethod": {"@id": "https://w3id.org/security#assertionMethod", "@type": "@id"},
    "publicKeyMultibase": "https://w3id.org/security#publicKeyMultibase",
    "controller": {"@id": "https://w3id.org/security#controller", "@type": "@id"},
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "protocolVersion": "united:protocolVersion",
    # Moving accounts, in Mastodon's terms (federation.moves).
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
}
# The terms of federated guilds' activities (kept apart from the actor context above).
GUILD_CONTEXT: dict[str, Any] = {
    "united": UNITED_NS,
    "inviteCode": "united:inviteCode",
    "hlc": "united:hlc",
    "messageId": "united:messageId",
    "channelId": "united:channelId",
    "expiresAt": "united:expiresAt",
    "edited": "united:edited",
    "pinned": "united:pinned",
    "reactions": "united:reactions",
    "revision": "united:revision",
    "GuildState": "united:GuildState",
    "EmojiReact": "litepub:EmojiReact",
    "litepub": "http://litepub.social/ns#",
}
# A federated group DM's membership state (federation.groupdms).
GROUP_DM_CONTEXT: dict[str, Any] = {
    "united": UNITED_NS,
    "GroupDM": "united:GroupDM",
    "channelId": "united:channelId",
    "key": "united:groupKey",
    "revision": "united:revision",
    "owner": {"@id": "united:owner", "@type": "@id"},
    "members": {"@id": "united:members", "@type": "@id"},
}
DEVICE_CONTEXT: dict[str, Any] = {
    "united": UNITED_NS,
    "DeviceMessage": "united:DeviceMessage",
    "devices": "united:devices",
    "payload": "united:payload",
}
CONTEXT: list[Any] = [AS2, SECURITY, UNITED_CONTEXT]


def base_url() -> str:
    return f"{settings.FEDERATION_SCHEME}://{settings.FEDERATION_DOMAIN}"


def node_actor_uri() -> str:
    return f"{base_url()}/actor"


def shared_inbox_uri() -> str:
    return f"{base_url()}/inbox"


def user_uri(username: str) -> str:
    return f"{base_url()}/users/{username}"


def is_local(uri: str) -> bool:
    return uri == base_url() or uri.startswith(base_url() + "/")


def key_material(actor_uri: str) -> dict[str, Any]:
    """`publicKey` and `assertionMethod` for an actor of this node."""
    rsa = keys.signing_key(KeyAlgorithm.RSA)
    keys.signing_key(KeyAlgorithm.ED25519)
    methods = [
        {
            "id": f"{actor_uri}#ed25519-{keys.key_fingerprint(row.public_pem)}",
            "type": "Multikey",
            "controller": actor_uri,
            "publicKeyMultibase": keys.ed25519_multibase(row.public_pem),
        }
        for row in keys.published_keys()
        if row.algorithm == KeyAlgorithm.ED25519
    ]
    return {
        "publicKey": {
            "id": f"{actor_uri}#main-key",
            "owner": actor_uri,
            "publicKeyPem": rsa.public_pem,
        },
        "assertionMethod": methods,
    }


def render_actor(
    uri: str, kind: str, username: str, name: str, *, endpoints: bool = True
) -> dict[str, Any]:
    """The common shape of every actor we serve (the fields docs/federation.md lists)."""
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": uri,
        "type": kind,
        "preferredUsername": username,
        "name": name,
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "followers": f"{uri}/followers",
        "following": f"{uri}/following",
        "manuallyApprovesFollowers": False,
        "endpoints": {"sharedInbox": shared_inbox_uri()} if endpoints else {},
    }
    doc.update(key_material(uri))
    return doc


def render_person(user: Any) -> dict[str, Any]:
    doc = render_actor(user_uri(user.username), "Person", user.username, user.shown_name)
    # An account moving here names where it moved from; one that moved away, where to
    # (docs/federation.md "Moving an account"). Both only when set.
    aliases = [a for a in user.also_known_as or [] if isinstance(a, str)]
    if aliases:
        doc["alsoKnownAs"] = aliases
    if user.moved_to:
        doc["movedTo"] = user.moved_to
    return doc


def render_node_actor() -> dict[str, Any]:
    from federation import PROTOCOL_VERSION

    doc = render_actor(node_actor_uri(), "Application", settings.FEDERATION_DOMAIN, "UNITED node")
    doc["protocolVersion"] = PROTOCOL_VERSION
    return doc


@dataclass(frozen=True)
class ActorKind:
    name: str
    lookup: Callable[[str], Any | None]
    render: Callable[[Any], dict[str, Any]]


_kinds: dict[str, ActorKind] = {}


def register_actor_kind(
    kind: str, lookup_fn: Callable[[str], Any | None], render_fn: Callable[[Any], dict[str, Any]]
) -> None:
    """Make actors of `kind` discoverable by WebFinger (`acct:<name>@<domain>`) and servable.

    `lookup_fn(name)` returns the object or None; `render_fn(obj)` returns its actor document
    (use `render_actor` for the common fields, so keys and endpoints are right). Kinds are
    tried in registration order; users come first.
    """
    _kinds[kind] = ActorKind(kind, lookup_fn, render_fn)


def find_local_actor(name: str) -> tuple[ActorKind, Any] | None:
    for kind in _kinds.values():
        obj = kind.lookup(name)
        if obj is not None:
            return kind, obj
    return None


def lookup_user(name: str) -> Any | None:
    from accounts.models import User

    # People of other nodes have rows here too (federation.people); they are not our actors.
    return User.objects.filter(
        username__iexact=name, is_active=True, remote_identity__isnull=True
    ).first()


def lookup_node(name: str) -> object | None:
    return settings.FEDERATION_DOMAIN if name.lower() == settings.FEDERATION_DOMAIN else None


register_actor_kind("user", lookup_user, render_person)
register_actor_kind("node", lookup_node, lambda _domain: render_node_actor())
