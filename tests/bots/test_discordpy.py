"""An unmodified discord.py 2.7.1 bot against a live node: only its two URLs changed.

discord.py's `Client` takes the REST base from `discord.http.Route.BASE` and connects to
`DiscordWebSocket.DEFAULT_GATEWAY` without asking GET /gateway/bot (only AutoShardedClient
asks), so both are set here, exactly as docs/bots.md tells bot authors to.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import zlib

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.nodes import Node, login

discord = pytest.importorskip("discord")
yarl = pytest.importorskip("yarl")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("bots-live")]
PASSWORD = "correct horse battery staple"
TIMEOUT = 30


def csrf(client: httpx.Client) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies["csrftoken"]}


def create_application(browser: httpx.Client, name: str) -> tuple[str, str]:
    """Through the Developer page, as its owner would: (application id, token shown once)."""
    browser.get("/settings/developer/")
    page = browser.post("/settings/developer/new/", data={"name": name}, headers=csrf(browser))
    assert page.status_code == 200, page.text
    token = re.search(r'data-bot-token value="([^"]+)"', page.text).group(1)
    app_id = re.findall(r'data-application="(\d+)"', page.text)[-1]
    return app_id, token


def install(browser: httpx.Client, app_id: str, guild_id: str, permissions: int) -> None:
    page = browser.get(f"/oauth2/authorize?client_id={app_id}&scope=bot&permissions={permissions}")
    assert page.status_code == 200, page.text
    done = browser.post(
        "/oauth2/authorize",
        data={"client_id": app_id, "permissions": permissions, "guild_id": guild_id},
        headers=csrf(browser),
    )
    assert done.status_code == 302, done.text


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # Plain HTTP on loopback: the links the gateway hands out (attachments) say so.
    node = Node("bots", tmp_path_factory.mktemp("bots"), extra_env={"FEDERATION_SCHEME": "http"})
    node.start()
    node.create_user("alice", PASSWORD)
    node.create_user("bob", PASSWORD)
    api = httpx.Client(base_url=node.url)
    token = api.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).json()[
        "access_token"
    ]
    auth = {"Authorization": f"Bearer {token}"}
    guild = api.post("/api/v1/guilds", json={"name": "Bot Lab"}, headers=auth).json()
    channel = next(
        c
        for c in api.get(f"/api/v1/guilds/{guild['id']}/channels", headers=auth).json()
        if c["name"] == "general"
    )
    with httpx.Client(base_url=node.url) as browser:
        login(browser, "alice", PASSWORD)
        reader_id, reader_token = create_application(browser, "Reader")
        blind_id, blind_token = create_application(browser, "Blind")
        page = browser.post(
            f"/settings/developer/{reader_id}/intents/",
            data={"message_content": "on"},
            headers=csrf(browser),
        )
        assert page.status_code == 302
        perms = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 6)
        install(browser, reader_id, guild["id"], perms)
        install(browser, blind_id, guild["id"], perms)
    yield {
        "node": node,
        "guild": guild["id"],
        "channel": channel["id"],
        "auth": auth,
        "reader": (reader_id, reader_token),
        "blind": (blind_id, blind_token),
    }
    api.close()
    node.stop()


class Bot:
    """A discord.py Client run on the test's loop, with what it heard."""

    def __init__(self, token: str, *, message_content: bool) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        self.client = discord.Client(intents=intents)
        self.token = token
        self.ready = asyncio.get_running_loop().create_future()
        self.messages: asyncio.Queue = asyncio.Queue()
        self.reactions: asyncio.Queue = asyncio.Queue()
        self.edits: asyncio.Queue = asyncio.Queue()
        self.deletes: asyncio.Queue = asyncio.Queue()
        client = self.client

        @client.event
        async def on_ready() -> None:
            if not self.ready.done():
                self.ready.set_result(list(client.guilds))

        @client.event
        async def on_message(message) -> None:
            if message.author.id != client.user.id:
                await self.messages.put(message)

        @client.event
        async def on_raw_reaction_add(payload) -> None:
            await self.reactions.put(payload)

        @client.event
        async def on_message_edit(before, after) -> None:
            await self.edits.put((before, after))

        @client.event
        async def on_message_delete(message) -> None:
            await self.deletes.put(message)

    async def __aenter__(self) -> Bot:
        self.task = asyncio.create_task(self.client.start(self.token))
        done, _ = await asyncio.wait(
            {self.ready, self.task}, timeout=TIMEOUT, return_when="FIRST_COMPLETED"
        )
        if self.task in done:
            self.task.result()  # raises what stopped the bot
        assert self.ready.done(), "no on_ready"
        return self

    async def __aexit__(self, *exc) -> None:
        # A parser that failed on one of our payloads ends the client's task: that is a failure
        # even when every assertion above held.
        crashed = self.task.done() and not self.task.cancelled() and self.task.exception()
        await self.client.close()
        assert not crashed, f"the bot stopped: {crashed!r}"
        await asyncio.wait({self.task}, timeout=TIMEOUT)

    async def next_message(self):
        return await asyncio.wait_for(self.messages.get(), TIMEOUT)


