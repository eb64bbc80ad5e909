"""The delivery engine: every outgoing activity reaches every destination inbox once, in order.

`fan_out()` runs inside the transaction of the change: it writes the outbox row (Activity) and
one Delivery per destination inbox (shared inbox preferred), and after commit asks the job
queue to run `deliver_to_node` for each destination. The database decides everything else:

- One sender per destination. A job first claims the node's `sending_until` lease with a
  conditional UPDATE; a job that cannot claim it leaves (the holder sends the newcomers, and
  re-checks after releasing). So concurrency per destination is one, and a destination's
  deliveries go out in outbox order: the head of its queue must be delivered (or dead) before
  the next one is tried, and while the head waits for its retry, the whole queue waits.
- Retries back off exponentially (2 s, 4 s, … up to a day) and a delivery dies after
  MAX_ATTEMPTS or MAX_AGE (dead-letter; the operator can retry it). Permanent refusals (4xx
  other than 401/408/429) die at once.
- A peer that answers 429 or 503 with `Retry-After` (seconds or an HTTP date) is not asked
  again before then: the head's next attempt is the later of its backoff and the peer's
  wish (capped at RETRY_AFTER_CAP), and such an answer does not count towards marking the
  node unreachable (it is up, only busy).
- After UNREACHABLE_AFTER consecutive failures a node is marked unreachable: nothing is sent to
  it, a probe job checks it with an interval doubling up to PROBE_CAP (a minute), and when it
  answers its queue resumes at once. Any signed request from the node (`heard_from`, called
  by the inbox and signed GETs) proves the same sooner, so a returning peer's backlog goes
  out within a minute of its return, usually at once.
- Concurrency per destination: one delivery in flight (the lease above, across every worker
  process); every outbound request to a host, fetches included, is also capped per process
  (`federation.http.MAX_PER_DESTINATION`).
- A worker that dies mid-send leaves its Delivery in `sending` and its leases to run out; the
  periodic sweep re-queues the destination, and the head is sent again. The receiver's inbox
  is idempotent by activity id, so a resend has no second effect.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from federation import http, outgoing, policy
from federation.models import (
    Activity,
    Delivery,
    DeliveryState,
    NodeStatus,
    RemoteActor,
    RemoteNode,
)

logger = logging.getLogger(__name__)

S = DeliveryState
TRANSITIONS: dict[str, set[str]] = {
    S.PENDING: {S.SENDING, S.CANCELLED, S.DEAD},
    S.SENDING: {S.DELIVERED, S.RETRYING, S.DEAD, S.SENDING},  # re-send after a lost worker
    S.RETRYING: {S.SENDING, S.CANCELLED, S.DEAD, S.PENDING},
    S.DELIVERED: set(),
    S.DEAD: {S.PENDING},  # the operator's "retry now"
    S.CANCELLED: set(),
}
OPEN = (S.PENDING, S.SENDING, S.RETRYING)

MAX_ATTEMPTS = 20
MAX_AGE = timedelta(days=7)
BACKOFF_CAP = 24 * 3600.0
UNREACHABLE_AFTER = 3
PROBE_BASE = 2.0
PROBE_CAP = 60.0  # a peer back from an outage is noticed within a minute
RETRY_AFTER_CAP = 24 * 3600.0
THROTTLE_STATUSES = frozenset({429, 503})
NODE_LEASE = timedelta(seconds=20)
BATCH_SECONDS = 8.0
PERMANENT_STATUSES = set(range(400, 500)) - {401, 408, 429}


def transition(delivery: Delivery, new: str, **fields: Any) -> bool:
    """The one place delivery states change: checked against TRANSITIONS, conditional on
    the state we read so a concurrent change wins cleanly."""
    if new not in TRANSITIONS[delivery.state]:
        raise ValueError(f"delivery state {delivery.state} → {new} is not allowed")
    done = Delivery.objects.filter(id=delivery.id, state=delivery.state).update(state=new, **fields)
    if done:
        delivery.state = new
        for name, value in fields.items():
            setattr(delivery, name, value)
    return bool(done)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_CAP, 2.0**attempts) * random.uniform(0.9, 1.1))


def retry_after(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """A peer's `Retry-After` (RFC 9110: delay-seconds or an HTTP date), capped; None when
    absent or unreadable."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    return timedelta(seconds=max(0.0, min(RETRY_AFTER_CAP, seconds)))


