"""What a node operator does to a peer from the admin's Federation page: block, unblock and
"retry now", plus the page's view of every peer.

These are the node's powers, not a guild's, so only superusers may use them (the same line
moderation/operators_admin.py draws). Blocking and unblocking are recorded in the node audit
log (moderation.NodeAuditEntry) in the same transaction as the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, Q

from federation import delivery, policy
from federation.models import DeliveryState, NodeStatus, RemoteNode
from moderation.services.operators import record_node_audit
from united.errors import Forbidden, Invalid, NotFound

if TYPE_CHECKING:
    from accounts.models import User

REASON_MAX = 300


@dataclass(frozen=True)
class Peer:
    node: RemoteNode
    state: str  # "blocked", "unreachable", "failing" or "reachable"
    queued: int  # deliveries waiting for it (pending, sending, retrying)
    dead: int  # deliveries that gave up; "retry now" revives them

    @property
    def state_label(self) -> str:
        return {
            "blocked": "Blocked",
            "unreachable": "Unreachable",
            "failing": "Failing",
            "reachable": "Reachable",
        }[self.state]

    @property
    def last_error_at(self) -> datetime | None:
        return self.node.last_error_at


def peers() -> list[Peer]:
    """Every peer we know, in trouble first, with its queue depth."""
    nodes = RemoteNode.objects.annotate(
        n_open=Count("deliveries", filter=Q(deliveries__state__in=delivery.OPEN)),
        n_retrying=Count("deliveries", filter=Q(deliveries__state=DeliveryState.RETRYING)),
        n_dead=Count("deliveries", filter=Q(deliveries__state=DeliveryState.DEAD)),
    ).order_by("domain")
    rows = []
    for node in nodes:
        if node.blocked:
            state = "blocked"
        elif node.status == NodeStatus.UNREACHABLE:
            state = "unreachable"
        elif node.consecutive_failures or node.n_retrying or node.n_dead:
            state = "failing"
        else:
            state = "reachable"
        rows.append(Peer(node, state, node.n_open, node.n_dead))
    order = {"unreachable": 0, "failing": 1, "reachable": 2, "blocked": 3}
    return sorted(rows, key=lambda p: order[p.state])


def access_peer(operator: User, node_id: int) -> RemoteNode:
    if not (operator.is_active and operator.is_superuser):
        raise Forbidden("Only the node's operators act on peers")
    node = RemoteNode.objects.filter(id=node_id).first()
    if node is None:
        raise NotFound("Unknown peer")
    return node


@transaction.atomic
def check_block_peer(operator: User, node_id: int, reason: str = "") -> RemoteNode:
    node = access_peer(operator, node_id)
    reason = reason.strip()[:REASON_MAX]
    if not node.blocked:
        policy.do_block_node(node, reason or f"blocked by {operator.username}")
        record_node_audit(operator, "node_block", reason=reason, domain=node.domain)
    return node


@transaction.atomic
def check_unblock_peer(operator: User, node_id: int) -> RemoteNode:
    node = access_peer(operator, node_id)
    if node.blocked:
        policy.do_unblock_node(node)
        record_node_audit(operator, "node_unblock", domain=node.domain)
    return node


@transaction.atomic
def check_retry_peer(operator: User, node_id: int) -> tuple[RemoteNode, int]:
    """Re-queue everything waiting for the peer now; how many deliveries that is."""
    node = access_peer(operator, node_id)
    if node.blocked:
        raise Invalid(f"{node.domain} is blocked: unblock it before retrying")
    return node, delivery.retry_node(node)
