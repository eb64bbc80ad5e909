"""Camera, screen share and screen audio in the worker: published on fixed m-lines, forwarded on
slots that come and go by renegotiation, never decoded.

A member's peer connection (when its client can renegotiate, i.e. the node's own web client)
has three more `recvonly` m-lines after the audio slots, one per SOURCES entry. The client
answers them `sendonly` with no track and starts or stops sending with `replaceTrack`, so
publishing never renegotiates the publisher. Packets arrive already SRTP-decrypted, as for the
microphone, on `Participant._on_source` (voice.sfu).

Subscribing does renegotiate: when a source starts (its first packet, while the node allows it)
or stops, the worker adds, recycles or parks (`inactive`) a `sendonly` m-line on every other
member's peer connection and sends them a new offer (`offer` events; the worker is the only
offerer, so there is no glare). A `StreamSlot` carries one source at a time; it keeps the
publisher's sequence gaps (so a subscriber sees real loss and asks for a keyframe) with an
offset that is recomputed when the slot's source changes, so the output stays continuous.

Keyframes: a subscriber's PLI or FIR on a slot is relayed to the publisher as a PLI (at most one
per source every KEYFRAME_INTERVAL), and a slot asks for one itself before its first packet, so a
member who subscribes late renders within a round trip instead of waiting for the encoder's next
periodic keyframe (100 s for aiortc's VP8, several seconds for browsers).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)

SOURCES = ("camera", "screen", "screen_audio")
KIND = {"camera": "video", "screen": "video", "screen_audio": "audio"}
KEYFRAME_INTERVAL = 0.25  # seconds: PLIs from many subscribers collapse into one per source
TIMESTAMP_STEP = {"video": 3000, "audio": 960}  # one frame at 90 kHz / 20 ms at 48 kHz

# VP8 first: every browser decodes it, and a forwarded stream must be decodable by all of the
# room; H.264 is used when a publisher's browser answers without VP8.
VIDEO_CODECS = [
    c
    for name in ("video/VP8", "video/H264")
    for c in RTCRtpSender.getCapabilities("video").codecs
    if c.mimeType == name
]
OPUS = next(c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/opus")

Key = tuple[int, str]  # (publisher's user id, source)


def starts_keyframe(codec: RTCRtpCodecCapability | None, payload: bytes) -> bool:
    """Whether this RTP payload begins a keyframe, from the payload headers only (RFC 7741 for
    VP8, RFC 6184 for H.264); an unknown codec counts as yes (nothing is held back)."""
    if codec is None or not payload:
        return codec is None
    name = codec.mimeType.lower()
    if name == "video/vp8":
        first = payload[0]
        if not first & 0x10 or first & 0x07:  # S: start of a partition; PID 0: the first one
            return False
        i = 1
        if first & 0x80 and len(payload) > 1:  # X: extension byte(s)
            ext = payload[1]
            i = 2
            if ext & 0x80:  # I: picture id, 7 or 15 bits
                i += 2 if len(payload) > i and payload[i] & 0x80 else 1
            if ext & 0x40:  # L: TL0PICIDX
                i += 1
            if ext & 0x30:  # T or K: TID/Y/KEYIDX
                i += 1
        return len(payload) > i and not payload[i] & 0x01  # P bit 0: a key frame
    if name == "video/h264":
        nal = payload[0] & 0x1F
        if nal in (5, 7):  # IDR slice, or the SPS that precedes it
            return True
        if nal == 24:  # STAP-A: several NAL units, each after a 2-byte size
            i = 1
            while i + 2 < len(payload):
                size = int.from_bytes(payload[i : i + 2], "big")
                if payload[i + 2] & 0x1F in (5, 7):
                    return True
                i += 2 + size
            return False
        if nal == 28 and len(payload) > 1:  # FU-A: the start fragment of an IDR slice
            return bool(payload[1] & 0x80) and payload[1] & 0x1F == 5
        return False
    return True


def publish_codecs(source: str) -> list[RTCRtpCodecCapability]:
    return VIDEO_CODECS if KIND[source] == "video" else [OPUS]


def capability_of(codec: RTCRtpCodecParameters) -> RTCRtpCodecCapability:
    """The capability a subscriber's slot must offer to carry what this codec produces."""
    for capability in publish_codecs("camera") + [OPUS]:
        if capability.mimeType.lower() == codec.mimeType.lower() and (
            capability.parameters == codec.parameters or capability.mimeType == "audio/opus"
        ):
            return capability
    raise LookupError(codec.mimeType)


