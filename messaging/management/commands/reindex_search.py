"""Rebuild the message search index of any engine from the database."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from messaging.search import BACKENDS, get_backend
from messaging.search.indexing import reindex

BAR = 30


class Command(BaseCommand):
    help = "Rebuild the message search index from the database (clears it first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--backend",
            choices=sorted(BACKENDS),
            help="engine to rebuild (default: the configured one, UNITED_SEARCH_BACKEND)",
        )
        parser.add_argument("--batch", type=int, default=2000, help="messages per write")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = get_backend(options["backend"])
        started = time.monotonic()
        err = self.stderr

        def progress(done: int, total: int) -> None:
            share = done / total if total else 1.0
            filled = int(BAR * min(share, 1.0))
            rate = done / max(time.monotonic() - started, 1e-6)
            err.write(
                f"\r[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total} "
                f"({share:.0%}, {rate:,.0f} msg/s)",
                ending="",
            )
            err.flush()

        done = reindex(backend, batch=options["batch"], progress=progress)
        err.write("")
        self.stdout.write(
            f"Indexed {done} message(s) into {backend.name} in {time.monotonic() - started:.1f}s."
        )
