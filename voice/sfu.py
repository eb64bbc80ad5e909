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

The worker makes the offer, with every audio slot in it, so nobody's arrival or departure needs
a renegotiation: the gateway tells clients which user holds which slot (`voice.slot`). Camera and
screen share (voice.streams) add m-lines by renegotiation, the worker always the offerer. The
worker's candidates (host addresses, gathered at once) are all in its offer; clients trickle
theirs after answering (`SFU.candidate`).

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
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError, OperationError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtp import RtpPacket
from aiortc.sdp import candidate_from_sdp

from voice.guard import AUDIO_BUDGET, VIDEO_BUDGET, Budget, Limiter, guard_transport
from voice.streams import (
    KEYFRAME_INTERVAL,
    KIND,
    SOURCES,
    Key,
    StreamSlot,
    capability_of,
    for_browsers,
    publish_codecs,
    route_by_mid,
)

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

    def __init__(self, kind: str = "audio") -> None:
        super().__init__()
        self.kind = kind

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
    keyframe_requests: int = 0  # PLIs sent to this member for a subscriber of its video
    offers: int = 0  # renegotiations of this member's peer connection


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
    # Video (voice.streams): only for clients that take renegotiation offers.
    video: bool = False
    camera: bool = False  # the node allows this member's camera (self_video, STREAM)
    screen: bool = False  # ... and its screen share with its audio (self_stream, STREAM)
    connection: str = field(default_factory=lambda: uuid.uuid4().hex)
    inbound: dict[str, Any] = field(default_factory=dict)  # source → recvonly transceiver
    seen: dict[str, tuple[int, Any]] = field(default_factory=dict)  # source → (ssrc, codec)
    source_seq: dict[str, int] = field(default_factory=dict)
    source_limit: dict[str, Limiter] = field(default_factory=dict)
    last_keyframe: dict[str, float] = field(default_factory=dict)
    streams: list[StreamSlot] = field(default_factory=list)
    version: int = 0  # of the worker's latest offer to this member
    dirty: bool = False  # the room changed while an offer waited for its answer
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

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

    def allowed(self, source: str) -> bool:
        return self.camera if source == "camera" else self.screen

    async def _on_source(self, source: str, packet: RtpPacket, arrival_time_ms: int = 0) -> None:
        """A packet of this member's camera, screen or screen audio (voice.streams)."""
        stats = self.stats
        stats.packets_in += 1
        stats.bytes_in += len(packet.payload)
        last = self.source_seq.get(source)
        if last is not None:
            gap = (packet.sequence_number - last) & 0xFFFF
            if gap == 0:
                stats.dropped_replay += 1
                return
            if 1 < gap < 0x8000:
                stats.packets_lost += gap - 1
        if last is None or (packet.sequence_number - last) & 0xFFFF < 0x8000:
            self.source_seq[source] = packet.sequence_number
        if not self.source_limit[source].allow(len(packet.payload)):
            stats.dropped_rate += 1
            return
        if not self.allowed(source):
            return
        if source not in self.seen or self.seen[source][0] != packet.ssrc:
            codec = next(
                (c for c in self.inbound[source]._codecs if c.payloadType == packet.payload_type),
                None,
            )
            if codec is None:
                return  # not a payload type of this m-line (RTX is not negotiated)
            fresh = source not in self.seen
            self.seen[source] = (packet.ssrc, codec)
            if fresh:
                self.room.renegotiate()  # the others get a slot for it
        key = (self.user_id, source)
        audio = KIND[source] == "audio"
        for other in list(self.room.participants.values()):
            if other is self or (audio and other.deaf):
                continue
            for stream in other.streams:
                if stream.key == key:
                    await stream.forward(packet, stats)
                    break

    async def request_keyframe(self, source: str, *, force: bool = False) -> None:
        """A PLI to this member for one of its video sources (a subscriber needs a keyframe)."""
        seen = self.seen.get(source)
        transceiver = self.inbound.get(source)
        if seen is None or transceiver is None or KIND[source] != "video":
            return
        now = time.monotonic()
        if not force and now - self.last_keyframe.get(source, 0.0) < KEYFRAME_INTERVAL:
            return
        self.last_keyframe[source] = now
        self.stats.keyframe_requests += 1
        with contextlib.suppress(ConnectionError):
            await transceiver.receiver._send_rtcp_pli(seen[0])

    def publishing(self) -> dict[str, Any]:
        """source → codec of what this member sends now and may send."""
        return {s: codec for s, (_, codec) in self.seen.items() if self.allowed(s)}

    def stream_map(self) -> dict[str, dict[str, str]]:
        """mid → whose source it carries, for the client's tiles."""
        return {
            str(s.transceiver.mid): {"user_id": str(s.key[0]), "source": s.key[1]}
            for s in self.streams
            if s.key is not None and s.transceiver.mid is not None
        }

    async def _keyframe_for(self, key: Key) -> None:
        publisher = self.room.participants.get(key[0])
        if publisher is not None:
            await publisher.request_keyframe(key[1])

    def plan_streams(self) -> bool:
        """Assign, recycle or park slots for what the others publish; True if any moved."""
        wanted: dict[Key, Any] = {}
        for other in self.room.participants.values():
            if other is not self:
                for source, codec in other.publishing().items():
                    wanted[(other.user_id, source)] = codec
        changed = False
        for parked in self.streams:
            if parked.key is not None and parked.key not in wanted:
                parked.assign(None, None)
                changed = True
        held = {s.key for s in self.streams if s.key is not None}
        for key, codec in wanted.items():
            if key in held:
                continue
            capability = capability_of(codec)
            kind = KIND[key[1]]
            stream: StreamSlot | None = next(
                (
                    s
                    for s in self.streams
                    if s.key is None and s.kind == kind and s.codec in (None, capability)
                ),
                None,
            )
            if stream is None:
                transceiver = self.pc.addTransceiver(_Idle(kind), direction="sendonly")
                stream = StreamSlot(transceiver, kind, self._keyframe_for)
                self.streams.append(stream)
            stream.assign(key, capability)
            changed = True
        return changed

    async def sync_streams(self) -> None:
        """Match this member's slots to what the others publish; offer again if they moved."""
        if not self.video:
            return
        async with self.lock:
            if self.pc.signalingState != "stable" or self.pc.connectionState == "closed":
                self.dirty = True
                return
            self.dirty = False
            if not self.plan_streams():
                return
            await self.pc.setLocalDescription(await self.pc.createOffer())
            self.version += 1
            self.stats.offers += 1
            self.room.emit(
                "offer",
                self.user_id,
                sdp=for_browsers(self.pc.localDescription.sdp),
                version=self.version,
                connection=self.connection,
                streams=self.stream_map(),
            )

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
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, event: str, user_id: int, **data: Any) -> None:
        self.sink({"event": event, "room": self.room_id, "user": user_id, **data})

    def renegotiate(self) -> None:
        """Someone's published sources changed: every member's slots follow (in the
        background: the packet or request that caused it must not wait for offers)."""
        for participant in list(self.participants.values()):
            if participant.video:
                task = asyncio.get_running_loop().create_task(self._sync(participant))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _sync(self, participant: Participant) -> None:
        try:
            await participant.sync_streams()
        except Exception:  # a closed or failed peer connection: its leave follows
            logger.exception("voice: renegotiating %s failed", participant.user_id)

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
        video: bool = False,
        camera: bool = False,
        screen: bool = False,
        ice_servers: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Add a participant (replacing an earlier connection of theirs) and return the
        worker's SDP offer and the participant's slot. `video`: the client takes renegotiation
        offers, so it gets the publishing m-lines and slots for the others' video."""
        self._ensure_watch()
        room = self.rooms.get(room_id)
        if room is not None and user_id in room.participants:
            await self.leave(room_id, user_id)
            room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(room_id, max(1, slots), self.sink)
        slot = room.free_slot()
        servers = [RTCIceServer(**server) for server in ice_servers or []]
        # One transport for every m-line, also for those added by a renegotiation.
        config = RTCConfiguration(iceServers=servers or None)
        config.bundlePolicy = RTCBundlePolicy.MAX_BUNDLE
        pc = RTCPeerConnection(config)
        limit = Limiter(self.budgets["audio"])
        participant = Participant(
            user_id,
            slot,
            pc,
            room,
            limit,
            can_speak=can_speak,
            deaf=deaf,
            video=video,
            camera=camera,
            screen=screen,
        )
        room.participants[user_id] = participant
        publish: dict[str, str] = {}
        try:
            inbound = pc.addTransceiver("audio", direction="recvonly")
            inbound.setCodecPreferences([OPUS])
            # aiortc has no hook for incoming RTP: its receiver's handler is replaced (pinned).
            inbound.receiver._handle_rtp_packet = participant._on_rtp  # type: ignore[method-assign]
            # m-line 0 leads the bundle: its DTLS transport carries all of this peer's media.
            guard_transport(inbound.receiver.transport, participant.stats)
            route_by_mid(inbound.receiver.transport)
            for _ in range(room.slots):
                transceiver = pc.addTransceiver(_Idle(), direction="sendonly")
                transceiver.setCodecPreferences([OPUS])
                participant.out.append(OutSlot(transceiver))
            if video:
                for source in SOURCES:
                    transceiver = pc.addTransceiver(KIND[source], direction="recvonly")
                    transceiver.setCodecPreferences(publish_codecs(source))
                    transceiver.receiver._handle_rtp_packet = functools.partial(  # type: ignore[method-assign]
                        participant._on_source, source
                    )
                    participant.inbound[source] = transceiver
                    participant.source_limit[source] = Limiter(self.budgets[KIND[source]])
                participant.plan_streams()

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                if pc.connectionState in ("failed", "closed"):
                    current = room.participants.get(user_id)
                    if current is participant:
                        await self.leave(room_id, user_id)
                        self.sink({"event": "disconnected", "room": room_id, "user": user_id})

            await pc.setLocalDescription(await pc.createOffer())
            publish = {s: str(t.mid) for s, t in participant.inbound.items()}
        except Exception:
            await self.leave(room_id, user_id)
            raise
        return {
            "sdp": for_browsers(pc.localDescription.sdp) if video else pc.localDescription.sdp,
            "type": "offer",
            "slot": slot,
            "connection": participant.connection,
            "version": 0,
            "publish": publish,
            "streams": participant.stream_map(),
        }

    async def answer(
        self, room_id: int, user_id: int, sdp: str, version: int | None = None
    ) -> None:
        participant = self.participant(room_id, user_id)
        async with participant.lock:
            if version is not None and version != participant.version:
                raise Refused("a newer offer is waiting for its answer")
            if participant.pc.signalingState != "have-local-offer":
                raise Refused("no offer is waiting for an answer")
            try:
                await participant.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=sdp, type="answer")
                )
            except (ValueError, InvalidStateError, OperationError, LookupError) as exc:
                raise Refused(f"unusable answer: {exc}") from None
        if participant.dirty:
            participant.room.renegotiate()

    async def candidate(
        self, room_id: int, user_id: int, candidate: str | None, mid: str | None = None
    ) -> None:
        """A trickled ICE candidate of the member's client (None: the end of them)."""
        participant = self.participant(room_id, user_id)
        if candidate is None:
            await participant.pc.addIceCandidate(None)
            return
        try:
            parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        except (ValueError, IndexError) as exc:
            raise Refused(f"not an ICE candidate: {exc}") from None
        # Bundled: every m-line shares m-line 0's transport, which takes the candidates.
        parsed.sdpMid = participant.pc.getTransceivers()[0].mid
        parsed.sdpMLineIndex = 0
        await participant.pc.addIceCandidate(parsed)

    def update(
        self,
        room_id: int,
        user_id: int,
        *,
        can_speak: bool | None = None,
        deaf: bool | None = None,
        camera: bool | None = None,
        screen: bool | None = None,
    ) -> None:
        participant = self.participant(room_id, user_id)
        if can_speak is not None:
            participant.can_speak = can_speak
            if not can_speak:
                participant.check_silence(time.monotonic())
        if deaf is not None:
            participant.deaf = deaf
        before = participant.publishing().keys()
        if camera is not None:
            participant.camera = camera
        if screen is not None:
            participant.screen = screen
        if participant.publishing().keys() != before:
            participant.room.renegotiate()
        for source in ("camera", "screen", "screen_audio"):
            if not participant.allowed(source):
                # Seen again from its next packet: a slot appears once there is something to
                # forward, not when a flag says there will be.
                participant.seen.pop(source, None)

    async def leave(self, room_id: int, user_id: int) -> bool:
        room = self.rooms.get(room_id)
        participant = room.participants.pop(user_id, None) if room else None
        if room is None or participant is None:
            return False
        if participant.speaking:
            participant.speaking = False
            room.emit("speaking", user_id, speaking=False)
        if participant.publishing():
            room.renegotiate()  # the others' slots for its camera or screen are parked
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
                        "publishing": sorted(p.publishing()),
                        "streams": len([x for x in p.streams if x.key is not None]),
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