@pytest.fixture
def pointed_at(world, monkeypatch):
    """The two URLs a discord.py Client needs (docs/bots.md), and nothing else."""
    url = world["node"].url
    monkeypatch.setattr(discord.http.Route, "BASE", f"{url}/api/v10")
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        yarl.URL(url.replace("http://", "ws://") + "/bot-gateway"),
    )
    return world


async def history(world, client: httpx.AsyncClient) -> list[dict]:
    response = await client.get(
        f"/api/v1/channels/{world['channel']}/messages", headers=world["auth"]
    )
    assert response.status_code == 200, response.text
    return response.json()


async def eventually(check, timeout: float = TIMEOUT):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.2)


async def test_a_discordpy_bot_reads_replies_reacts_edits_and_deletes(pointed_at):
    world = pointed_at
    async with (
        Bot(world["reader"][1], message_content=True) as bot,
        httpx.AsyncClient(base_url=world["node"].url) as alice,
    ):
        guilds = await bot.ready
        assert [str(g.id) for g in guilds] == [world["guild"]]
        guild = guilds[0]
        assert guild.name == "Bot Lab"
        assert guild.get_channel(int(world["channel"])).name == "general"
        assert bot.client.user.bot is True and bot.client.user.name.startswith("Reader")
        assert bot.client.application_id == int(world["reader"][0])

        sent = await alice.post(
            f"/api/v1/channels/{world['channel']}/messages",
            json={"content": "hello bot"},
            headers=world["auth"],
        )
        assert sent.status_code == 200, sent.text
        message = await bot.next_message()
        assert message.content == "hello bot"
        assert message.author.name == "alice"
        assert isinstance(message.author, discord.Member)
        assert message.guild.id == int(world["guild"])

        reply = await message.reply("hi alice")
        await message.add_reaction("👍")
        note = await message.channel.send("first draft")
        note = await note.edit(content="second draft")
        assert note.content == "second draft" and note.edited_at is not None
        # A file, as bots post reports and pictures: discord.py's multipart form.
        report = await message.channel.send(
            "the report", file=discord.File(io.BytesIO(b"all green\n"), filename="report.txt")
        )
        assert [a.filename for a in report.attachments] == ["report.txt"]
        assert await report.attachments[0].read() == b"all green\n"

        async def alice_sees_it() -> list[dict] | None:
            rows = await history(world, alice)
            by_id = {m["id"]: m for m in rows}
            mine = by_id.get(str(message.id))
            answer = by_id.get(str(reply.id))
            edited = by_id.get(str(note.id))
            if not (mine and answer and edited and mine["reactions"]):
                return None
            return [mine, answer, edited]

        mine, answer, edited = await eventually(alice_sees_it)
        assert answer["content"] == "hi alice"
        assert answer["author"]["bot"] is True
        assert answer["message_reference"]["message_id"] == str(message.id)
        assert mine["reactions"][0]["emoji"]["name"] == "👍"
        assert edited["content"] == "second draft" and edited["edited_timestamp"]

        await note.delete()

        async def gone() -> bool:
            rows = await history(world, alice)
            return all(m["id"] != str(note.id) or m.get("deleted") for m in rows)

        assert await eventually(gone)
        # Its own reaction came back over the gateway, in Discord's shape.
        payload = await asyncio.wait_for(bot.reactions.get(), TIMEOUT)
        assert payload.message_id == message.id and str(payload.emoji) == "👍"

        # The member edits and deletes her message: MESSAGE_UPDATE and MESSAGE_DELETE, which
        # discord.py matches with the message in its cache.
        base = f"/api/v1/channels/{world['channel']}/messages/{message.id}"
        edited = await alice.patch(base, json={"content": "hello, bot"}, headers=world["auth"])
        assert edited.status_code == 200, edited.text
        before, after = await asyncio.wait_for(bot.edits.get(), TIMEOUT)
        while after.id != message.id:  # its own edit of the note came first
            before, after = await asyncio.wait_for(bot.edits.get(), TIMEOUT)
        assert (before.content, after.content) == ("hello bot", "hello, bot")
        assert [str(r.emoji) for r in after.reactions] == ["👍"]
        assert after.edited_at is not None
        assert (await alice.delete(base, headers=world["auth"])).status_code == 204
        deleted = await asyncio.wait_for(bot.deletes.get(), TIMEOUT)
        while deleted.id != message.id:  # its own note's delete came first
            deleted = await asyncio.wait_for(bot.deletes.get(), TIMEOUT)
        assert not bot.task.done(), "the bot stopped"


