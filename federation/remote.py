"""What we learn from other nodes: actors, their keys, and the nodes themselves.

Fetched documents are trusted only for their own origin (the lesson of Mastodon's
CVE-2024-23832): an object fetched from a URL must carry an id on that URL's origin, and we
refuse redirects that change origin. Keys are cached by keyId; a refresh (after a failed
verification, i.e. a probable rotation) is allowed at most once a minute per key.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from federation import http, keys, policy
from federation.keys import PublicKey
from federation.models import KeyAlgorithm, RemoteActor, RemoteKey, RemoteNode
from federation.signatures import SignatureError

logger = logging.getLogger(__name__)

KEY_REFRESH_INTERVAL = timedelta(minutes=1)
MANIFEST_RECHECK = timedelta(hours=6)


class RemoteError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def domain_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def node_for(domain: str) -> RemoteNode:
    node, _ = RemoteNode.objects.get_or_create(domain=domain)
    return node


def contacted(domain: str) -> bool:
    """True when `first_contact(domain)` has nothing to fetch (the inbox's fast path)."""
    node = RemoteNode.objects.filter(domain=domain).only("manifest_checked_at", "blocked").first()
    return node is not None and (node.manifest_checked_at is not None or node.blocked)


def cached_key(key_id: str, refresh: bool) -> PublicKey | None:
    """`resolve_key` without the network: None where it would have to fetch."""
    cached = RemoteKey.objects.filter(key_id=key_id).first()
    if cached is None or (refresh and timezone.now() - cached.fetched_at >= KEY_REFRESH_INTERVAL):
        return None
    return keys.load_public_pem(cached.public_pem)


def first_contact(domain: str) -> None:
    """Judge a node's privacy manifest before we talk to it for the first time."""
    node = node_for(domain)
    if node.manifest_checked_at is None and not node.blocked:
        try:
            check_node(domain)
        except (http.FetchError, RemoteError) as exc:
            logger.info("could not read the manifest of %s yet: %s", domain, exc)


def check_node(domain: str) -> RemoteNode:
    """Fetch a node's /.well-known/federation (non-UNITED nodes have none) and judge it."""
    node = node_for(domain)
    url = f"{settings.FEDERATION_SCHEME}://{domain}/.well-known/federation"
    try:
        document, final = http.get_json(url, sign=False, accept="application/json")
        if origin(final) != origin(url):
            raise RemoteError("wrong_origin", f"{url} redirected to {final}")
    except http.FetchError as exc:
        if exc.reason in {"status", "not_json"}:
            document = None  # not a UNITED node; the policy decides whether that is fine
        else:
            raise
    return policy.record_manifest(node, document)


def fetch_document(url: str) -> dict[str, Any]:
    """GET an ActivityPub object, signed, and insist its id lives where we fetched it."""
    first_contact(domain_of(url))
    refusal = policy.refusal(domain_of(url))
    if refusal:
        raise RemoteError("refused", f"{domain_of(url)} is {refusal}")
    try:
        document, final = http.get_json(url, sign=True)
    except http.FetchError as exc:
        raise RemoteError(exc.reason, str(exc)) from None
    object_id = document.get("id")
    if not isinstance(object_id, str):
        raise RemoteError("invalid", f"{url} has no id")
    if origin(final) != origin(url) or origin(object_id) != origin(url):
        raise RemoteError("wrong_origin", f"{url} served an object with id {object_id}")
    return document


def _store_keys(actor: RemoteActor, document: dict[str, Any]) -> None:
    found: dict[str, tuple[str, str]] = {}
    public_key = document.get("publicKey")
    if isinstance(public_key, dict) and isinstance(public_key.get("publicKeyPem"), str):
        key_id = public_key.get("id")
        # The key must say it is this actor's: a document that names another actor's keyId
        # (or another owner) would otherwise take that key over for itself.
        owner = public_key.get("owner", actor.uri)
        if isinstance(key_id, str) and origin(key_id) == origin(actor.uri) and owner == actor.uri:
            found[key_id] = (KeyAlgorithm.RSA, public_key["publicKeyPem"])
    methods = document.get("assertionMethod") or []
    for method in methods if isinstance(methods, list) else [methods]:
        if not isinstance(method, dict) or method.get("type") != "Multikey":
            continue
        key_id, value = method.get("id"), method.get("publicKeyMultibase")
        if not (isinstance(key_id, str) and isinstance(value, str)):
            continue
        if origin(key_id) != origin(actor.uri) or method.get("controller") != actor.uri:
            continue
        try:
            found[key_id] = (KeyAlgorithm.ED25519, keys.ed25519_pem_from_multibase(value))
        except ValueError:
            continue
    for key_id, (algorithm, pem) in found.items():
        try:
            loaded = keys.load_public_pem(pem)
        except ValueError:
            continue
        taken = RemoteKey.objects.filter(key_id=key_id).exclude(actor=actor).first()
        if taken is not None and key_id.split("#", 1)[0] != actor.uri:
            continue  # another actor's key, claimed from outside its own document
        real = KeyAlgorithm.ED25519 if algorithm == KeyAlgorithm.ED25519 else KeyAlgorithm.RSA
        if type(loaded).__name__.startswith("RSA") and real != KeyAlgorithm.RSA:
            continue
        RemoteKey.objects.update_or_create(
            key_id=key_id,
            defaults={
                "actor": actor,
                "algorithm": real,
                "public_pem": pem,
                "fetched_at": timezone.now(),
            },
        )


def remember_actor(document: dict[str, Any]) -> RemoteActor:
    """Cache an actor document that was fetched from its own origin."""
    uri = document["id"]
    inbox = document.get("inbox")
    if not isinstance(inbox, str) or origin(inbox) != origin(uri):
        raise RemoteError("invalid", f"actor {uri} has no inbox on its origin")
    endpoints = document.get("endpoints")
    shared = endpoints.get("sharedInbox", "") if isinstance(endpoints, dict) else ""
    if not isinstance(shared, str) or (shared and origin(shared) != origin(uri)):
        shared = ""
    node = node_for(domain_of(uri))
    with transaction.atomic():
        actor, _ = RemoteActor.objects.update_or_create(
            uri=uri,
            defaults={
                "node": node,
                "kind": str(document.get("type", ""))[:30],
                "username": str(document.get("preferredUsername", ""))[:200],
                "inbox": inbox,
                "shared_inbox": shared,
                "document": document,
                "fetched_at": timezone.now(),
            },
        )
        _store_keys(actor, document)
    return actor


def fetch_actor(uri: str, *, refresh: bool = False) -> RemoteActor:
    if not refresh:
        cached = RemoteActor.objects.filter(uri=uri).select_related("node").first()
        if cached is not None:
            return cached
    return remember_actor(fetch_document(uri))


def resolve_key(key_id: str, refresh: bool) -> PublicKey:
    """The public key for a keyId (for `signatures.verify_request`)."""
    cached = RemoteKey.objects.filter(key_id=key_id).first()
    if cached is not None and refresh:
        if timezone.now() - cached.fetched_at < KEY_REFRESH_INTERVAL:
            return keys.load_public_pem(cached.public_pem)
    if cached is None or refresh:
        owner_uri = key_id.split("#", 1)[0]
        try:
            document = fetch_document(owner_uri)
            if document.get("type") in {"Key", "CryptographicKey"} and document.get("owner"):
                owner = str(document["owner"])
                if origin(owner) != origin(key_id):
                    raise RemoteError("wrong_origin", f"key {key_id} is owned by {owner}")
                document = fetch_document(owner)
            remember_actor(document)
        except RemoteError as exc:
            raise SignatureError("unknown_key", f"cannot fetch {key_id}: {exc}") from None
        cached = RemoteKey.objects.filter(key_id=key_id).first()
        if cached is None:
            raise SignatureError("unknown_key", f"{owner_uri} does not publish {key_id}")
    return keys.load_public_pem(cached.public_pem)


def webfinger(acct: str) -> RemoteActor:
    """Find a remote actor by `user@domain` (RFC 7033) and cache it."""
    acct = acct.strip().removeprefix("acct:").removeprefix("@")
    user, sep, domain = acct.rpartition("@")
    if not sep or not user or not domain:
        raise RemoteError("invalid", f"{acct!r} is not user@domain")
    domain = domain.lower()
    url = (
        f"{settings.FEDERATION_SCHEME}://{domain}/.well-known/webfinger"
        f"?resource={quote(f'acct:{user}@{domain}', safe='')}"
    )
    first_contact(domain)
    refusal = policy.refusal(domain)
    if refusal:
        raise RemoteError("refused", f"{domain} is {refusal}")
    try:
        jrd, final = http.get_json(url, sign=False, accept="application/jrd+json")
    except http.FetchError as exc:
        raise RemoteError(exc.reason, str(exc)) from None
    if origin(final) != origin(url):
        raise RemoteError("wrong_origin", f"webfinger for {domain} redirected to {final}")
    links = jrd.get("links")
    for link in links if isinstance(links, list) else []:
        if (
            isinstance(link, dict)
            and link.get("rel") == "self"
            and str(link.get("type") or "").startswith(
                ("application/activity+json", "application/ld")
            )
            and isinstance(link.get("href"), str)
        ):
            return fetch_actor(link["href"])
    raise RemoteError("not_found", f"no ActivityPub actor for {acct}")


def manifest_due(node: RemoteNode) -> bool:
    checked = node.manifest_checked_at
    return checked is None or timezone.now() - checked > MANIFEST_RECHECK
