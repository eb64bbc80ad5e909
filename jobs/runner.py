"""The embedded mode's job runner: one daemon thread inside the node's process.

It drains due rows from the same job table production uses (so a slow remote delivery runs
here, never inside a member's request), then sleeps until the next row is due, a new row is
announced (`wake()`), or a second passes for housekeeping.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

_wake = threading.Event()
_stop = threading.Event()
_thread: threading.Thread | None = None
_last_beat = 0.0
MAX_SLEEP = 1.0


def wake() -> None:
    _wake.set()


def alive() -> bool:
    """True if the runner thread runs and has looped recently (for /readyz)."""
    return _thread is not None and _thread.is_alive() and time.monotonic() - _last_beat < 30


def started() -> bool:
    return _thread is not None


def _loop() -> None:
    global _last_beat
    from jobs import services

    housekept = 0.0
    while not _stop.is_set():
        _last_beat = time.monotonic()
        _wake.clear()
        # Housekeeping (stale leases, periodic jobs) once a second, not at every wake: a busy
        # channel wakes the runner for each message's search job, and doing it every time took
        # a sixth of the node's CPU under the gateway benchmark. The connection is kept between
        # rounds and dropped only after an error.
        housekeeping = _last_beat - housekept >= MAX_SLEEP
        try:
            services.run_due_jobs(housekeeping=housekeeping)
            sleep = services.next_due_in()
            if housekeeping:
                housekept = _last_beat
        except Exception:
            logger.exception("embedded job runner iteration failed; retrying in a second")
            sleep = MAX_SLEEP
            close_old_connections()
            connection.close()
        _wake.wait(MAX_SLEEP if sleep is None else min(sleep, MAX_SLEEP))
        # Let a burst of announcements gather into one round.
        time.sleep(0.02)


def start() -> None:
    global _thread
    if _thread is not None:
        return
    _stop.clear()
    _thread = threading.Thread(target=_loop, name="united-jobs", daemon=True)
    _thread.start()
    logger.info("embedded job runner started")


def stop(timeout: float = 10.0) -> None:
    """Let the current job finish, then end the thread (tests, orderly shutdown)."""
    global _thread
    if _thread is None:
        return
    _stop.set()
    _wake.set()
    _thread.join(timeout)
    _thread = None
