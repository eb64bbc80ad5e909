from __future__ import annotations

from datetime import timedelta

from jobs.services import periodic
from messaging import gateway
from messaging.search import indexing  # noqa: F401  (registers the search sync job)


@periodic("messaging.purge_gateway", every=timedelta(minutes=5))
def purge_gateway() -> None:
    gateway.purge_expired()


# A short lease: if the worker running the sweep dies, the next one takes over within a
# minute instead of after the default five (expired messages must not linger). Each run stops
# after SWEEP_BUDGET seconds, well inside the lease, so two sweeps never overlap; a backlog is
# finished by the next runs, every 15 s.
SWEEP_BUDGET = 20.0


@periodic("messaging.expire_messages", every=timedelta(seconds=15), lease_seconds=60)
def expire_messages() -> None:
    import time

    from messaging.services.messages import expire_due

    started = time.monotonic()
    while expire_due(batch=100) and time.monotonic() - started < SWEEP_BUDGET:
        pass


@periodic("messaging.presence_sweep", every=timedelta(seconds=30))
def presence_sweep() -> None:
    from messaging import presence

    presence.sweep()
