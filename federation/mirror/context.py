"""What the mirror modules share: `applying(domain)`, scheduling a back-fill, and telling
clients a message changed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import transaction

from federation.models import GuildLink
from united import events


@contextlib.contextmanager
def applying(domain: str) -> Iterator[None]:
    """Apply what the host `domain` sent: every event published inside carries that origin
    (united.events.Published.origin), so our observers know it is the host's change, not
    one of our members', and do not send it back. The one place the origin is set."""
    if not domain:
        raise ValueError("a mirrored change needs the domain it comes from")
    with events.origin(domain):
        yield


def schedule_sync(link: GuildLink) -> None:
    from jobs.services import enqueue

    transaction.on_commit(
        lambda: enqueue("federation.sync_guild", {"link_id": link.id}, dedupe_key=f"sync:{link.id}")
    )


def broadcast_message(message_id: int, t: str) -> None:
    """The message as it now is, to its channel's clients (a change no `do_*` makes: a link
    to its thread, a back-filled edit time)."""
    from messaging.models import Message
    from messaging.services.dms import broadcast_to_channel
    from messaging.services.serialize import prefetched, serialize_message

    message = prefetched(Message.objects.filter(id=message_id)).get()
    broadcast_to_channel(message.channel, t, serialize_message(message))
