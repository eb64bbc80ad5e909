"""The inbox door: cheap checks, then store and acknowledge (STYLE 9).

`receive()` runs in the request: size limit, blocked or refused origin, the HTTP signature
(fetching the signer's key on first contact), JSON/AS2 shape, the rule that an activity's
actor and id live on the origin of the key that signed it, and the origin rules of
`federation.origin` (the key is the actor's own, objects live on the actor's host and are
attributed to it). The rate limits and the share of the process inbox work may take are
`federation.inboxgate`'s: a peer over its budget is refused after the signature and before
anything is parsed or written, and the checks run in the inbox's slot except for waits on the
network (a first contact, a key to fetch). What passes is stored as an
InboxItem, unique on the activity id, with a processing job in the same transaction; the
caller answers 202. A redelivery finds the row and is acknowledged without a second job.
Every refusal is recorded as an InboxRejection (no IP address) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from federation import delivery, inboxgate, policy, remote, rfc9421
from federation import origin as origin_rules
from federation.activities import object_id
from federation.keys import PublicKey
from federation.models import InboxItem, InboxRejection, RemoteKey
from federation.signatures import SignatureError, parse_signature_header, verify_request
from united import jsonbody

logger = logging.getLogger(__name__)

MAX_BODY = 256 * 1024


@dataclass
class Rejected(Exception):
    status: int
    reason: str
    detail: str
    domain: str = ""
    key_id: str = ""
    activity_uri: str = ""


def signer(headers: Mapping[str, str]) -> str:
    """The keyId a request claims to be signed with (not yet verified)."""
    if "signature-input" in headers:
        try:
            inputs = rfc9421.parse_signature_input(headers["signature-input"])
        except SignatureError as exc:
            raise Rejected(401, exc.reason, exc.detail) from None
        key_id = inputs[0].params.get("keyid")
        if not isinstance(key_id, str) or not key_id:
            raise Rejected(401, "malformed", "the message signature names no keyid")
        return key_id
    value = headers.get("signature") or headers.get("authorization", "").removeprefix("Signature ")
    if not value:
        raise Rejected(401, "unsigned", "the request carries no signature")
    try:
        return parse_signature_header(value).key_id
    except SignatureError as exc:
        raise Rejected(401, exc.reason, exc.detail) from None


def _parse(body: bytes) -> dict[str, Any]:
    try:
        activity = jsonbody.loads(body, max_bytes=MAX_BODY)
    except jsonbody.JSONBodyError as exc:  # NaN, too deep, not JSON… (united/jsonbody.py)
        raise Rejected(exc.status, "invalid_json", exc.message) from None
    if not isinstance(activity, dict):
        raise Rejected(400, "invalid_activity", "the body is not a JSON object")
    for name in ("id", "type", "actor"):
        if name == "actor":
            if object_id(activity.get("actor")) is None:
                raise Rejected(400, "invalid_activity", "the activity has no actor")
        elif not isinstance(activity.get(name), str) or not activity[name]:
            raise Rejected(400, "invalid_activity", f"the activity has no {name}")
    return activity


class _NeedsFetch(Exception):
    """The fast path met a first contact or a key to fetch: redo it with the network."""


def _without_fetching(key_id: str, refresh: bool) -> PublicKey:
    key = remote.cached_key(key_id, refresh)
    if key is None:
        raise _NeedsFetch()
    return key


def verify_any(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve: Callable[[str, bool], PublicKey] = remote.resolve_key,
) -> None:
    """RFC 9421 when the request has Signature-Input, draft-cavage otherwise."""
    if "signature-input" in headers:
        url = f"{settings.FEDERATION_SCHEME}://{headers.get('host', '')}{target}"
        rfc9421.verify_request(method, url, headers, body, resolve)
    else:
        verify_request(method, target, headers, body, resolve)


def receive(
    method: str, target: str, headers: Mapping[str, str], body: bytes
) -> tuple[InboxItem, bool]:
    """Check and store one delivery. Returns (item, created); raises Rejected, RateLimited
    (the signing domain is over its budget) or inboxgate.Busy.

    Everything runs as inbox work under `inboxgate.share()`, except waits on the network: a
    first contact or a key to fetch (at most 20 s each, and a forger picks the server) leaves
    the gate, fetches, and comes back, so it never holds other peers' deliveries up.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    if len(body) > MAX_BODY:
        raise Rejected(413, "too_large", f"{len(body)} bytes is over the {MAX_BODY} B limit")
    key_id = signer(headers)
    domain = remote.domain_of(key_id)
    try:
        with inboxgate.share():
            if not remote.contacted(domain):
                raise _NeedsFetch()
            return _check(method, target, headers, body, key_id, domain, _without_fetching)
    except _NeedsFetch:
        pass
    remote.first_contact(domain)  # judge a new node's manifest before anything else
    _refuse_blocked(domain, key_id)
    try:
        remote.resolve_key(key_id, True)  # a fresh copy unless one was fetched a moment ago
    except SignatureError as exc:
        raise Rejected(401, exc.reason, exc.detail, domain, key_id) from None
    with inboxgate.share():
        return _check(method, target, headers, body, key_id, domain, remote.resolve_key)


