"""The operator's federation policy: blocked (defederated) nodes and actors, allowlist-only
mode, and minimum privacy-manifest requirements checked on first contact and periodically.

A blocked node is refused both ways: its requests are rejected at the inbox and nothing is
delivered to it; blocking also purges what we cached from it (actors, keys, follows, inbox
items) and cancels the deliveries still queued for it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from federation.models import (
    FederationPolicy,
    InboxItem,
    RemoteActor,
    RemoteNode,
)

logger = logging.getLogger(__name__)


def refusal(domain: str) -> str | None:
    """Why we do not federate with `domain`, or None if we do."""
    node = RemoteNode.objects.filter(domain=domain).first()
    if node is not None and node.blocked:
        return "blocked"
    policy = FederationPolicy.current()
    if policy.allowlist_only and not (node is not None and node.allowed):
        return "not_allowlisted"
    if node is not None and node.manifest_problems:
        return "manifest"
    return None


def manifest_problems(manifest: dict[str, Any] | None, policy: FederationPolicy) -> list[str]:
    problems: list[str] = []
    if not manifest:
        if policy.require_manifest:
            problems.append("publishes no privacy manifest")
        return problems
    if policy.refuse_ip_logging and manifest.get("ip_logging") is not False:
        problems.append("logs IP addresses (or does not say it does not)")
    if policy.max_retention_days is not None:
        retention = manifest.get("retention_days") or {}
        values = [v for v in retention.values() if isinstance(v, int)]
        if not values or max(values) > policy.max_retention_days:
            problems.append(f"keeps records longer than {policy.max_retention_days} days")
    return problems


def record_manifest(node: RemoteNode, document: dict[str, Any] | None) -> RemoteNode:
    """Store what a node's /.well-known/federation said and judge it against the policy."""
    manifest = (document or {}).get("privacy_manifest")
    node.manifest = manifest if isinstance(manifest, dict) else {}
    node.public_keys = (document or {}).get("keys") or []
    software = (document or {}).get("software") or {}
    node.is_united = software.get("name") == "united"
    if node.is_united:
        node.software = "united"
        node.software_version = str(software.get("version", ""))[:50]
    node.manifest_problems = manifest_problems(node.manifest, FederationPolicy.current())
    node.manifest_checked_at = timezone.now()
    node.save()
    if node.manifest_problems:
        logger.warning("node %s fails the manifest policy: %s", node.domain, node.manifest_problems)
    return node


@transaction.atomic
def do_block_node(node: RemoteNode, reason: str = "") -> None:
    node.blocked = True
    node.blocked_reason = reason[:300]
    node.save(update_fields=["blocked", "blocked_reason"])
    from federation.delivery import cancel_for_node

    cancel_for_node(node)
    InboxItem.objects.filter(node=node).delete()
    RemoteActor.objects.filter(node=node).delete()  # keys and follows cascade
    from federation.people import remove_node_members

    remove_node_members(node.domain)  # its people leave our guilds' member lists
    logger.info("blocked node %s and purged its cached content", node.domain)


@transaction.atomic
def do_unblock_node(node: RemoteNode) -> None:
    """Talk to the node again, at once: its status starts clean (no back-off inherited from
    before the block), and a job gives its people their memberships back and back-fills our
    replicas of its guilds (federation.tasks.resume_node), so nobody has to rejoin and what
    was missed arrives within a minute rather than at the next periodic sync."""
    from federation.models import NodeStatus

    node.blocked = False
    node.blocked_reason = ""
    node.status = NodeStatus.OK
    node.consecutive_failures = 0
    node.probes = 0
    node.unreachable_since = None
    node.next_probe_at = None
    node.save(
        update_fields=[
            "blocked",
            "blocked_reason",
            "status",
            "consecutive_failures",
            "probes",
            "unreachable_since",
            "next_probe_at",
        ]
    )
    from jobs.services import enqueue

    enqueue("federation.resume_node", {"domain": node.domain}, dedupe_key=f"resume:{node.id}")


def do_block_actor(actor: RemoteActor) -> None:
    actor.blocked = True
    actor.save(update_fields=["blocked"])
    actor.follows.all().delete()


def actor_blocked(uri: str) -> bool:
    return RemoteActor.objects.filter(uri=uri, blocked=True).exists()
