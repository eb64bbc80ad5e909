"""Snowflake ids: 64-bit, time-sortable, unique across every process of a node.

Layout (Discord's, with our own epoch):

    | 42 bits: ms since UNITED_EPOCH | 10 bits: worker | 12 bits: sequence |

The worker number is `host_id` (4 bits, UNITED_HOST_ID, distinct per machine) followed by a
6-bit slot that each process leases with an exclusive `flock` in the data directory. A lock
dies with its process, so a crashed process frees its slot and two live processes can never
hold the same one. A forked child drops the parent's lease and takes its own.

A process that takes over a slot starts at the millisecond after both its lease time and the
high-water mark the previous holder left in the slot file (written only when that holder ran
ahead of the wall clock), so it cannot repeat an id of the slot's previous (exited) holder.

A clock that steps backwards does not produce smaller or repeated ids: the generator keeps the
last timestamp it used and carries on from there until the wall clock catches up.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

UNITED_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SLOTS_PER_HOST = 64
_SEQUENCE_BITS = 12
_WORKER_BITS = 10
_MAX_SEQUENCE = (1 << _SEQUENCE_BITS) - 1


class WorkerSlotsExhausted(RuntimeError):
    pass


def _lock_dir() -> Path:
    from django.conf import settings

    path = Path(settings.DATA_DIR) / "run" / "id-slots"
    path.mkdir(parents=True, exist_ok=True)
    return path


class SnowflakeGenerator:
    def __init__(
        self,
        host_id: int = 0,
        clock=time.time_ns,  # injectable for tests (clock skew)
        lock_dir: Path | None = None,
    ) -> None:
        self._host_id = host_id
        self._clock = clock
        self._lock_dir = lock_dir
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0
        self._worker: int | None = None
        self._lease_fd: int | None = None
        self._pid = os.getpid()

    def _lease(self) -> int:
        lock_dir = self._lock_dir or _lock_dir()
        lock_dir.mkdir(parents=True, exist_ok=True)
        for slot in range(SLOTS_PER_HOST):
            fd = os.open(lock_dir / f"slot-{self._host_id}-{slot}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._lease_fd = fd
            return (self._host_id << 6) | slot
        raise WorkerSlotsExhausted(
            f"all {SLOTS_PER_HOST} id slots of host {self._host_id} are held by live processes"
        )

    def _after_fork(self) -> None:
        # The child shares the parent's locked file description: close it without unlocking
        # (closing a dup does not release the parent's flock) and lease a slot of its own.
        if self._lease_fd is not None:
            try:
                os.close(self._lease_fd)
            except OSError:
                pass
        self._lease_fd = None
        self._worker = None
        self._last_ms = -1
        self._sequence = 0
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def worker(self) -> int:
        if os.getpid() != self._pid:
            self._after_fork()
        if self._worker is None:
            self._worker = self._lease()
            # The slot's previous holder has exited, but it may have made ids in this very
            # millisecond, or ahead of the wall clock (its high-water mark in the slot file):
            # start after both so ours are all larger.
            raw = os.pread(self._lease_fd, 8, 0) if self._lease_fd is not None else b""
            high_water = int.from_bytes(raw, "big") if len(raw) == 8 else -1
            now_ms = self._clock() // 1_000_000 - UNITED_EPOCH_MS
            self._last_ms = max(self._last_ms, now_ms, high_water)
            self._sequence = _MAX_SEQUENCE
        return self._worker

    def next_id(self) -> int:
        if os.getpid() != self._pid:
            self._after_fork()
        with self._lock:
            worker = self.worker
            now_ms = self._clock() // 1_000_000 - UNITED_EPOCH_MS
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._sequence = 0
            else:
                # Same millisecond, or the clock went backwards: stay on the last timestamp.
                self._sequence += 1
                if self._sequence > _MAX_SEQUENCE:
                    self._last_ms += 1
                    self._sequence = 0
                    if self._last_ms > now_ms and self._lease_fd is not None:
                        # Ahead of the wall clock: remember it for the slot's next holder.
                        os.pwrite(self._lease_fd, self._last_ms.to_bytes(8, "big"), 0)
            return (
                (self._last_ms << (_WORKER_BITS + _SEQUENCE_BITS))
                | (worker << _SEQUENCE_BITS)
                | self._sequence
            )


_generator: SnowflakeGenerator | None = None
_generator_lock = threading.Lock()


def _default_generator() -> SnowflakeGenerator:
    global _generator
    if _generator is None:
        with _generator_lock:
            if _generator is None:
                from django.conf import settings

                _generator = SnowflakeGenerator(host_id=settings.CONFIG.host_id)
    return _generator


def new_id() -> int:
    """A fresh snowflake; use as a model field default."""
    return _default_generator().next_id()


# Ids are signed 64-bit integers in the database: anything above is no object of ours.
MAX_SNOWFLAKE = 2**63 - 1


def parse_snowflake(value: object) -> int | None:
    """An id from untrusted JSON (a gateway frame, an activity): an int or a string of digits
    within 1..2**63-1, else None. Past that range the database cannot hold it (SQLite raises
    OverflowError, PostgreSQL an out-of-range error), so it must never reach a query."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_SNOWFLAKE:
        return value
    return None


def snowflake_time(snowflake: int) -> datetime:
    ms = (int(snowflake) >> (_WORKER_BITS + _SEQUENCE_BITS)) + UNITED_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def snowflake_at(moment: datetime) -> int:
    """The smallest snowflake that could have been made at `moment` (for range queries)."""
    ms = int(moment.timestamp() * 1000) - UNITED_EPOCH_MS
    return max(ms, 0) << (_WORKER_BITS + _SEQUENCE_BITS)
