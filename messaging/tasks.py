from __future__ import annotations

from datetime import timedelta

from jobs.services import periodic
from messaging import gateway


@periodic("messaging.purge_gateway", every=timedelta(minutes=5))
def purge_gateway() -> None:
    gateway.purge_expired()
