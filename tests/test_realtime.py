"""A realtime round trip through real node processes (daphne) on loopback.

Embedded run: one process, in-memory channel layer. PostgreSQL + Redis run: the WebSocket
is held by one web process and the change is made through another, so the event crosses
processes over the Redis channel layer.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.nodes import Node, login, services_mode

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("realtime")]


async def recv(ws, timeout: float = 10) -> dict:
    """The next frame, skipping presence updates (they interleave with everything)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame.get("t") != "PRESENCE_UPDATE":
            return frame


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/gateway"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = Node("rt", tmp_path_factory.mktemp("rt")).start()
    node.create_user("alice", "correct horse battery staple")
    if services_mode():
        node.add_process()  # a second web process of the same node
    yield node
    node.stop()


async def test_event_published_by_one_request_reaches_a_websocket(node):
    ws_side, http_side = node.urls()[0], node.urls()[-1]
    assert (ws_side != http_side) == services_mode()
    with httpx.Client(base_url=http_side) as client:
        login(client, "alice", "correct horse battery staple")
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        async with connect(
            ws_url(ws_side), additional_headers={"Origin": ws_side, "Cookie": cookie}
        ) as ws:
            hello = await recv(ws)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send(json.dumps({"op": 2, "d": {}}))
            ready = await recv(ws)
            assert (ready["op"], ready["t"], ready["s"]) == (0, "READY", 1)
            assert ready["d"]["user"]["username"] == "alice"

            await ws.send(json.dumps({"op": 1, "d": 1}))
            assert (await recv(ws))["op"] == 11

            response = client.patch(
                "/api/v1/users/@me",
                json={"global_name": "Alice Liddell"},
                headers={"X-CSRFToken": client.cookies["csrftoken"]},
            )
            assert response.status_code == 200, response.text
            event = await recv(ws)
            assert (event["op"], event["t"]) == (0, "USER_UPDATE") and event["s"] > 1
            assert event["d"]["global_name"] == "Alice Liddell"
            assert event["d"]["id"] == ready["d"]["user"]["id"]


async def test_gateway_refuses_bad_clients(node):
    url = node.url
    # Garbage instead of JSON: closed with Discord's "decode error".
    async with connect(ws_url(url)) as ws:
        await recv(ws)
        await ws.send("{nope")
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd.code == 4002
    # IDENTIFY with no credentials (no Origin, so cookies would not count either).
    async with connect(ws_url(url)) as ws:
        await recv(ws)
        await ws.send(json.dumps({"op": 2, "d": {"token": "not-a-token"}}))
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd.code == 4004
    # A page on another origin cannot open a cookie-authenticated socket.
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(url), additional_headers={"Origin": "https://evil.example"}):
            pass
    assert info.value.response.status_code == 403
