"""Gateway fan-out: N clients in one channel, one sender.

For each N it prints deliveries per second and p50/p99 send→receive latency for a real node
(embedded mode; then production mode on PostgreSQL + Redis started here), beside a bare
`websockets` broadcast server measured in the same run as the baseline. The baseline does
nothing but relay a frame to every socket: the gap is the cost of the node's work per message
(authorisation, storage of the event, Markdown, JSON, the channel layer).

Both senders are paced the same way: each waits until the server has accepted the previous
message before sending the next (the node answers the POST; the baseline acknowledges the
frame after handing it to every socket), so deliveries/s compare. Each run starts with one
unmeasured message on both servers, so the figures are a channel's steady state; the first
message after a node starts is slower (imports and caches), docs/performance.md has it apart.

`production2` runs production mode with two web processes, clients spread across them.

    .venv/bin/python bench/gateway.py --clients 100,1000 --messages 30 \
        --modes embedded,production,production2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from tests import services  # noqa: E402
from tests.nodes import Node  # noqa: E402

SETUP = """
import json
from accounts.models import AuthSession, User
from accounts.services.tokens import issue_tokens
from guilds.models import Member
from guilds.services import channels, guilds
N = {n}
owner = User.objects.create_user("bench-owner", password=None)
guild = guilds.check_create_guild(owner, name="Bench", description="")
channel = channels.check_create_channel(owner, guild.id, {{"name": "bench", "type": 0}})
users = User.objects.bulk_create([User(username=f"bench-{{i}}") for i in range(N)])
Member.objects.bulk_create([Member(guild=guild, user=u) for u in users])
def token(user):
    return issue_tokens(AuthSession.objects.create(user=user, kind="api"))["access_token"]
print(json.dumps({{"channel": str(channel.id), "owner": token(owner),
                  "clients": [token(u) for u in users]}}))
"""

BASELINE = """
import asyncio, sys
from websockets.asyncio.server import serve, broadcast
clients = set()
async def handler(ws):
    clients.add(ws)
    try:
        async for frame in ws:
            broadcast(clients - {ws}, frame)
            await ws.send("ack")  # the sender waits for this, as the node's waits for its POST
    finally:
        clients.discard(ws)
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None, max_queue=None):
        await asyncio.Future()
