"""`/.well-known/federation`: who this node is (keys, versions) and its privacy manifest.

The manifest is computed from the settings and constants the code actually runs with (the
retention periods below are the ones the purge job uses), so it cannot claim something the
node does not do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings

from federation import PROTOCOL_VERSION, SOFTWARE_NAME, __version__, actors, keys
from federation.models import FederationPolicy, KeyAlgorithm, RemoteNode

# How long federation records are kept (federation.tasks.purge_expired enforces these).
INBOX_RETENTION = timedelta(days=14)
DELIVERED_RETENTION = timedelta(days=7)
REJECTION_RETENTION = timedelta(days=30)
DEAD_DELIVERY_RETENTION = timedelta(days=30)


def privacy_manifest() -> dict[str, Any]:
    policy = FederationPolicy.current()
    config = settings.CONFIG
    return {
        "ip_logging": bool(getattr(config, "log_ips", False)),
        "retention_days": {
            "inbox_activities": INBOX_RETENTION.days,
            "delivered_activities": DELIVERED_RETENTION.days,
            "dead_deliveries": DEAD_DELIVERY_RETENTION.days,
            "rejected_requests": REJECTION_RETENTION.days,
        },
        "moderation": {
            "policy_url": getattr(config, "moderation_policy_url", None),
            "reports_accepted": True,
        },
        "federation": {
            "allowlist_only": policy.allowlist_only,
            "blocked_nodes": RemoteNode.objects.filter(blocked=True).count(),
            "refuses_ip_logging_nodes": policy.refuse_ip_logging,
            "max_peer_retention_days": policy.max_retention_days,
            "requires_peer_manifest": policy.require_manifest,
        },
        "private_messages_end_to_end_encrypted": True,
    }


def public_keys() -> list[dict[str, Any]]:
    keys.ensure_keys()
    actor = actors.node_actor_uri()
    out = []
    for row in keys.published_keys():
        entry: dict[str, Any] = {
            "algorithm": row.algorithm,
            "public_key_pem": row.public_pem,
            "created": row.created_at.isoformat(),
            "expires": row.expires_at.isoformat() if row.expires_at else None,
            "active": row.retired_at is None,
        }
        if row.algorithm == KeyAlgorithm.ED25519:
            entry["id"] = f"{actor}#ed25519-{keys.key_fingerprint(row.public_pem)}"
            entry["public_key_multibase"] = keys.ed25519_multibase(row.public_pem)
        else:
            entry["id"] = f"{actor}#main-key"
        out.append(entry)
    return out


def federation_document() -> dict[str, Any]:
    base = actors.base_url()
    return {
        "software": {"name": SOFTWARE_NAME, "version": __version__},
        "protocol_version": PROTOCOL_VERSION,
        "domain": settings.FEDERATION_DOMAIN,
        "actor": actors.node_actor_uri(),
        "endpoints": {
            "shared_inbox": actors.shared_inbox_uri(),
            "webfinger": f"{base}/.well-known/webfinger",
            "nodeinfo": f"{base}/.well-known/nodeinfo",
        },
        "keys": public_keys(),
        "privacy_manifest": privacy_manifest(),
    }
