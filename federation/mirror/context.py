"""What the mirror modules share: the `applying()` flag and scheduling a back-fill."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.db import transaction

from federation.models import GuildLink

_applying: contextvars.ContextVar[bool] = contextvars.ContextVar("fed_applying", default=False)


@contextlib.contextmanager
def applying() -> Iterator[None]:
    token = _applying.set(True)
    try:
        yield
    finally:
        _applying.reset(token)


def is_applying() -> bool:
    return _applying.get()


def schedule_sync(link: GuildLink) -> None:
    from jobs.services import enqueue

    transaction.on_commit(
        lambda: enqueue("federation.sync_guild", {"link_id": link.id}, dedupe_key=f"sync:{link.id}")
    )