async def test_without_message_content_a_bot_gets_empty_content_unless_mentioned(pointed_at):
    world = pointed_at
    async with (
        Bot(world["blind"][1], message_content=False) as bot,
        httpx.AsyncClient(base_url=world["node"].url) as alice,
    ):
        await bot.ready
        await alice.post(
            f"/api/v1/channels/{world['channel']}/messages",
            json={"content": "a secret recipe"},
            headers=world["auth"],
        )
        message = await bot.next_message()
        assert message.content == ""
        assert message.author.name == "alice"

        me = bot.client.user.id
        await alice.post(
            f"/api/v1/channels/{world['channel']}/messages",
            json={"content": f"<@{me}> ping"},
            headers=world["auth"],
        )
        message = await bot.next_message()
        assert message.content == f"<@{me}> ping"


async def test_asking_for_message_content_without_the_grant_is_refused(pointed_at):
    world = pointed_at
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(client.start(world["blind"][1]), TIMEOUT)
    await client.close()


def inflater():
    """Discord's zlib-stream: one inflater per connection, a frame ends with Z_SYNC_FLUSH."""
    context = zlib.decompressobj()

    def read(data: bytes) -> dict:
        assert isinstance(data, bytes) and data.endswith(b"\x00\x00\xff\xff")
        return json.loads(context.decompress(data))

    return read


async def raw_socket(world, query: str = "v=10&encoding=json&compress=zlib-stream"):
    url = world["node"].url.replace("http://", "ws://") + f"/bot-gateway?{query}"
    return await connect(url)


async def until(ws, read, t: str) -> dict:
    while True:
        frame = read(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if frame.get("t") == t:
            return frame


async def test_the_gateway_speaks_v10_compressed_and_resumes(world):
    ws = await raw_socket(world)
    read = inflater()
    hello = read(await ws.recv())
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    intents = (1 << 0) | (1 << 9) | (1 << 15)
    await ws.send(json.dumps({"op": 2, "d": {"token": world["reader"][1], "intents": intents}}))
    ready = await until(ws, read, "READY")
    d = ready["d"]
    assert ready["s"] == 1 and d["v"] == 10
    assert d["guilds"] == [{"id": world["guild"], "unavailable": True}]
    assert d["application"] == {"id": world["reader"][0], "flags": 0}
    assert d["user"]["bot"] is True and d["resume_gateway_url"].endswith("/bot-gateway")
    created = await until(ws, read, "GUILD_CREATE")
    assert created["s"] == 2 and created["d"]["id"] == world["guild"]
    names = {m["user"]["username"] for m in created["d"]["members"]}
    assert "alice" in names and all(
        m["user"]["discriminator"] == "0" for m in created["d"]["members"]
    )
    session_id = d["session_id"]
    await ws.close()

    # A message while the bot is away comes back on RESUME, then RESUMED.
    async with httpx.AsyncClient(base_url=world["node"].url) as alice:
        sent = await alice.post(
            f"/api/v1/channels/{world['channel']}/messages",
            json={"content": "while you were out"},
            headers=world["auth"],
        )
        assert sent.status_code == 200
    ws = await connect(d["resume_gateway_url"] + "?v=10&encoding=json&compress=zlib-stream")
    read = inflater()
    read(await ws.recv())  # HELLO
    await ws.send(
        json.dumps(
            {"op": 6, "d": {"token": world["reader"][1], "session_id": session_id, "seq": 2}}
        )
    )
    # (The replay may start up to 10 s before the session did: docs/gateway.md's commit grace.)
    replayed = await until(ws, read, "MESSAGE_CREATE")
    while replayed["d"]["content"] != "while you were out":
        replayed = await until(ws, read, "MESSAGE_CREATE")
    assert replayed["s"] > 2
    assert replayed["d"]["author"]["discriminator"] == "0"
    await until(ws, read, "RESUMED")
    await ws.close()


@pytest.mark.parametrize(
    ("identify", "code"),
    [
        ({"token": "nope", "intents": 513}, 4004),
        ({"token": "TOKEN"}, 4013),
        ({"token": "TOKEN", "intents": -1}, 4013),
    ],
    ids=["wrong token", "no intents", "bad intents"],
)
async def test_a_bad_identify_closes_with_discords_code(world, identify, code):
    ws = await raw_socket(world, "v=10&encoding=json")
    assert json.loads(await ws.recv())["op"] == 10  # plain text frames without compress
    if identify["token"] == "TOKEN":
        identify = {**identify, "token": world["reader"][1]}
    await ws.send(json.dumps({"op": 2, "d": identify}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd.code == code
