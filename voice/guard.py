"""What the voice worker accepts from a participant: a budget per sender, replays and malformed
RTCP dropped and counted.

A participant who has passed the node's checks still controls what its client sends, and every
packet it sends is forwarded to everyone else in its room, so one member could make the worker
forward thousands of packets a second to each of them. Each sender therefore gets a token bucket
of packets and one of bytes (`Budget`), sized for what one Opus stream can need (Opus at its
510 kbit/s maximum in 20 ms frames is 50 packets and 64 KiB a second); video will get its own,
larger budget when it exists. Packets over the budget are not forwarded.

The checks sit where aiortc hands the worker decrypted data, so they cost nothing for packets
SRTP already refused and cannot be triggered by anyone without the participant's keys:

* Replays are refused by libsrtp's replay database (per SSRC, a window of 1,024 packet indexes,
  which aiortc configures); `guard_transport` counts its refusals instead of letting aiortc
  drop them silently. An RTP sequence number seen twice in a row is dropped as a replay too
  (`Participant._on_rtp`).
* Malformed RTCP (shorter than a header, a version other than 2, a length field past the end
  of the packet, …) is recognised by aiortc's own parser, `RtcpPacket.parse`; it was already
  dropped, and is now counted. RTCP has a small fixed budget of its own (RTCP_BUDGET): receiver
  reports and feedback are a few packets a second, and they never compete with the media budget.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pylibsrtp
from aiortc.rtp import RtcpPacket


@dataclass(frozen=True)
class Budget:
    """A sender's sustained rate and burst, in packets and in bytes of RTP payload."""

    packets: float
    packet_burst: float
    bytes: float
    byte_burst: float

    @classmethod
    def of(cls, packets: tuple[int, int], data: tuple[int, int]) -> Budget:
        """From config's (rate, burst) pairs."""
        return cls(packets[0], packets[1], data[0], data[1])


AUDIO_BUDGET = Budget(100, 200, 64 * 1024, 128 * 1024)
# Screen share and camera video at up to ~8 Mbit/s, keyframes in bursts of a few hundred packets.
VIDEO_BUDGET = Budget(1000, 2000, 1024 * 1024, 2 * 1024 * 1024)
# RTCP per participant: reports and feedback for every slot it receives, whatever the room size.
RTCP_BUDGET = Budget(50, 100, 64 * 1024, 64 * 1024)


class Limiter:
    """Two token buckets, packets and bytes; a packet passes only if both have room for it."""

    def __init__(self, budget: Budget, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.clock = clock
        self.packets = float(budget.packet_burst)
        self.bytes = float(budget.byte_burst)
        self.last = clock()

    def allow(self, size: int) -> bool:
        now = self.clock()
        elapsed = max(now - self.last, 0.0)
        self.last = now
        budget = self.budget
        self.packets = min(budget.packet_burst, self.packets + elapsed * budget.packets)
        self.bytes = min(budget.byte_burst, self.bytes + elapsed * budget.bytes)
        if self.packets < 1 or self.bytes < size:
            return False
        self.packets -= 1
        self.bytes -= size
        return True


class _CountedSrtp:
    """Stands in for the DTLS transport's inbound SRTP session to count what libsrtp refuses
    (aiortc logs it at debug level and drops it). The session's own checks are unchanged."""

    def __init__(self, session: Any, stats: Any) -> None:
        self.session = session
        self.stats = stats

    def _count(self, exc: pylibsrtp.Error) -> None:
        if str(exc).startswith("replay check failed"):
            self.stats.dropped_replay += 1
        else:
            self.stats.dropped_unauthenticated += 1

    def unprotect(self, data: bytes) -> bytes:
        try:
            return self.session.unprotect(data)
        except pylibsrtp.Error as exc:
            self._count(exc)
            raise

    def unprotect_rtcp(self, data: bytes) -> bytes:
        try:
            return self.session.unprotect_rtcp(data)
        except pylibsrtp.Error as exc:
            self._count(exc)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def guard_transport(dtls: Any, stats: Any) -> None:
    """Count SRTP replays and refusals, and drop (counted) malformed or excess RTCP, on one
    participant's DTLS transport (the bundle's, which carries all its media). Reaches into
    `RTCDtlsTransport._rx_srtp` and `_handle_rtcp_data` of the pinned aiortc."""

    def on_state() -> None:
        # aiortc creates the SRTP session just before it reports "connected", and only then
        # starts reading packets, so wrapping it here misses none.
        session = getattr(dtls, "_rx_srtp", None)
        if session is not None and not isinstance(session, _CountedSrtp):
            dtls._rx_srtp = _CountedSrtp(session, stats)

    dtls.on("statechange", on_state)
    original: Callable[[bytes], Awaitable[None]] = dtls._handle_rtcp_data
    rtcp_limit = Limiter(RTCP_BUDGET)

    async def handle_rtcp(data: bytes) -> None:
        if not rtcp_limit.allow(len(data)):
            stats.dropped_rate += 1
            return
        try:
            RtcpPacket.parse(data)
        except ValueError:
            stats.dropped_malformed += 1
            return
        await original(data)

    dtls._handle_rtcp_data = handle_rtcp
