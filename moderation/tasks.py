from __future__ import annotations

from datetime import timedelta

from jobs.services import periodic


@periodic("moderation.expire_sanctions", every=timedelta(seconds=30))
def expire_sanctions() -> None:
    from moderation.services.sanctions import expire_sanctions as expire

    while expire():
        pass