def destination_inbox(actor: RemoteActor) -> str:
    return actor.shared_inbox or actor.inbox


def fan_out(payload: dict[str, Any], recipients: list[RemoteActor]) -> Activity:
    """Store an outgoing activity and its deliveries; call inside the change's transaction."""
    activity = Activity.objects.create(
        uri=payload["id"], type=payload["type"], actor_uri=payload["actor"], payload=payload
    )
    inboxes: dict[str, RemoteNode] = {}
    for actor in recipients:
        if actor.blocked or policy.refusal(actor.node.domain):
            continue
        inboxes.setdefault(destination_inbox(actor), actor.node)
    Delivery.objects.bulk_create(
        [Delivery(activity=activity, inbox=inbox, node=node) for inbox, node in inboxes.items()]
    )
    node_ids = sorted({node.id for node in inboxes.values()})
    # robust: the deliveries are committed rows the periodic sweep sends anyway; a database
    # gone right after the commit must not turn the committed change into an error answer.
    transaction.on_commit(lambda: kick(node_ids), robust=True)
    return activity


def kick(node_ids: list[int], *, dedupe: bool = False) -> None:
    from jobs.services import enqueue

    for node_id in node_ids:
        with transaction.atomic():
            enqueue(
                "federation.deliver",
                {"node_id": node_id},
                dedupe_key=f"deliver-sweep:{node_id}" if dedupe else None,
            )


def _claim(node_id: int) -> bool:
    now = timezone.now()
    return bool(
        RemoteNode.objects.filter(id=node_id)
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
        .update(sending_until=now + NODE_LEASE)
    )


def _head(node: RemoteNode) -> Delivery | None:
    return (
        Delivery.objects.filter(node=node, state__in=OPEN)
        .select_related("activity")
        .order_by("activity_id", "id")
        .first()
    )


def _due(node: RemoteNode) -> bool:
    head = _head(node)
    return head is not None and head.next_attempt_at <= timezone.now()


def deliver_to_node(node_id: int) -> int:
    """Send a destination's due deliveries in order. Returns how many were delivered."""
    sent = 0
    while _claim(node_id):
        try:
            sent += _send_batch(node_id)
        finally:
            RemoteNode.objects.filter(id=node_id).update(sending_until=None)
        node = RemoteNode.objects.get(id=node_id)
        # Rows committed while we held the lease belong to us: check once more after release.
        if node.blocked or node.status == NodeStatus.UNREACHABLE or not _due(node):
            break
    return sent


def _send_batch(node_id: int) -> int:
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < BATCH_SECONDS:
        node = RemoteNode.objects.get(id=node_id)
        if node.blocked:
            cancel_for_node(node)
            return sent
        if node.status == NodeStatus.UNREACHABLE:
            return sent
        head = _head(node)
        if head is None or head.next_attempt_at > timezone.now():
            return sent
        RemoteNode.objects.filter(id=node_id).update(sending_until=timezone.now() + NODE_LEASE)
        if not transition(head, S.SENDING, attempts=F("attempts") + 1):
            continue
        head.refresh_from_db()
        if _send(node, head):
            sent += 1
        elif head.state != S.DEAD:
            return sent  # the head waits for its retry, and the queue behind it waits too
    if _due(RemoteNode.objects.get(id=node_id)):
        kick([node_id], dedupe=True)
    return sent


