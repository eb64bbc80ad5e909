"""The selective forwarding unit: rooms of aiortc peer connections that forward RTP, never mix.

aiortc has no SFU mode (its `MediaRelay` decodes and re-encodes per subscriber), so the worker
bypasses its media pipeline at both ends while keeping its ICE, DTLS and SRTP:

* inbound: each participant's peer connection has one `recvonly` audio transceiver. Its
  receiver's `_handle_rtp_packet` (called by the DTLS transport with a packet that is already
  SRTP-decrypted and parsed, once) is replaced by `Participant._on_rtp`, so aiortc's jitter
  buffer and Opus decoder never see a packet.
* outbound: each peer connection also has `slots` `sendonly` transceivers, slot k carrying the
  participant whose room-wide slot is k (the participant's own slot stays silent). Their
  senders are given a track that never yields, so aiortc's encoder loop sleeps forever;
  `OutSlot.forward` rewrites the sequence number and timestamp, serialises the packet with the
  sender's negotiated header-extension ids and hands it to the DTLS transport, which encrypts it
  once per subscriber. The Opus payload is copied, not touched.

The worker makes the offer, with every slot in it, so nobody's arrival or departure needs a
renegotiation: the gateway tells clients which user holds which slot (`voice.slot`). ICE is not
trickled: aiortc gathers before it answers, and clients answer once their gathering completes,
so the candidates travel inside the SDP.

Speaking comes from the RFC 6464 audio-level header extension browsers (and aiortc) put on every
packet; a participant speaks while packets louder than SPEAKING_LEVEL keep arriving, and stops
SILENCE_HANG after the last one. Without the extension, payload size stands in (Opus DTX and
silence frames are a few bytes).

Each participant sends within a budget (voice.guard): packets past its token buckets, replays
and malformed RTCP are dropped and counted in `stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtp import RtpPacket

from voice.guard import AUDIO_BUDGET, VIDEO_BUDGET, Budget, Limiter, guard_transport

logger = logging.getLogger(__name__)

OPUS = RTCRtpCodecCapability(mimeType="audio/opus", clockRate=48000, channels=2)
SPEAKING_LEVEL = 70  # -dBov: louder than -70 dBov counts as speech (noise-suppressed input)
SILENCE_HANG = 0.4  # seconds of quiet before "stopped speaking"
SILENT_PAYLOAD = 20  # bytes: an Opus packet this small carries silence or comfort noise

EventSink = Callable[[dict[str, Any]], None]


class Refused(Exception):
    """A join the room cannot take (full, already in, unknown participant)."""


class _Idle(MediaStreamTrack):
    """Parks an aiortc sender: its encoder loop awaits a frame that never comes."""

    kind = "audio"

    async def recv(self) -> Any:
        await asyncio.Event().wait()


@dataclass
class Stats:
    packets_in: int = 0
    packets_out: int = 0
    packets_lost: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    dropped_rate: int = 0  # over the sender's budget (media or RTCP)
    dropped_replay: int = 0  # refused by SRTP's replay window, or a repeated sequence number
    dropped_malformed: int = 0  # RTCP aiortc cannot parse
    dropped_unauthenticated: int = 0  # SRTP/SRTCP that fails authentication


class OutSlot:
    """One outbound stream of a subscriber's peer connection (one source at a time)."""

    def __init__(self, transceiver: Any) -> None:
        self.transceiver = transceiver
        self.sender = transceiver.sender
        self.seq = random.randint(0, 0xFFFF)
        self.ts_offset = random.randint(0, 0xFFFFFFFF)
        self.payload_type: int | None = None
        self.extensions: Any = None

    def ready(self) -> bool:
        if self.payload_type is None:
            codecs = self.transceiver._codecs
            if not codecs or self.sender.transport is None:
                return False
            self.payload_type = codecs[0].payloadType
            self.extensions = self.sender._RTCRtpSender__rtp_header_extensions_map
        return self.sender.transport.state == "connected"

    async def forward(self, packet: RtpPacket, stats: Stats) -> None:
        if not self.ready():
            return
        out = RtpPacket(
            # ready() set it (the negotiated codec) or returned False.
            payload_type=self.payload_type,  # type: ignore[arg-type]
            marker=packet.marker,
            sequence_number=self.seq,
            timestamp=(packet.timestamp + self.ts_offset) & 0xFFFFFFFF,
            ssrc=self.sender._ssrc,
            payload=packet.payload,
        )
        self.seq = (self.seq + 1) & 0xFFFF
        out.extensions.mid = self.transceiver.mid
        out.extensions.audio_level = packet.extensions.audio_level
        data = out.serialize(self.extensions)
        try:
            await self.sender.transport._send_rtp(data)
        except ConnectionError:
            return
        stats.packets_out += 1
        stats.bytes_out += len(packet.payload)


