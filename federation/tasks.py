"""Federation's jobs (jobs app): thin doors that load ids and call one service each."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from federation import delivery, handlers, inboxgate, manifest, remote
from federation.models import Delivery, DeliveryState, InboxItem, InboxRejection, RemoteNode
from jobs.services import job, periodic


@job("federation.deliver", max_attempts=50, lease_seconds=30, backoff_base=1.5, backoff_cap=60)
def deliver(node_id: int) -> None:
    delivery.deliver_to_node(node_id)


@job("federation.process_inbox", max_attempts=6, lease_seconds=60)
def process_inbox(item_id: int) -> None:
    if settings.UNITED_MODE == "embedded":
        # The runner's thread shares the process with members' requests (federation/inboxgate.py).
        with inboxgate.share(patient=True):
            handlers.process(item_id)
    else:
        handlers.process(item_id)


@job("federation.probe", max_attempts=1, lease_seconds=30)
def probe(node_id: int) -> None:
    delivery.probe(node_id)


@job("federation.resume_node", max_attempts=5, lease_seconds=300)
def resume_node(domain: str) -> None:
    from federation import mirror

    mirror.resume_node(domain)


@job("federation.check_node", max_attempts=3, lease_seconds=60)
def check_node(domain: str) -> None:
    remote.check_node(domain)


@periodic("federation.sweep", every=timedelta(seconds=2), lease_seconds=60)
def sweep() -> None:
    delivery.sweep()


@periodic("federation.recheck_manifests", every=timedelta(minutes=30), lease_seconds=600)
def recheck_manifests() -> None:
    from jobs.services import enqueue

    for node in RemoteNode.objects.filter(blocked=False):
        if remote.manifest_due(node):
            enqueue("federation.check_node", {"domain": node.domain}, dedupe_key=f"check:{node.id}")


@periodic("federation.purge_expired", every=timedelta(hours=1), lease_seconds=600)
def purge_expired() -> None:
    """Keep the retention periods the privacy manifest publishes."""
    now = timezone.now()
    InboxItem.objects.filter(received_at__lt=now - manifest.INBOX_RETENTION).delete()
    InboxRejection.objects.filter(at__lt=now - manifest.REJECTION_RETENTION).delete()
    Delivery.objects.filter(
        state=DeliveryState.DELIVERED, delivered_at__lt=now - manifest.DELIVERED_RETENTION
    ).delete()
    Delivery.objects.filter(
        state__in=(DeliveryState.DEAD, DeliveryState.CANCELLED),
        created_at__lt=now - manifest.DEAD_DELIVERY_RETENTION,
    ).delete()


@job("federation.sync_guild", max_attempts=5, lease_seconds=120)
def sync_guild(link_id: int) -> None:
    from federation import mirror

    mirror.sync(link_id)


@periodic("federation.sync_guilds", every=timedelta(minutes=10), lease_seconds=600)
def sync_guilds() -> None:
    """Back-fill every replica now and then (and soon after a node starts)."""
    from federation import mirror

    mirror.sync_all()