class StreamSlot:
    """One `sendonly` m-line of a subscriber: a publisher's source, or nothing (parked)."""

    def __init__(
        self, transceiver: Any, kind: str, on_keyframe: Callable[[Key], Awaitable[None]]
    ) -> None:
        self.transceiver = transceiver
        self.sender = transceiver.sender
        self.kind = kind
        self.codec: RTCRtpCodecCapability | None = None
        self.key: Key | None = None
        self.fresh = True  # no packet out since (re)assignment: ask the publisher for a keyframe
        self.on_keyframe = on_keyframe
        self.in_ssrc: int | None = None
        self.seq_offset = 0
        self.ts_offset = 0
        self.last_seq = random.randint(0, 0xFFFF)
        self.last_ts = random.randint(0, 0xFFFFFFFF)
        self.payload_type: int | None = None
        self.extensions: Any = None
        original = self.sender._handle_rtcp_packet

        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                if self.key is not None:
                    await self.on_keyframe(self.key)
                return
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                return  # nothing to resend: the sender's history is aiortc's, and it sent nothing
            await original(packet)

        # aiortc routes a subscriber's feedback for this SSRC to the sender (pinned aiortc).
        self.sender._handle_rtcp_packet = handle_rtcp
        # Its own stream: browsers must not try to lip-sync it with another slot's audio.
        self.sender._stream_id = f"slot-{random.getrandbits(64):016x}"

    def assign(self, key: Key | None, codec: RTCRtpCodecCapability | None) -> None:
        self.key = key
        self.fresh = True
        self.in_ssrc = None
        if key is None:
            self.transceiver.direction = "inactive"
            return
        self.codec = codec
        self.transceiver.setCodecPreferences([codec])
        self.transceiver.direction = "sendonly"
        self.payload_type = None

    def negotiated(self) -> bool:
        if self.key is None or self.transceiver.currentDirection != "sendonly":
            return False
        if self.sender.transport is None or self.sender.transport.state != "connected":
            return False
        if self.payload_type is None:
            codecs = [c for c in self.transceiver._codecs if c.mimeType.lower() != "video/rtx"]
            if not codecs:
                return False
            self.payload_type = codecs[0].payloadType
            self.extensions = self.sender._RTCRtpSender__rtp_header_extensions_map
        return True

    async def forward(self, packet: RtpPacket, stats: Any) -> None:
        if not self.negotiated():
            return
        if self.fresh and self.kind == "video" and self.key is not None:
            # Until a keyframe starts, what arrives cannot be decoded here: ask (throttled per
            # publisher) and hold the slot back rather than send frames that reference nothing.
            if not starts_keyframe(self.codec, packet.payload):
                await self.on_keyframe(self.key)
                return
        self.fresh = False
        if packet.ssrc != self.in_ssrc:
            # A new source (or the publisher's new SSRC) continues this slot's numbering.
            self.in_ssrc = packet.ssrc
            self.seq_offset = (self.last_seq + 1 - packet.sequence_number) & 0xFFFF
            step = TIMESTAMP_STEP[self.kind]
            self.ts_offset = (self.last_ts + step - packet.timestamp) & 0xFFFFFFFF
        seq = (packet.sequence_number + self.seq_offset) & 0xFFFF
        ts = (packet.timestamp + self.ts_offset) & 0xFFFFFFFF
        if (seq - self.last_seq) & 0xFFFF < 0x8000:
            self.last_seq, self.last_ts = seq, ts
        out = RtpPacket(
            payload_type=self.payload_type,  # type: ignore[arg-type]  # set by negotiated()
            marker=packet.marker,
            sequence_number=seq,
            timestamp=ts,
            ssrc=self.sender._ssrc,
            payload=packet.payload,
        )
        out.padding_size = packet.padding_size
        out.extensions.mid = self.transceiver.mid
        if self.kind == "audio":
            out.extensions.audio_level = packet.extensions.audio_level
        try:
            await self.sender.transport._send_rtp(out.serialize(self.extensions))
        except ConnectionError:
            return
        stats.packets_out += 1
        stats.bytes_out += len(packet.payload)


START_BITRATE = 1500  # kbit/s a publisher's browser starts its video at (x-google-start-bitrate)


def for_browsers(sdp: str) -> str:
    """The worker's offer as browsers get it: each video codec starts at START_BITRATE.

    The worker sends publishers no bandwidth estimate (no REMB, no transport-wide feedback:
    it does not decode or time their packets), so a browser would stay at its default start of
    300 kbit/s and pace a keyframe out over most of a second, which is what a late joiner
    waits for. Chrome reads `x-google-start-bitrate` from the remote description; other
    browsers ignore it. aiortc's own description is left as it is."""
    lines = sdp.split("\r\n")
    video_pts = [
        line.split()[0].split(":", 1)[1]
        for line in lines
        if line.startswith("a=rtpmap:") and ("VP8/" in line or "H264/" in line)
    ]
    out = []
    for line in lines:
        pt = line.split()[0].split(":", 1)[1] if line.startswith("a=fmtp:") else None
        if pt in video_pts:
            line += f";x-google-start-bitrate={START_BITRATE}"
        out.append(line)
        if line.startswith("a=rtpmap:") and line.split()[0].split(":", 1)[1] in video_pts:
            key = f"a=fmtp:{line.split()[0].split(':', 1)[1]} "
            if not any(other.startswith(key) for other in lines):
                out.append(f"{key}x-google-start-bitrate={START_BITRATE}")
    return "\r\n".join(out)


def route_by_mid(dtls: Any) -> None:
    """Let the bundle's router find a receiver by the RTP MID header extension.

    aiortc routes inbound RTP by SSRC, or by payload type when one receiver alone has it. The
    camera and the screen share are both VP8, so a publisher whose answer names no SSRC for
    them (a track added later by replaceTrack) would be dropped; browsers put the MID on the
    first packets of every stream, which is enough to learn the SSRC (pinned aiortc)."""
    router = dtls._rtp_router
    original = router.route_rtp

    def route_rtp(packet: RtpPacket) -> Any:
        mid = packet.extensions.mid
        if mid is not None and packet.ssrc not in router.ssrc_table:
            receiver = router.mid_table.get(mid)
            if receiver is not None:
                router.ssrc_table[packet.ssrc] = receiver
                return receiver
        return original(packet)

    router.route_rtp = route_rtp
