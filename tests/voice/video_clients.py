"""aiortc clients that publish a camera (a flat colour, aiortc's own VP8 encoder) and record the
first decoded frame and the colour of every video slot the worker forwards to them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

SIZE = (120, 160)  # small: the machine is shared, and a colour needs no detail


class ColourTrack(VideoStreamTrack):
    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self.image = np.full((*SIZE, 3), rgb, np.uint8)

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class VideoClient:
    """Answers the worker's offers (the join's and every renegotiation), publishes a colour on
    the camera m-line when given one, and records per mid: when the mid was subscribed (its
    answer went out), when its first frame decoded, and the latest frame's mean colour."""

    def __init__(self, colour: tuple[int, int, int] | None = None) -> None:
        # max-bundle as browsers behave: aiortc's default ("balanced") leaves a second video
        # m-line of an offer on a transport the bundle then drops.
        self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.camera = ColourTrack(colour) if colour else None
        self.streams: dict[str, dict[str, str]] = {}
        self.subscribed: dict[str, float] = {}
        self.first_frame: dict[str, float] = {}
        self.colour: dict[str, np.ndarray] = {}
        self.frames: dict[str, int] = {}
        self.connection = ""
        self._readers: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind != "video":
                return
            mid = next(t.mid for t in self.pc.getTransceivers() if t.receiver.track is track)
            self._readers.append(asyncio.ensure_future(self._read(str(mid), track)))

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.first_frame.setdefault(mid, time.monotonic())
                self.frames[mid] = self.frames.get(mid, 0) + 1
                self.colour[mid] = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
        except MediaStreamError:
            pass

    async def answer(self, offer: dict[str, Any]) -> str:
        """The join's offer: the microphone m-line stays silent, the camera m-line sends."""
        self.connection = offer["connection"]
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        camera_mid = offer["publish"]["camera"]
        for transceiver in self.pc.getTransceivers():
            if transceiver.mid == camera_mid and self.camera is not None:
                transceiver.sender.replaceTrack(self.camera)
                transceiver.direction = "sendonly"
        return await self._answer(offer)

    async def renegotiate(self, offer: dict[str, Any]) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        return await self._answer(offer)

    async def _answer(self, offer: dict[str, Any]) -> str:
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        now = time.monotonic()
        for mid in offer["streams"]:
            if offer["streams"][mid] != self.streams.get(mid):
                self.subscribed[mid] = now
                self.first_frame.pop(mid, None)
        self.streams = dict(offer["streams"])
        return self.pc.localDescription.sdp

    def mid_of(self, user_id: int, source: str = "camera") -> str | None:
        for mid, stream in self.streams.items():
            if stream == {"user_id": str(user_id), "source": source}:
                return mid
        return None

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await self.pc.close()
