"""The scheduled backup: a periodic job of the job queue, on when UNITED_BACKUP_TARGET is set."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from backup import services
from jobs.services import periodic

logger = logging.getLogger(__name__)


def scheduled_backup() -> None:
    cfg = settings.CONFIG
    result = services.do_backup(
        services.configured_target(), services.configured_sealer(), keep=cfg.backup_keep
    )
    logger.info(
        "backup %s: %s rows, %s blobs (%s new), %s old archive(s) removed",
        result.archive,
        result.rows,
        result.blobs,
        result.blobs_written,
        len(result.removed),
    )


if settings.CONFIG.backup_target:
    # A long backup must not look like a dead worker: the lease covers a large node.
    periodic(
        "backup.scheduled",
        every=timedelta(hours=settings.CONFIG.backup_every_hours),
        max_attempts=3,
        lease_seconds=6 * 3600,
    )(scheduled_backup)