def _refuse_blocked(domain: str, key_id: str) -> None:
    refusal = policy.refusal(domain)
    if refusal:
        raise Rejected(403, refusal, f"{domain} is {refusal}", domain, key_id)


def _check(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    key_id: str,
    domain: str,
    resolve: Callable[[str, bool], PublicKey],
) -> tuple[InboxItem, bool]:
    _refuse_blocked(domain, key_id)
    try:
        verify_any(method, target, headers, body, resolve)
    except SignatureError as exc:
        raise Rejected(401, exc.reason, exc.detail, domain, key_id) from None
    inboxgate.limit_domain(domain)  # RateLimited: the view answers 429, nothing is stored
    delivery.heard_from(domain)  # it is up: if we thought otherwise, its queue resumes now
    return _store(body, key_id, domain)


def _store(body: bytes, key_id: str, domain: str) -> tuple[InboxItem, bool]:
    activity = _parse(body)
    uri, actor = activity["id"], object_id(activity["actor"]) or ""
    origin = remote.origin(key_id)
    if remote.origin(actor) != origin or remote.origin(uri) != origin:
        raise Rejected(
            401, "wrong_origin", f"{actor} / {uri} is not on {origin}", domain, key_id, uri
        )
    owner = RemoteKey.objects.filter(key_id=key_id).values_list("actor__uri", flat=True).first()
    try:
        origin_rules.check_key_owner(actor, owner)
    except origin_rules.OriginError as exc:
        raise Rejected(401, exc.reason, exc.detail, domain, key_id, uri) from None
    if policy.actor_blocked(actor):
        raise Rejected(403, "actor_blocked", f"{actor} is blocked", domain, key_id, uri)
    try:
        origin_rules.check_activity(activity, actor)
    except origin_rules.OriginError as exc:
        raise Rejected(403, exc.reason, exc.detail, domain, key_id, uri) from None
    existing = InboxItem.objects.filter(activity_uri=uri).first()
    if existing is not None:
        return existing, False
    node = remote.node_for(domain)
    try:
        with transaction.atomic():
            item = InboxItem.objects.create(
                activity_uri=uri,
                type=str(activity["type"])[:30],
                actor_uri=actor,
                node=node,
                key_id=key_id,
                payload=activity,
            )
            from jobs.services import enqueue

            # A Move is checked further in the request (federation.moves.admit, which may
            # fetch its target) and queued only once it passes.
            if item.type != "Move":
                enqueue("federation.process_inbox", {"item_id": item.id})
    except IntegrityError:  # the same activity arrived twice at once
        return InboxItem.objects.get(activity_uri=uri), False
    return item, True


def record_rejection(path: str, rejected: Rejected) -> None:
    logger.warning(
        "inbox refused a request from %s: %s (%s)",
        rejected.domain or "?",
        rejected.reason,
        rejected.detail,
    )
    InboxRejection.objects.create(
        domain=rejected.domain[:255],
        key_id=rejected.key_id[:500],
        activity_uri=rejected.activity_uri[:500],
        path=path[:300],
        reason=rejected.reason[:40],
        detail=rejected.detail[:500],
    )
