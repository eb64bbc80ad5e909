"""How many participants one voice worker process relays on one core, beside a plain UDP relay.

Every participant sends 50 packets/s of 80-byte "Opus" payloads (the SFU never decodes, so the
payload carries the send time instead of audio) and receives everyone else. For growing room
sizes the table shows, per relay, the loss and the p99 latency added between the sender's
`send` and the receiver's handler. A relay passes a size with < 1 % loss and p99 < 20 ms.

- sfu: the real worker (`manage.py voice_worker`), pinned to CPU 0; participants are aiortc peer
  connections (ICE, DTLS-SRTP) in this process, pinned to CPU 1.
- udp: a plain asyncio UDP relay that copies each datagram to the other members (no SRTP, no
  RTP rewriting), pinned to CPU 0, same load: the floor a Python relay cannot beat.

    .venv/bin/python bench/voice.py [sizes, e.g. 2,4,8,12,16] [seconds per size]
"""

from __future__ import annotations

import asyncio
import fractions
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from av.packet import Packet  # noqa: E402

from voice.ice import restrict_host_addresses  # noqa: E402

PPS = 50
PAYLOAD = 80
HEAD = struct.Struct("!dI")  # send time, sender index


def pin(pid: int, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > cpu:
        os.sched_setaffinity(pid, {cpu})


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class Meter:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.received = 0
        self.sent = 0

    def arrive(self, payload: bytes) -> None:
        sent_at, _ = HEAD.unpack_from(payload)
        self.latencies.append(time.perf_counter() - sent_at)
        self.received += 1


def stamped(index: int) -> bytes:
    return HEAD.pack(time.perf_counter(), index).ljust(PAYLOAD, b"\x00")


# --- the SFU ------------------------------------------------------------------------------


class PacedPackets(MediaStreamTrack):
    """Pre-'encoded' packets at 50/s through aiortc's encoder-bypass path."""

    kind = "audio"

    def __init__(self, index: int, meter: Meter) -> None:
        super().__init__()
        self.index, self.meter, self.n = index, meter, 0
        self.start: float | None = None
        self.running = False

    async def recv(self) -> Packet:
        loop = asyncio.get_running_loop()
        while True:
            if self.start is None:
                self.start = loop.time()
            due = self.start + self.n / PPS
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            self.n += 1
            if self.running:
                break
        packet = Packet(stamped(self.index))
        packet.pts = self.n * 960
        packet.time_base = fractions.Fraction(1, 48000)
        self.meter.sent += 1
        return packet


async def rpc(port: int, **request) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((json.dumps(request) + "\n").encode())
    reply = json.loads(await reader.readline())
    writer.close()
    return reply


async def run_sfu(port: int, size: int, seconds: float, room: int) -> dict:
    meter = Meter()
    pcs, tracks = [], []
    for index in range(size):
        offer = await rpc(
            port, op="join", guild=1, room=room, user=index + 1, slots=size, can_speak=True
        )
        pc = RTCPeerConnection()
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        track = PacedPackets(index, meter)
        first = pc.getTransceivers()[0]
        first.sender.replaceTrack(track)
        first.direction = "sendrecv"
        for transceiver in pc.getTransceivers()[1:]:

            async def on_rtp(packet, arrival_time_ms=0):
                meter.arrive(packet.payload)

            transceiver.receiver._handle_rtp_packet = on_rtp
        await pc.setLocalDescription(await pc.createAnswer())
        await rpc(port, op="answer", room=room, user=index + 1, sdp=pc.localDescription.sdp)
        pcs.append(pc)
        tracks.append(track)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(p.connectionState != "connected" for p in pcs):
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # DTLS done on every slot
    before = await rpc(port, op="stats")
    for track in tracks:
        track.running = True
    await asyncio.sleep(seconds)
    for track in tracks:
        track.running = False
    await asyncio.sleep(0.3)  # in flight
    after = await rpc(port, op="stats")
    for index in range(size):
        await rpc(port, op="leave", room=room, user=index + 1)
    for pc in pcs:
        await pc.close()
    cpu = after["cpu_seconds"] - before["cpu_seconds"]
    return result(meter, size, cpu / (seconds + 0.3))


def result(meter: Meter, size: int, cpu: float | None) -> dict:
    expected = meter.sent * (size - 1)
    loss = 1 - meter.received / expected if expected else 1.0
    p99 = percentile(meter.latencies, 0.99) * 1000
    return {
        "loss": max(loss, 0.0),
        "p50": percentile(meter.latencies, 0.5) * 1000,
        "p99": p99,
        "cpu": cpu,
    }


# --- the plain UDP relay ------------------------------------------------------------------

RELAY = """
import asyncio, os, sys
class Relay(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport, self.members = transport, set()
    def datagram_received(self, data, addr):
        if data == b"join":
            self.members.add(addr); return
        if data == b"reset":
            self.members.clear(); return
        for member in self.members:
            if member != addr:
                self.transport.sendto(data, member)
async def main():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Relay, local_addr=("127.0.0.1", 0))
    print(transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


class Member(asyncio.DatagramProtocol):
    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) == PAYLOAD:
            self.meter.arrive(data)


async def run_udp(port: int, size: int, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    meter = Meter()
    relay = ("127.0.0.1", port)
    members = []
    for _ in range(size):
        transport, _ = await loop.create_datagram_endpoint(
            lambda: Member(meter), local_addr=("127.0.0.1", 0)
        )
        transport.sendto(b"join", relay)
        members.append(transport)
    await asyncio.sleep(0.2)

    async def send(index: int, transport) -> None:
        start = loop.time()
        n = 0
        while loop.time() - start < seconds:
            transport.sendto(stamped(index), relay)
            meter.sent += 1
            n += 1
            await asyncio.sleep(max(0.0, start + n / PPS - loop.time()))

    await asyncio.gather(*(send(i, t) for i, t in enumerate(members)))
    await asyncio.sleep(0.3)
    members[0].sendto(b"reset", relay)
    for transport in members:
        transport.close()
    return result(meter, size, None)


# --- the run ------------------------------------------------------------------------------


async def main(sizes: list[int], seconds: float) -> None:
    restrict_host_addresses(["127.0.0.1"])
    pin(0, 1)
    tmp = tempfile.mkdtemp(prefix="united-bench-voice-")
    env = {**os.environ, "UNITED_DATA_DIR": tmp, "VOICE_ICE_ADDRESSES": "127.0.0.1"}
    env["UNITED_MODE"] = "embedded"
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "voice_worker", "--standalone", "--listen", "127.0.0.1:0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    relay = subprocess.Popen([sys.executable, "-c", RELAY], stdout=subprocess.PIPE, text=True)
    try:
        worker_port = int(worker.stdout.readline().rsplit(":", 1)[1])
        relay_port = int(relay.stdout.readline())
        pin(worker.pid, 0)
        pin(relay.pid, 0)
        print(
            f"{PPS} packets/s of {PAYLOAD} B per participant, {seconds:g} s per size; "
            "pass = loss < 1 % and p99 < 20 ms"
        )
        print(
            f"{'size':>4} | {'relay':<4} | {'loss %':>7} | {'p50 ms':>7} | {'p99 ms':>7} | "
            f"{'worker CPU':>10} | pass"
        )
        best = {"sfu": 0, "udp": 0}
        for room, size in enumerate(sizes, start=1):
            for name in ("udp", "sfu"):
                if name == "sfu":
                    r = await run_sfu(worker_port, size, seconds, room)
                else:
                    r = await run_udp(relay_port, size, seconds)
                ok = r["loss"] < 0.01 and r["p99"] < 20
                if ok:
                    best[name] = max(best[name], size)
                cpu = f"{100 * r['cpu']:.0f} %" if r["cpu"] is not None else "-"
                print(
                    f"{size:>4} | {name:<4} | {100 * r['loss']:>7.2f} | {r['p50']:>7.2f} | "
                    f"{r['p99']:>7.2f} | {cpu:>10} | {'yes' if ok else 'no'}",
                    flush=True,
                )
        print(
            f"largest passing room: sfu {best['sfu']} participants, "
            f"udp relay {best['udp']} participants (of the sizes tried)"
        )
    finally:
        worker.terminate()
        relay.terminate()
        worker.wait(10)
        relay.wait(10)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "united.settings")
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "2,4,8,12,16").split(",")]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    asyncio.run(main(sizes, seconds))
