"""`manage.py voice_worker [--listen HOST:PORT]`: run the voice SFU worker (voice.worker)."""

from __future__ import annotations

import asyncio
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from voice.guard import Budget
from voice.ice import restrict_host_addresses
from voice.worker import Worker

logger = logging.getLogger(__name__)


def _disconnected(room: int, user: int) -> None:
    from voice import services

    close_old_connections()
    try:
        services.worker_disconnected(room, user)
    except Exception:  # logged: the worker keeps serving the other rooms
        logger.exception("could not record that user %s left room %s", user, room)
    finally:
        close_old_connections()


class Command(BaseCommand):
    help = "Run the voice worker (aiortc SFU) on its private control socket."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default=None, help="host:port (default VOICE_WORKER_ADDR)")
        parser.add_argument(
            "--standalone",
            action="store_true",
            help="no database: a failed peer is dropped without updating voice states (bench)",
        )

    def handle(self, *args, listen: str | None = None, standalone: bool = False, **options) -> None:
        self.standalone = standalone
        host, port = settings.VOICE_WORKER_ADDR
        if listen:
            host, _, raw = listen.rpartition(":")
            port = int(raw)
        restrict_host_addresses(settings.VOICE_ICE_ADDRESSES)
        asyncio.run(self._serve(host, port))

    async def _serve(self, host: str, port: int) -> None:
        budgets = {
            "audio": Budget.of(*settings.VOICE_AUDIO_BUDGET),
            "video": Budget.of(*settings.VOICE_VIDEO_BUDGET),
        }
        worker = Worker(on_disconnect=None if self.standalone else _disconnected, budgets=budgets)
        bound = await worker.start(host, port)
        self.stdout.write(f"voice worker listening on {host}:{bound}", ending="\n")
        self.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await worker.close()
