"""Real aiortc voice clients for the tests: each sends a sine tone and records what it hears,
one recording per slot of the worker's offer."""

from __future__ import annotations

import asyncio
import fractions
import math
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

RATE = 48000
FRAME = 960  # 20 ms


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self.sent / RATE
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        t = (np.arange(FRAME) + self.sent) / RATE
        samples = (0.5 * 32767 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += FRAME
        return frame


class VoiceClient:
    """Answers the worker's offer, sends a tone on the first m-line, records every slot."""

    def __init__(
        self,
        frequency: float,
        *,
        ice_servers: list[dict[str, Any]] | None = None,
        relay_only: bool = False,
    ) -> None:
        servers = [RTCIceServer(**s) for s in ice_servers or []]
        config = RTCConfiguration(iceServers=servers or None)
        if relay_only:
            config.iceTransportPolicy = RTCIceTransportPolicy.RELAY
        self.pc = RTCPeerConnection(config)
        self.tone = ToneTrack(frequency)
        self.recordings: dict[str, list[np.ndarray]] = {}
        self._readers: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
            self.recordings[mid] = []
            self._readers.append(asyncio.ensure_future(self._read(mid, track)))

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                data = frame.to_ndarray().astype(np.float64)
                channels = len(frame.layout.channels)
                mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data.ravel()
                self.recordings[mid].append(mono)
        except MediaStreamError:
            pass

    async def answer(self, offer: dict[str, Any]) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        first = self.pc.getTransceivers()[0]
        first.sender.replaceTrack(self.tone)
        first.direction = "sendrecv"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def clear(self) -> None:
        for chunks in self.recordings.values():
            chunks.clear()

    def heard(self) -> dict[int, list[float]]:
        """slot → dominant frequencies (Hz) of what arrived on it, loud ones only."""
        out = {}
        for mid, chunks in self.recordings.items():
            if mid == "0" or not chunks:
                continue
            audio = np.concatenate(chunks)[-RATE // 2 :]
            if len(audio) < RATE // 4:  # a few stray frames are not a stream
                continue
            if np.sqrt(np.mean(audio**2)) < 500:  # silence (or comfort noise)
                continue
            spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
            peak = int(np.argmax(spectrum))
            out[int(mid) - 1] = [peak * RATE / len(audio)]
        return out

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await self.pc.close()
