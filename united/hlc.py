"""Hybrid logical clock (Kulkarni et al., 2014) for ordering messages across nodes.

A stamp is (wall milliseconds, logical counter, node). It never runs backwards on a node,
it moves past every stamp the node has received, and it stays close to physical time, so
histories merged from several nodes sort the same way everywhere. Stamps are packed into a
64-bit integer `(ms << 16) | counter` for storage and indexing; the node name breaks ties.

Remote stamps more than MAX_DRIFT_MS ahead of our clock are refused: otherwise one node with
a broken clock would drag every clock it talks to into the future.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

COUNTER_BITS = 16
MAX_COUNTER = (1 << COUNTER_BITS) - 1
MAX_DRIFT_MS = 60_000


class ClockDriftError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Stamp:
    ms: int
    counter: int
    node: str = ""

    def pack(self) -> int:
        return (self.ms << COUNTER_BITS) | self.counter

    @classmethod
    def unpack(cls, packed: int, node: str = "") -> Stamp:
        return cls(int(packed) >> COUNTER_BITS, int(packed) & MAX_COUNTER, node)

    def encode(self) -> str:
        """Wire form, sortable as text within one width: `<ms>-<counter>-<node>`."""
        return f"{self.ms:013d}-{self.counter:05d}-{self.node}"

    @classmethod
    def decode(cls, text: str) -> Stamp:
        try:
            ms, counter, node = text.split("-", 2)
            stamp = cls(int(ms), int(counter), node)
        except ValueError:
            raise ValueError(f"malformed HLC stamp {text!r}") from None
        if stamp.ms < 0 or not 0 <= stamp.counter <= MAX_COUNTER:
            raise ValueError(f"HLC stamp out of range {text!r}")
        return stamp


class HybridLogicalClock:
    def __init__(self, node: str, wall_ms=lambda: time.time_ns() // 1_000_000) -> None:
        self.node = node
        self._wall_ms = wall_ms
        self._lock = threading.Lock()
        self._ms = 0
        self._counter = 0

    def _advance(self, ms: int, counter: int) -> Stamp:
        if counter > MAX_COUNTER:
            # Tens of thousands of events in one millisecond: borrow the next millisecond.
            ms, counter = ms + 1, 0
        self._ms, self._counter = ms, counter
        return Stamp(ms, counter, self.node)

    def now(self) -> Stamp:
        """A stamp for a local event (send)."""
        with self._lock:
            wall = self._wall_ms()
            if wall > self._ms:
                return self._advance(wall, 0)
            return self._advance(self._ms, self._counter + 1)

    def update(self, remote: Stamp) -> Stamp:
        """Merge a received stamp; returns the stamp for the receive event."""
        with self._lock:
            wall = self._wall_ms()
            if remote.ms - wall > MAX_DRIFT_MS:
                raise ClockDriftError(
                    f"remote stamp is {remote.ms - wall} ms ahead of this node's clock"
                )
            ms = max(self._ms, remote.ms, wall)
            if ms == self._ms == remote.ms:
                counter = max(self._counter, remote.counter) + 1
            elif ms == self._ms:
                counter = self._counter + 1
            elif ms == remote.ms:
                counter = remote.counter + 1
            else:
                counter = 0
            return self._advance(ms, counter)


_clock: HybridLogicalClock | None = None
_clock_lock = threading.Lock()


def clock() -> HybridLogicalClock:
    """This process's clock, named after the node's federation domain."""
    global _clock
    if _clock is None:
        with _clock_lock:
            if _clock is None:
                from django.conf import settings

                _clock = HybridLogicalClock(settings.FEDERATION_DOMAIN or "local")
    return _clock