@dataclass
class Participant:
    user_id: int
    slot: int
    pc: RTCPeerConnection
    room: Room
    limit: Limiter
    can_speak: bool = True
    deaf: bool = False
    out: list[OutSlot] = field(default_factory=list)
    speaking: bool = False
    last_loud: float = 0.0
    level: int = 127  # last -dBov heard
    stats: Stats = field(default_factory=Stats)
    _last_seq: int | None = None

    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int = 0) -> None:
        stats = self.stats
        stats.packets_in += 1
        stats.bytes_in += len(packet.payload)
        if self._last_seq is not None:
            gap = (packet.sequence_number - self._last_seq) & 0xFFFF
            if 1 < gap < 0x8000:
                stats.packets_lost += gap - 1
            if gap == 0:
                stats.dropped_replay += 1
                return
            if gap >= 0x8000:
                return  # late: its successors are out, forwarding it now would garble order
        self._last_seq = packet.sequence_number
        # After the sequence check, so that packets dropped here do not count as lost.
        if not self.limit.allow(len(packet.payload)):
            stats.dropped_rate += 1
            return
        if not self.can_speak:
            return
        self._track_level(packet)
        for other in list(self.room.participants.values()):
            if other is self or other.deaf or not other.out:
                continue
            await other.out[self.slot].forward(packet, stats)

    def _track_level(self, packet: RtpPacket) -> None:
        level = packet.extensions.audio_level
        if level is not None:
            self.level = level[1]
            loud = self.level <= SPEAKING_LEVEL
        else:
            loud = len(packet.payload) > SILENT_PAYLOAD
        if loud:
            self.last_loud = time.monotonic()
            if not self.speaking:
                self.speaking = True
                self.room.emit("speaking", self.user_id, speaking=True)

    def check_silence(self, now: float) -> None:
        if self.speaking and (now - self.last_loud > SILENCE_HANG or not self.can_speak):
            self.speaking = False
            self.room.emit("speaking", self.user_id, speaking=False)


class Room:
    """One active voice channel: its participants, each holding one room-wide slot."""

    def __init__(self, room_id: int, slots: int, sink: EventSink) -> None:
        self.room_id = room_id
        self.slots = slots
        self.sink = sink
        self.participants: dict[int, Participant] = {}

    def emit(self, event: str, user_id: int, **data: Any) -> None:
        self.sink({"event": event, "room": self.room_id, "user": user_id, **data})

    def free_slot(self) -> int:
        taken = {p.slot for p in self.participants.values()}
        for slot in range(self.slots):
            if slot not in taken:
                return slot
        raise Refused("room is full")


