"""The gateway on real sockets against a real node: a socket dies with its session, the limits
on what a client may send, and (PostgreSQL + Redis run) a reconnect storm after the web process
holding the sockets is killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from messaging import gateway
from tests.nodes import Node, login, services_mode
from united_client.gateway import GatewayClient

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("gateway-live")]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = Node("gwl", tmp_path_factory.mktemp("gwl")).start()
    for name in ("alice", "bob", "carol", "storm"):
        node.create_user(name, PASSWORD)
    if services_mode():
        node.add_process()
    yield node
    node.stop()


def alive_urls(node: Node) -> list[str]:
    """The node's web processes that still run (fault tests here kill some)."""
    return [url for proc, url in zip(node.procs, node.urls(), strict=True) if proc.poll() is None]


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/gateway"


def api_login(url: str, username: str, password: str = PASSWORD) -> str:
    response = httpx.post(
        f"{url}/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def frames_until_closed(ws, timeout: float) -> tuple[list[dict], int | None]:
    """Every frame received until the socket closes (or `timeout`), and the close code."""
    got = []
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
    except ConnectionClosed as closed:
        return got, closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        pass
    return got, None


async def identify(url: str, token: str | None = None, headers: dict | None = None):
    ws = await connect(ws_url(url), additional_headers=headers or {})
    hello = json.loads(await ws.recv())
    assert hello["op"] == 10
    await ws.send(json.dumps({"op": 2, "d": {"token": token} if token else {}}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame.get("t") == "READY":
            return ws, frame


async def test_logout_closes_the_browser_socket_at_once_and_nothing_follows(node):
    url = node.urls()[-1]
    with httpx.Client(base_url=node.url) as browser:
        login(browser, "alice", PASSWORD)
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        ws, _ready = await identify(url, headers={"Origin": url, "Cookie": cookie})
        # A second, token-held session of alice stays open: only the signed-out one closes.
        other, _ = await identify(url, token=api_login(node.url, "alice"))
        response = browser.post(
            "/api/v1/auth/logout", headers={"X-CSRFToken": browser.cookies["csrftoken"]}
        )
        assert response.status_code in (200, 204), response.text
        started = time.monotonic()
        frames, code = await frames_until_closed(ws, 5)
        assert code == gateway.CLOSE_SESSION_ENDED == 4004
        assert time.monotonic() - started < 1.0
        assert all(f.get("t") != "USER_UPDATE" for f in frames)
        # The other session still hears alice's changes.
        token = api_login(node.url, "alice")
        httpx.patch(
            f"{node.url}/api/v1/users/@me",
            json={"global_name": "Still here"},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
        frames, code = await frames_until_closed(other, 3)
        assert code is None
        assert any(f.get("t") == "USER_UPDATE" for f in frames)
        await other.close()


async def test_a_password_change_closes_every_other_socket_of_the_account(node):
    url = node.urls()[0]
    victim_token = api_login(node.url, "bob")
    ws, _ = await identify(url, token=victim_token)
    owner_token = api_login(node.url, "bob")
    response = httpx.post(
        f"{node.url}/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": PASSWORD + " 2"},
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    assert response.status_code in (200, 204), response.text
    started = time.monotonic()
    frames, code = await frames_until_closed(ws, 5)
    assert code == 4004 and time.monotonic() - started < 1.0
    assert {f.get("t") for f in frames if f.get("op") == 0} <= {"PRESENCE_UPDATE"}
    # The old token cannot come back in.
    with pytest.raises(ConnectionClosed) as info:
        await identify(url, token=victim_token)
    assert info.value.rcvd.code == 4004


async def test_an_oversized_frame_and_a_flood_are_closed_with_their_codes(node):
    token = api_login(node.url, "carol")
    ws, _ = await identify(node.url, token=token)
    await ws.send(json.dumps({"op": 1, "d": "x" * (gateway.MAX_FRAME_BYTES + 1)}))
    _, code = await frames_until_closed(ws, 5)
    assert code == gateway.CLOSE_DECODE_ERROR == 4002

    ws, _ = await identify(node.url, token=token)
    for _ in range(gateway.FRAMES_PER_MINUTE + 5):
        try:
            await ws.send(json.dumps({"op": 1, "d": None}))
        except ConnectionClosed:
            break
    frames, code = await frames_until_closed(ws, 5)
    assert code == gateway.CLOSE_RATE_LIMITED == 4008
    # Every frame up to the limit was answered; the one past it was not.
    assert sum(1 for f in frames if f.get("op") == 11) <= gateway.FRAMES_PER_MINUTE

    # NaN is not JSON: a decode error, like garbage.
    ws, _ = await identify(node.url, token=token)
    await ws.send('{"op": 1, "d": NaN}')
    _, code = await frames_until_closed(ws, 5)
    assert code == 4002


@pytest.mark.skipif(not services_mode(), reason="needs two web processes (PostgreSQL + Redis)")
async def test_reconnect_storm_after_kill_9_resumes_with_nothing_missed_or_twice(node):
    """Two dozen united_client gateway clients on web process 1; it is killed mid-conversation;
    each reconnects with backoff and jitter, resumes on process 2, and ends up with every
    message exactly once."""
    first, second = alive_urls(node)[:2]
    owner = api_login(second, "storm")
    api = httpx.Client(base_url=second, headers={"Authorization": f"Bearer {owner}"})
    guild = api.post("/api/v1/guilds", json={"name": "Storm"}).json()
    channel = api.post(
        f"/api/v1/guilds/{guild['id']}/channels", json={"name": "storm", "type": 0}
    ).json()
    token = api_login(second, "storm")  # one sign-in, many sockets (a bot's shards, tabs)
    clients = [GatewayClient([ws_url(first), ws_url(second)], token) for _ in range(24)]
    got: list[list[str]] = [[] for _ in clients]
    resumed = [0] * len(clients)
    ready = asyncio.Event()
    readies = 0

    async def read(i: int) -> None:
        nonlocal readies
        async for t, d in clients[i].events():
            if t == "READY":
                readies += 1
                if readies == len(clients):
                    ready.set()
            elif t == "RESUMED":
                resumed[i] += 1
            elif t == "MESSAGE_CREATE":
                got[i].append(d["content"])

    readers = [asyncio.create_task(read(i)) for i in range(len(clients))]
    await asyncio.wait_for(ready.wait(), 60)
    sent = []

    def post(n: int) -> None:
        text = f"storm {n}"
        response = api.post(f"/api/v1/channels/{channel['id']}/messages", json={"content": text})
        assert response.status_code == 200, response.text
        sent.append(text)

    for n in range(5):
        post(n)
    await asyncio.sleep(0.5)
    killed = node.procs[node.urls().index(first)]
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    for n in range(5, 10):  # while the clients reconnect
        post(n)
        await asyncio.sleep(0.05)
    deadline = time.monotonic() + 60
    while sum(resumed) < len(clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for n in range(10, 12):
        post(n)
    deadline = time.monotonic() + 20
    while any(len(g) < len(sent) for g in got) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for client in clients:
        await client.close()
    for reader in readers:
        reader.cancel()
    assert resumed == [1] * len(clients)  # every client resumed (none had to IDENTIFY again)
    for i in range(len(clients)):
        assert got[i] == sent, f"client {i} got {got[i]}"


@pytest.mark.skipif(not services_mode(), reason="Redis carries the gateway only in production")
async def test_a_redis_restart_keeps_sockets_open_and_loses_no_event(tmp_path):
    """Redis is killed under connected sockets and started again on the same port: the sockets
    stay open (heartbeats are answered throughout), and a change made after the restart, and
    one made while Redis was down, both arrive (pub/sub re-subscribes; the stored event is
    pulled by the catch-up when pub/sub missed it)."""
    from tests import services

    redis = services.start_redis()
    node = Node("gwr", tmp_path / "gwr", extra_env={"REDIS_URL": redis.url}).start()
    try:
        node.create_user("dora", PASSWORD)
        token = api_login(node.url, "dora")
        ws, _ = await identify(node.url, token=token)
        redis.kill()
        for _ in range(3):  # heartbeats while Redis is down are still answered
            await ws.send(json.dumps({"op": 1, "d": None}))
        frames, code = await frames_until_closed(ws, 2)
        assert code is None and sum(1 for f in frames if f.get("op") == 11) == 3
        redis = services.start_redis(port=redis.port)
        await asyncio.sleep(1)
        for name in ("after restart",):
            response = httpx.patch(
                f"{node.url}/api/v1/users/@me",
                json={"global_name": name},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
        await ws.send(json.dumps({"op": 1, "d": None}))  # a heartbeat asks for a catch-up
        frames, code = await frames_until_closed(ws, 15)
        assert code is None
        names = [f["d"]["global_name"] for f in frames if f.get("t") == "USER_UPDATE"]
        assert names == ["after restart"]
        await ws.close()
    finally:
        node.stop()
        redis.stop()


@pytest.mark.skipif(not services_mode(), reason="needs two web processes (PostgreSQL + Redis)")
async def test_a_send_whose_web_process_dies_is_retried_once_by_its_nonce(node):
    """The web process is killed while a message is being sent; the client does not know
    whether it was stored and retries with the same nonce on the other process: exactly one
    message, whichever way the race went."""
    survivor = alive_urls(node)[0]
    victim = node.add_process()
    token = api_login(survivor, "storm")
    headers = {"Authorization": f"Bearer {token}"}
    guild = httpx.post(f"{survivor}/api/v1/guilds", json={"name": "Nonce"}, headers=headers)
    channel = httpx.post(
        f"{survivor}/api/v1/guilds/{guild.json()['id']}/channels",
        json={"name": "nonce", "type": 0},
        headers=headers,
    ).json()
    url = f"/api/v1/channels/{channel['id']}/messages"
    body = {"content": "sent once", "nonce": "retry-me-1"}
    proc = node.procs[-1]

    async def send_and_kill() -> None:
        async with httpx.AsyncClient(base_url=victim, headers=headers) as client:
            request = asyncio.create_task(client.post(url, json=body))
            await asyncio.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            try:
                await request
            except httpx.HTTPError:
                pass  # the client saw the connection die: it does not know what happened

    await send_and_kill()
    proc.wait()
    retried = httpx.post(f"{survivor}{url}", json=body, headers=headers)
    assert retried.status_code == 200, retried.text
    history = httpx.get(f"{survivor}{url}", headers=headers).json()
    assert [m["content"] for m in history] == ["sent once"]
    assert retried.json()["id"] == history[0]["id"]


async def test_a_client_that_stops_reading_is_cut_off_without_slowing_the_others(node):
    """One client stops reading while a busy channel flows: the node holds at most about a
    megabyte for it (beyond the kernel's buffers), then closes it so it can RESUME; another
    client in the same channel keeps getting every message meanwhile, exactly once. (That one
    is a real client that RESUMEs when told to: on a loaded CI machine the test process itself
    fell a megabyte behind and was cut off too.)"""
    import socket

    url = alive_urls(node)[0]
    owner = api_login(url, "storm")
    headers = {"Authorization": f"Bearer {owner}"}
    guild = httpx.post(f"{url}/api/v1/guilds", json={"name": "Slow"}, headers=headers).json()
    channel = httpx.post(
        f"{url}/api/v1/guilds/{guild['id']}/channels",
        json={"name": "slow", "type": 0},
        headers=headers,
    ).json()
    reader = GatewayClient([ws_url(url)], owner)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    stalled = await connect(ws_url(url), sock=sock, max_queue=1, max_size=None)
    json.loads(await stalled.recv())
    await stalled.send(json.dumps({"op": 2, "d": {"token": owner}}))
    while json.loads(await stalled.recv()).get("t") != "READY":
        pass
    # From here the stalled client reads nothing.
    got: list[str] = []

    ready = asyncio.Event()

    async def read() -> None:
        async for t, d in reader.events():
            if t == "READY":
                ready.set()
            elif t == "MESSAGE_CREATE" and d["channel_id"] == channel["id"]:
                got.append(d["id"])

    reading = asyncio.create_task(read())
    await asyncio.wait_for(ready.wait(), 30)
    sent = []
    big = "€" * 3900  # about 24 KB per MESSAGE_CREATE frame (content and its HTML)
    async with httpx.AsyncClient(base_url=url, headers=headers) as api:
        for i in range(400):
            response = await api.post(
                f"/api/v1/channels/{channel['id']}/messages", json={"content": f"{i} {big}"}
            )
            assert response.status_code == 200, response.text
            sent.append(response.json()["id"])
    deadline = time.monotonic() + 90  # returns as soon as all arrived; a loaded CI is slow
    while len(got) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert got == sent  # the reading client missed nothing while the other stalled
    # 400 frames of ~24 KB (9.4 MB) cannot all wait in the kernel's buffers: without the
    # node's 1 MiB cap the stalled socket would stay open with the rest queued in memory.
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(stalled.recv(), 10)
    assert closed.value.rcvd is None or closed.value.rcvd.code == gateway.CLOSE_SLOW_CONSUMER
    await reader.close()
    reading.cancel()