def _send(node: RemoteNode, delivery: Delivery) -> bool:
    activity = delivery.activity
    body = json.dumps(activity.payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/activity+json"}
    headers.update(outgoing.signed_headers("POST", delivery.inbox, body, activity.actor_uri))
    started = time.monotonic()
    try:
        response = http.request(
            "POST",
            delivery.inbox,
            headers=headers,
            content=body,
            follow_redirects=False,
            max_bytes=64 * 1024,
        )
    except http.FetchError as exc:
        permanent = exc.reason in {"private_address", "bad_url"}
        _failed(node, delivery, str(exc), None, permanent=permanent)
        return False
    elapsed_ms = (time.monotonic() - started) * 1000
    if 200 <= response.status < 300:
        transition(delivery, S.DELIVERED, delivered_at=timezone.now(), last_status=response.status)
        latency = (
            elapsed_ms if node.latency_ms is None else 0.8 * node.latency_ms + 0.2 * elapsed_ms
        )
        RemoteNode.objects.filter(id=node.id).update(
            consecutive_failures=0, latency_ms=latency, last_seen_at=timezone.now()
        )
        return True
    detail = f"HTTP {response.status}: {response.content[:200].decode(errors='replace')}"
    permanent = response.status in PERMANENT_STATUSES
    wait = None
    if response.status in THROTTLE_STATUSES:
        wait = retry_after(response.headers, timezone.now())
    # A 4xx is an answer: the node is up, only this delivery is in trouble. A 5xx (often a
    # proxy in front of a dead node) counts towards marking the node unreachable, unless it
    # says when to come back (a 503 with Retry-After: up, and busy).
    node_down = response.status >= 500 and wait is None
    _failed(
        node,
        delivery,
        detail,
        response.status,
        permanent=permanent,
        node_down=node_down,
        not_before=wait,
    )
    return False


def _failed(
    node: RemoteNode,
    delivery: Delivery,
    error: str,
    status: int | None,
    *,
    permanent: bool,
    node_down: bool = True,
    not_before: timedelta | None = None,
) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {"last_error": error[:500], "last_status": status}
    RemoteNode.objects.filter(id=node.id).update(last_error=error[:500], last_error_at=now)
    if permanent or delivery.attempts >= MAX_ATTEMPTS or now - delivery.created_at > MAX_AGE:
        transition(delivery, S.DEAD, **fields)
        logger.warning("delivery %s to %s is dead: %s", delivery.id, delivery.inbox, error)
    else:
        wait = max(backoff(delivery.attempts), not_before or timedelta(0))
        transition(delivery, S.RETRYING, next_attempt_at=now + wait, **fields)
    if not node_down:
        return
    RemoteNode.objects.filter(id=node.id).update(consecutive_failures=F("consecutive_failures") + 1)
    node.refresh_from_db()
    if node.consecutive_failures >= UNREACHABLE_AFTER and node.status == NodeStatus.OK:
        RemoteNode.objects.filter(id=node.id).update(
            status=NodeStatus.UNREACHABLE, unreachable_since=now, next_probe_at=now, probes=0
        )
        logger.warning("node %s is unreachable; probing it until it answers", node.domain)


def probe(node_id: int) -> bool:
    """Is an unreachable node back? Any answer below 500 counts; then its queue resumes."""
    node = RemoteNode.objects.get(id=node_id)
    url = f"{_scheme()}://{node.domain}/.well-known/nodeinfo"
    now = timezone.now()
    try:
        answer = http.request("GET", url, max_bytes=64 * 1024)
        if answer.status >= 500:  # a proxy answering for a node that is still down
            raise http.FetchError("status", f"{url} answered {answer.status}")
    except http.FetchError as exc:
        delay = min(PROBE_CAP, PROBE_BASE * 2**node.probes)
        RemoteNode.objects.filter(id=node_id).update(
            probes=F("probes") + 1,
            next_probe_at=now + timedelta(seconds=delay),
            last_error=f"probe: {exc}"[:500],
            last_error_at=now,
        )
        return False
    _resume(node, "answers our probe")
    return True


def _resume(node: RemoteNode, why: str) -> None:
    """The node is back: its queue goes out now (but a peer's own Retry-After still holds)."""
    now = timezone.now()
    RemoteNode.objects.filter(id=node.id).update(
        status=NodeStatus.OK,
        consecutive_failures=0,
        probes=0,
        unreachable_since=None,
        next_probe_at=None,
        last_seen_at=now,
    )
    throttled = Q(last_status__in=THROTTLE_STATUSES, next_attempt_at__gt=now)
    Delivery.objects.filter(node_id=node.id, state__in=OPEN).exclude(throttled).update(
        next_attempt_at=now
    )
    logger.info("node %s %s; resuming its deliveries", node.domain, why)
    kick([node.id], dedupe=True)


def heard_from(domain: str) -> None:
    """A verified request from `domain` proves it is up: if we had it as unreachable, its
    queue resumes now instead of at the next probe."""
    node = RemoteNode.objects.filter(
        domain=domain, status=NodeStatus.UNREACHABLE, blocked=False
    ).first()
    if node is not None:
        _resume(node, "sent us a request")


def _scheme() -> str:
    from django.conf import settings

    return str(settings.FEDERATION_SCHEME)


def sweep() -> None:
    """Periodic: dead-letter expired rows, re-queue due destinations, probe unreachable ones."""
    from jobs.services import enqueue

    now = timezone.now()
    for delivery in Delivery.objects.filter(
        state__in=(S.PENDING, S.RETRYING), created_at__lt=now - MAX_AGE
    ):
        transition(delivery, S.DEAD, last_error="retry budget exhausted")
    due_nodes = (
        Delivery.objects.filter(
            state__in=OPEN,
            next_attempt_at__lte=now,
            node__status=NodeStatus.OK,
            node__blocked=False,
        )
        .values_list("node_id", flat=True)
        .distinct()
    )
    kick(sorted(set(due_nodes)), dedupe=True)
    for node_id in RemoteNode.objects.filter(
        status=NodeStatus.UNREACHABLE, blocked=False, next_probe_at__lte=now
    ).values_list("id", flat=True):
        with transaction.atomic():
            enqueue("federation.probe", {"node_id": node_id}, dedupe_key=f"probe:{node_id}")


def cancel_for_node(node: RemoteNode) -> int:
    cancelled = 0
    for delivery in Delivery.objects.filter(node=node, state__in=(S.PENDING, S.RETRYING)):
        cancelled += transition(delivery, S.CANCELLED, last_error="node blocked")
    return cancelled


def retry_now(delivery: Delivery) -> bool:
    """The operator's retry: a dead delivery gets a fresh budget and goes first in line."""
    ok = transition(delivery, S.PENDING, attempts=0, next_attempt_at=timezone.now())
    if ok:
        transaction.on_commit(lambda: kick([delivery.node_id], dedupe=True), robust=True)
    return ok


def retry_node(node: RemoteNode) -> int:
    """The operator's "retry now" for a whole peer: dead deliveries get a fresh budget,
    waiting ones fall due now, and an unreachable peer is tried at once rather than at its
    next probe (if it is still down, three failures mark it unreachable again). Returns how
    many deliveries are queued for it. A blocked peer is not retried: unblock it first."""
    if node.blocked:
        return 0
    for dead in Delivery.objects.filter(node=node, state=S.DEAD):
        transition(dead, S.PENDING, attempts=0)
    now = timezone.now()
    Delivery.objects.filter(node=node, state__in=(S.PENDING, S.RETRYING)).update(
        next_attempt_at=now
    )
    RemoteNode.objects.filter(id=node.id).update(
        status=NodeStatus.OK,
        consecutive_failures=0,
        probes=0,
        unreachable_since=None,
        next_probe_at=None,
    )
    queued = Delivery.objects.filter(node=node, state__in=OPEN).count()
    transaction.on_commit(lambda: kick([node.id], dedupe=True), robust=True)
    return queued