class SFU:
    """All rooms of one worker process."""

    def __init__(
        self, sink: EventSink | None = None, budgets: dict[str, Budget] | None = None
    ) -> None:
        self.rooms: dict[int, Room] = {}
        # Per kind of inbound track; only audio exists yet, video's is there for when it does.
        self.budgets = {"audio": AUDIO_BUDGET, "video": VIDEO_BUDGET, **(budgets or {})}
        self.sink: EventSink = sink or (lambda event: None)
        self.started = time.monotonic()
        self.totals = Stats()
        self._watch: asyncio.Task[None] | None = None

    def _ensure_watch(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.get_running_loop().create_task(self._watch_silence())

    async def _watch_silence(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for room in list(self.rooms.values()):
                for participant in list(room.participants.values()):
                    participant.check_silence(now)

    def participant(self, room_id: int, user_id: int) -> Participant:
        room = self.rooms.get(room_id)
        if room is None or user_id not in room.participants:
            raise Refused("not in this room")
        return room.participants[user_id]

    async def join(
        self,
        room_id: int,
        user_id: int,
        *,
        slots: int,
        can_speak: bool = True,
        deaf: bool = False,
        ice_servers: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Add a participant (replacing an earlier connection of theirs) and return the
        worker's SDP offer and the participant's slot."""
        self._ensure_watch()
        room = self.rooms.get(room_id)
        if room is not None and user_id in room.participants:
            await self.leave(room_id, user_id)
            room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(room_id, max(1, slots), self.sink)
        slot = room.free_slot()
        servers = [RTCIceServer(**server) for server in ice_servers or []]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers or None))
        limit = Limiter(self.budgets["audio"])
        participant = Participant(user_id, slot, pc, room, limit, can_speak=can_speak, deaf=deaf)
        room.participants[user_id] = participant
        try:
            inbound = pc.addTransceiver("audio", direction="recvonly")
            inbound.setCodecPreferences([OPUS])
            # aiortc has no hook for incoming RTP: its receiver's handler is replaced (pinned).
            inbound.receiver._handle_rtp_packet = participant._on_rtp  # type: ignore[method-assign]
            # m-line 0 leads the bundle: its DTLS transport carries all of this peer's media.
            guard_transport(inbound.receiver.transport, participant.stats)
            for _ in range(room.slots):
                transceiver = pc.addTransceiver(_Idle(), direction="sendonly")
                transceiver.setCodecPreferences([OPUS])
                participant.out.append(OutSlot(transceiver))

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                if pc.connectionState in ("failed", "closed"):
                    current = room.participants.get(user_id)
                    if current is participant:
                        await self.leave(room_id, user_id)
                        self.sink({"event": "disconnected", "room": room_id, "user": user_id})

            await pc.setLocalDescription(await pc.createOffer())
        except Exception:
            await self.leave(room_id, user_id)
            raise
        return {"sdp": pc.localDescription.sdp, "type": "offer", "slot": slot}

    async def answer(self, room_id: int, user_id: int, sdp: str) -> None:
        participant = self.participant(room_id, user_id)
        await participant.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def update(
        self, room_id: int, user_id: int, *, can_speak: bool | None = None, deaf: bool | None = None
    ) -> None:
        participant = self.participant(room_id, user_id)
        if can_speak is not None:
            participant.can_speak = can_speak
            if not can_speak:
                participant.check_silence(time.monotonic())
        if deaf is not None:
            participant.deaf = deaf

    async def leave(self, room_id: int, user_id: int) -> bool:
        room = self.rooms.get(room_id)
        participant = room.participants.pop(user_id, None) if room else None
        if room is None or participant is None:
            return False
        if participant.speaking:
            participant.speaking = False
            room.emit("speaking", user_id, speaking=False)
        for name, value in vars(participant.stats).items():
            setattr(self.totals, name, getattr(self.totals, name) + value)
        if not room.participants:
            self.rooms.pop(room_id, None)
        with contextlib.suppress(Exception):
            await participant.pc.close()
        return True

    async def close(self) -> None:
        for room_id, room in list(self.rooms.items()):
            for user_id in list(room.participants):
                await self.leave(room_id, user_id)
        if self._watch:
            self._watch.cancel()

    def stats(self) -> dict[str, Any]:
        totals = Stats(**vars(self.totals))
        rooms = []
        for room in self.rooms.values():
            members = []
            for p in room.participants.values():
                for name, value in vars(p.stats).items():
                    setattr(totals, name, getattr(totals, name) + value)
                members.append(
                    {
                        "user_id": str(p.user_id),
                        "slot": p.slot,
                        "speaking": p.speaking,
                        "level": -p.level,
                        "state": p.pc.connectionState,
                        **vars(p.stats),
                    }
                )
            rooms.append({"channel_id": str(room.room_id), "participants": members})
        usage = time.process_time()
        uptime = max(time.monotonic() - self.started, 1e-6)
        return {
            "rooms": len(self.rooms),
            "participants": sum(len(r.participants) for r in self.rooms.values()),
            **vars(totals),
            "cpu_seconds": round(usage, 3),
            "cpu_percent": round(100 * usage / uptime, 1),
            "uptime": round(uptime, 1),
            "budgets": {kind: asdict(budget) for kind, budget in self.budgets.items()},
            "detail": rooms,
        }