asyncio.run(main())
"""


async def heartbeat(ws, every: float) -> None:
    try:
        while True:
            await asyncio.sleep(every)
            await ws.send(json.dumps({"op": 1, "d": None}))
    except Exception:  # the socket closed: the run is over
        return


async def open_clients(url: str, tokens: list[str] | None, count: int) -> list:
    sockets = []
    for i in range(count):
        # No client pings: under load the measured server may answer late, which is the
        # figure we want, not a disconnect.
        ws = await connect(
            url,
            compression=None,
            max_size=None,
            open_timeout=60,
            ping_interval=None,
            close_timeout=2,
        )
        if tokens is not None:
            hello = json.loads(await ws.recv())
            # Like a real client: heartbeat, or the gateway closes the socket as a zombie.
            interval = hello["d"]["heartbeat_interval"] / 1000 / 2
            ws.heartbeat = asyncio.create_task(heartbeat(ws, interval))
            await ws.send(json.dumps({"op": 2, "d": {"token": tokens[i]}}))
            while json.loads(await ws.recv()).get("t") != "READY":
                pass
        sockets.append(ws)
    return sockets


async def collect(ws, expected: int, latencies: list[float], marker: str) -> None:
    got = 0
    while got < expected:
        frame = json.loads(await ws.recv())
        d = frame.get("d") if frame.get("t", marker) == marker else None
        content = d.get("content") if isinstance(d, dict) else None
        if content and content.startswith("bench "):
            latencies.append(time.perf_counter() - float(content.split()[1]))
            got += 1


SENT: list[float] = []  # send times of the typing probe, whose events carry no text


async def collect_typing(ws, expected: int, latencies: list[float], marker: str) -> None:
    """The k-th TYPING_START a socket gets answers the k-th POST: one sender, in order."""
    got = 0
    while got < expected:
        frame = json.loads(await ws.recv())
        if frame.get("t") == "TYPING_START":
            latencies.append(time.perf_counter() - SENT[got])
            got += 1


PROFILE_TO = os.environ.get("BENCH_PROFILE")  # py-spy raw output of the node's first process


async def run(
    urls: list[str],
    tokens,
    send,
    n: int,
    messages: int,
    marker: str,
    pids: tuple = (),
    collector=collect,
    warm=None,
) -> tuple[float, ...]:
    sockets = []
    for i, url in enumerate(urls):  # clients spread evenly across the processes
        part = range(i, n, len(urls))
        chosen = [tokens[j] for j in part] if tokens is not None else None
        sockets += await open_clients(url, chosen, len(part))
    # The clients read from here on, as a real client reads all along: what arrived while the
    # others connected (the node's presence updates, ~50 per client at 100 clients) is read
    # before the measure starts instead of in front of its first message (it made that one
    # message 26-45 ms late, and one message of 100 is the whole p99).
    latencies: list[float] = []
    receivers = [asyncio.create_task(collector(ws, messages, latencies, marker)) for ws in sockets]
    # One unmeasured message first, on both servers: the figures are a channel's steady state,
    # not the first message after a restart (the node's is docs/performance.md's "cold").
    await (warm or send)("warm-up")
    await asyncio.sleep(1)
    profiler = None
    if PROFILE_TO and pids:
        # Sample the node only while the messages flow (not while clients connect).
        profiler = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/py-spy"),
                "record",
                "-r",
                "200",
                "-f",
                "raw",
                "--nonblocking",
                "-o",
                PROFILE_TO,
                *sum((["-p", str(p)] for p in pids[:1]), []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1)
    start = time.perf_counter()
    for _ in range(messages):
        await send(f"bench {time.perf_counter():.9f}")
    await asyncio.wait_for(asyncio.gather(*receivers), timeout=600)
    elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.send_signal(2)
        profiler.wait()
    # Close all at once: a client that stopped reading (its count is reached) would otherwise
    # wait out the close handshake behind the frames it no longer reads.
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    if not latencies:
        return 0.0, 0.0, 0.0
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000


async def bench_node(
    node: Node, n: int, messages: int, probe: str = "message"
) -> tuple[float, ...]:
    """`probe` "message" posts a message; "socket" sends it on the sender's own gateway socket
    (op 40, waiting for its op 41 answer: the send door, docs/gateway.md); "typing" posts a
    typing notice (an access check and an event fanned out, nothing stored): the floor any
    stored event's fan-out stands on; "request" times `GET /users/@me` alone with the clients
    connected (no fan-out)."""
    data = json.loads(node.python(SETUP.format(n=n)).splitlines()[-1])
    api = httpx.AsyncClient(base_url=node.url, headers={"Authorization": f"Bearer {data['owner']}"})
    channel = data["channel"]
    SENT.clear()
    rtts: list[float] = []
    door = None
    if probe == "socket":
        [door] = await open_clients(node.url.replace("http", "ws") + "/gateway", [data["owner"]], 1)
    nonces = iter(range(10**9))

    async def by_socket(text: str) -> None:
        nonce = f"bench-{next(nonces)}"
        d = {"channel_id": channel, "content": text, "nonce": nonce}
        await door.send(json.dumps({"op": 40, "d": d}))
        while True:
            frame = json.loads(await door.recv())
            if frame["op"] == 41 and frame["d"]["nonce"] == nonce:
                if "message" not in frame["d"]:
                    raise RuntimeError(f"refused: {frame['d']}")
                return

    async def send(text: str) -> None:
        if probe == "socket":
            await by_socket(text)
            return
        if probe == "typing":
            SENT.append(time.perf_counter())
            r = await api.post(f"/api/v1/channels/{channel}/typing")
        elif probe == "request":
            began = time.perf_counter()
            r = await api.get("/api/v1/users/@me")
            rtts.append(time.perf_counter() - began)
        else:
            r = await api.post(f"/api/v1/channels/{channel}/messages", json={"content": text})
        r.raise_for_status()

    async def nothing(ws, expected: int, latencies: list[float], marker: str) -> None:
        return

    async def warm(text: str) -> None:
        if probe == "socket":
            await by_socket(text)
            return
        r = await api.post(f"/api/v1/channels/{channel}/messages", json={"content": text})
        r.raise_for_status()

    try:
        result = await run(
            [url.replace("http", "ws") + "/gateway" for url in node.urls()],
            data["clients"],
            send,
            n,
            messages,
            "MESSAGE_CREATE",
            tuple(p.pid for p in node.procs),
            {"typing": collect_typing, "request": nothing}.get(probe, collect),
            warm,
        )
        if probe == "request":
            rtts.sort()
            p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
            return sum(rtts) and len(rtts) / sum(rtts), statistics.median(rtts) * 1000, p99 * 1000
        return result
    finally:
        await api.aclose()
        if door is not None:
            door.heartbeat.cancel()
            await door.close()


async def bench_baseline(n: int, messages: int) -> tuple[float, ...]:
    port = services.free_port()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE, str(port)])
    try:
        services.wait_for_port(port, 20, proc)
        url = f"ws://127.0.0.1:{port}"
        sender = await connect(url, compression=None, ping_interval=None)

        async def send(text: str) -> None:
            await sender.send(json.dumps({"op": 0, "t": "MESSAGE_CREATE", "d": {"content": text}}))
            await sender.recv()

        result = await run([url], None, send, n, messages, "MESSAGE_CREATE")
        await sender.close()
        return result
    finally:
        proc.terminate()
        proc.wait()


def start_node(mode: str, workdir: Path, pg, redis) -> Node:
    for key in ("UNITED_TEST_PG_PORT", "REDIS_URL"):
        os.environ.pop(key, None)
    if mode.startswith("production"):
        os.environ["UNITED_TEST_PG_PORT"] = str(pg.port)
        os.environ["REDIS_URL"] = redis.url
    # The bench measures fan-out: one member sends a burst, which the per-member rate limit
    # (docs/security.md) would cut after five messages.
    limits = {"UNITED_RATE_LIMITS": "message.channel=100000/1,message.user=100000/1"}
    node = Node(f"bench{mode[0]}{mode[-1]}", workdir / mode, extra_env=limits).start()
    if mode == "production2":
        node.add_process()
    return node


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle_rss(url: str, tokens, count: int, pid: int) -> float:
    """KiB of server RSS per idle connection (authenticated, heartbeating, READY received)."""
    warm = await open_clients(url, tokens[:20] if tokens else None, 20)  # imports, caches
    await asyncio.sleep(2)
    before = rss_kib(pid)
    sockets = await open_clients(url, tokens[20 : 20 + count] if tokens else None, count)
    await asyncio.sleep(5)
    after = rss_kib(pid)
    await asyncio.gather(*(ws.close() for ws in warm + sockets), return_exceptions=True)
    return (after - before) / count


def bench_idle(count: int, mode: str, workdir: Path, pg, redis) -> None:
    port = services.free_port()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE, str(port)])
    try:
        services.wait_for_port(port, 20, proc)
        base = asyncio.run(idle_rss(f"ws://127.0.0.1:{port}", None, count, proc.pid))
    finally:
        proc.terminate()
        proc.wait()
    node = start_node(mode, workdir / f"idle-{mode}", pg, redis)
    try:
        data = json.loads(node.python(SETUP.format(n=count + 20)).splitlines()[-1])
        url = node.url.replace("http", "ws") + "/gateway"
        mine = asyncio.run(idle_rss(url, data["clients"], count, node.procs[0].pid))
    finally:
        node.stop()
    print(f"\n{count} idle connections, server RSS per connection:")
    print(f"baseline websockets      {base:8.1f} KiB")
    verdict = "met" if mine <= 2 * base else "NOT MET"
    print(f"node {mode:<18} {mine:8.1f} KiB   ratio {mine / base:.2f} (goal <= 2)  {verdict}")


async def storm(node: Node, data: dict, count: int, messages: int) -> dict:
    """`count` united_client gateway clients on the node's first web process; it is killed
    (SIGKILL) halfway through `messages`; every client reconnects with backoff and jitter,
    RESUMEs on the second process, and must end with every message exactly once."""
    import signal

    from united_client.gateway import GatewayClient

    first, second = (url.replace("http", "ws") + "/gateway" for url in node.urls()[:2])
    api = httpx.AsyncClient(
        base_url=node.urls()[1], headers={"Authorization": f"Bearer {data['owner']}"}
    )
    clients = [GatewayClient([first, second], token) for token in data["clients"][:count]]
    got: list[list[str]] = [[] for _ in clients]
    resumed = [0] * count
    ready = 0
    all_ready = asyncio.Event()

    async def read(i: int) -> None:
        nonlocal ready
        async for t, d in clients[i].events():
            if t == "READY":
                ready += 1
                if ready == count:
                    all_ready.set()
            elif t == "RESUMED":
                resumed[i] += 1
            elif t == "MESSAGE_CREATE":
                got[i].append(d["content"])

    readers = []
    for i in range(count):  # connect at a steady pace, as a community comes online
        readers.append(asyncio.create_task(read(i)))
        await asyncio.sleep(0.01)
    await asyncio.wait_for(all_ready.wait(), 600)
    sent: list[str] = []

    async def send(n: int) -> None:
        text = f"storm {n}"
        r = await api.post(f"/api/v1/channels/{data['channel']}/messages", json={"content": text})
        r.raise_for_status()
        sent.append(text)

    for n in range(messages // 2):
        await send(n)
    await asyncio.sleep(1)
    killed_at = time.perf_counter()
    os.kill(node.procs[0].pid, signal.SIGKILL)
    node.procs[0].wait()
    for n in range(messages // 2, messages):
        await send(n)
    deadline = time.monotonic() + 600
    while sum(1 for r in resumed if r) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    all_resumed = time.perf_counter() - killed_at
    while any(len(g) < len(sent) for g in got) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for client in clients:
        await client.close()
    for reader in readers:
        reader.cancel()
    await api.aclose()
    missed = sum(len(set(sent) - set(g)) for g in got)
    duplicated = sum(len(g) - len(set(g)) for g in got)
    return {
        "clients": count,
        "resumed": sum(1 for r in resumed if r),
        "seconds to all resumed": round(all_resumed, 1),
        "missed": missed,
        "duplicated": duplicated,
    }


def bench_storm(count: int, messages: int, workdir: Path) -> None:
    pg, redis = services.start_postgres(), services.start_redis()
    try:
        node = start_node("production2", workdir / "storm", pg, redis)
        try:
            data = json.loads(node.python(SETUP.format(n=count)).splitlines()[-1])
            result = asyncio.run(storm(node, data, count, messages))
        finally:
            node.stop()
    finally:
        pg.stop()
        redis.stop()
    print("\nreconnect storm (production, 2 web processes, the first killed with SIGKILL):")
    for key, value in result.items():
        print(f"  {key:<24} {value}")
    ok = result["missed"] == 0 and result["duplicated"] == 0 and result["resumed"] == count
    print(f"  goal: 0 missed, 0 duplicated, every client resumed: {'met' if ok else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,100,1000")
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--modes", default="embedded,production")
    parser.add_argument(
        "--probe",
        default="message",
        help="what the node's sender does, comma-separated: message, socket, typing, request "
        "(see bench_node)",
    )
    parser.add_argument(
        "--idle", type=int, default=0, help="instead: RSS per idle connection at this many"
    )
    parser.add_argument(
        "--storm", type=int, default=0, help="instead: a reconnect storm of this many clients"
    )
    args = parser.parse_args()
    if args.storm:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
        bench_storm(args.storm, args.messages, Path(tempfile.mkdtemp(prefix="united-bench-s-")))
        return
    if args.idle:
        import resource

        # The node inherits the limit: 10,000 sockets need more than the default 1,024 fds.
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
        workdir = Path(tempfile.mkdtemp(prefix="united-bench-idle-"))
        pg = redis = None
        if any(m.startswith("production") for m in args.modes.split(",")):
            pg, redis = services.start_postgres(), services.start_redis()
        try:
            for mode in args.modes.split(","):
                bench_idle(args.idle, mode, workdir, pg, redis)
        finally:
            for server in (pg, redis):
                if server:
                    server.stop()
        return
    sizes = [int(x) for x in args.clients.split(",")]
    modes = args.modes.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="united-bench-gw-"))
    pg = redis = None
    if any(m.startswith("production") for m in modes):
        pg, redis = services.start_postgres(), services.start_redis()
    rows = []

    def record(row: tuple) -> None:
        rows.append(row)
        print(
            f"measured: {row[0]}, {row[1]} clients: {row[2]:.0f}/s, p50 {row[3]:.1f} ms, "
            f"p99 {row[4]:.1f} ms",
            flush=True,
        )

    try:
        for n in sizes:
            record(("baseline websockets", n, *asyncio.run(bench_baseline(n, args.messages))))
            for mode in modes:
                for probe in args.probe.split(","):
                    node = start_node(mode, workdir / f"{n}-{probe}", pg, redis)
                    try:
                        figures = asyncio.run(bench_node(node, n, args.messages, probe))
                        label = f"node {mode}" + ("" if probe == "message" else f" {probe}")
                        record((label, n, *figures))
                    finally:
                        node.stop()
    finally:
        for server in (pg, redis):
            if server:
                server.stop()
    print(
        f"\n{'server':<28} {'clients':>7} {'deliveries/s':>13} {'p50 ms':>9} {'p99 ms':>9}"
        f"  {'p99 / baseline (goal <= 2)':>27} {'rate / baseline (goal >= 0.5)':>30}"
    )
    baseline = {n: (rate, p99) for name, n, rate, _p50, p99 in rows if name.startswith("baseline")}
    for name, n, rate, p50, p99 in rows:
        line = f"{name:<28} {n:>7} {rate:>13.0f} {p50:>9.1f} {p99:>9.1f}"
        if not name.startswith("baseline") and n in baseline:
            p99_ratio, rate_ratio = p99 / baseline[n][1], rate / baseline[n][0]
            ok = "met" if p99_ratio <= 2 and rate_ratio >= 0.5 else "NOT MET"
            line += f"  {p99_ratio:>27.2f} {rate_ratio:>30.2f}  {ok}"
        print(line)
    print(f"\n{args.messages} messages per run, one sender, all clients in one channel.")


if __name__ == "__main__":
    main()
