from __future__ import annotations

from datetime import timedelta

from jobs.services import periodic
from messaging import gateway
from messaging.search import indexing  # noqa: F401  (registers the search sync job)


@periodic("messaging.purge_gateway", every=timedelta(minutes=5))
def purge_gateway() -> None:
    gateway.purge_expired()


@periodic("messaging.expire_messages", every=timedelta(seconds=15))
def expire_messages() -> None:
    from messaging.services.messages import expire_due

    while expire_due():
        pass


@periodic("messaging.presence_sweep", every=timedelta(seconds=30))
def presence_sweep() -> None:
    from messaging import presence

    presence.sweep()
