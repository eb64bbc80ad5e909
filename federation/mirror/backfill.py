"""Back-fill: fetch the host's state and page its history, newest first, back to before
we lost contact (after a silence, a new join, an unblock, and periodically)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from federation import remote
from federation.mirror.apply import apply_state, upsert_note
from federation.mirror.context import applying
from federation.models import GuildLink, RemoteActor
from guilds.models import Channel
from messaging.models import Message

logger = logging.getLogger(__name__)

BACKFILL_MARGIN = timedelta(minutes=10)
BACKFILL_MAX_PAGES = 40


def sync(link_id: int) -> dict[str, int]:
    """Fetch the host's state and page its history back to before we lost contact.
    Idempotent: messages are upserted by id, so nothing is duplicated."""
    link = GuildLink.objects.select_related("guild").get(id=link_id)
    counts = {"created": 0, "updated": 0, "deleted": 0, "tombstone": 0, "unchanged": 0}
    base = link.group_uri
    if not RemoteActor.objects.filter(uri=base).exists():
        remote.fetch_actor(base)  # purged by a block since: our members' sends need it
    state_doc = remote.fetch_document(f"{base}/state")
    with transaction.atomic(), applying(remote.domain_of(link.group_uri)):
        apply_state(base, state_doc)
    since: datetime | None = (
        link.synced_at or link.last_heard_at or timezone.now()
    ) - BACKFILL_MARGIN
    if link.synced_at is None:
        since = None  # first sync: the whole history the host lets us page
    channels = Channel.objects.filter(guild=link.guild, type__in=(0, 5, 11))
    for channel in channels:
        before: str | None = None
        for _ in range(BACKFILL_MAX_PAGES):
            url = f"{base}/channels/{channel.id}/messages" + (f"?before={before}" if before else "")
            page = remote.fetch_document(url)
            items = [i for i in page.get("orderedItems") or [] if isinstance(i, dict)]
            with transaction.atomic(), applying(remote.domain_of(link.group_uri)):
                for note in reversed(items):
                    result = upsert_note(link, note, full=True)
                    counts[result] = counts.get(result, 0) + 1
            if not items or page.get("last"):
                break
            oldest = Message.objects.filter(id=int(items[-1]["messageId"])).first()
            if since is not None and oldest is not None and oldest.created_at < since:
                break
            before = items[-1]["messageId"]
    GuildLink.objects.filter(id=link.id).update(synced_at=timezone.now())
    logger.info("synced %s: %s", link.group_uri, counts)
    return counts


def resume_node(domain: str) -> None:
    """After our operator unblocks `domain`: refetch the actors blocking purged (network
    first, outside any transaction), give its people their memberships back (which sends each
    guild's state to the node), and back-fill our replicas of its guilds now."""
    from federation import policy
    from federation.models import RemoteUser, SuspendedMembership
    from federation.people import restore_node_members

    if policy.refusal(domain):
        return
    uris = set(
        RemoteUser.objects.filter(
            domain=domain,
            user_id__in=SuspendedMembership.objects.filter(domain=domain).values("user_id"),
        ).values_list("actor_uri", flat=True)
    )
    for uri in sorted(uris):
        try:
            remote.fetch_actor(uri)
        except remote.RemoteError as exc:
            logger.info("could not refetch %s after unblocking %s: %s", uri, domain, exc)
    restored = restore_node_members(domain)
    for link in GuildLink.objects.filter(domain=domain):
        sync_all_for(link)
    logger.info("unblocked %s: %s memberships restored, replicas back-filling", domain, restored)


def sync_all_for(link: GuildLink) -> None:
    from jobs.services import enqueue

    with transaction.atomic():
        enqueue("federation.sync_guild", {"link_id": link.id}, dedupe_key=f"sync:{link.id}")


def sync_all() -> None:
    for link in GuildLink.objects.all():
        sync_all_for(link)
