from __future__ import annotations

from datetime import timedelta

from jobs.services import periodic
from media import services


@periodic("media.collect_garbage", every=timedelta(minutes=15))
def collect_garbage() -> None:
    services.do_collect_garbage()
