"""An unmodified discord.js 14.28.1 bot (tests/bots/discordjs_bot.mjs) against a live node.

The bot changes one option, `rest: { api: NODE + '/api' }`: discord.js appends `/v10`, asks
GET /gateway/bot for the gateway's URL and connects there, as it does with Discord
(docs/bots.md, "Point discord.js at a node"). It prints what it hears and does as JSON lines;
a member drives it with messages over the node's own API, and the test checks both what the
bot printed and what the member sees.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.bots.test_discordpy import create_application, csrf, install
from tests.nodes import Node, login

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("bots-live")]

NODE_JS = shutil.which("node")
ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = Path(__file__).with_name("discordjs_bot.mjs")
PASSWORD = "correct horse battery staple"
TIMEOUT = 30
# View channel, send messages, read history, add reactions: what the install link asks for.
PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 6)
# A bucket small enough that a burst of seven sends must wait, whatever the window's phase.
BUCKET = "message.channel=2/3"

if NODE_JS is None or not (ROOT / "node_modules" / "discord.js").is_dir():
    pytest.skip("needs Node.js and discord.js from package.json", allow_module_level=True)


class Member:
    """A person using the node's own API (/api/v1) with a bearer token."""

    def __init__(self, node: Node, username: str) -> None:
        self.client = httpx.Client(base_url=node.url, timeout=TIMEOUT)
        token = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        ).json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    def ok(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response

    def say(self, channel: str, content: str) -> dict:
        # The node here allows two messages per channel every 3 s (BUCKET): like the web
        # client, wait as long as a 429 says.
        while True:
            response = self.client.post(
                f"/api/v1/channels/{channel}/messages", json={"content": content}
            )
            if response.status_code != 429:
                assert response.status_code == 200, response.text
                return response.json()
            time.sleep(response.json()["retry_after"])

    def history(self, channel: str) -> dict[str, dict]:
        rows = self.ok("GET", f"/api/v1/channels/{channel}/messages?limit=100").json()
        return {m["id"]: m for m in rows}


def make_guild(owner: Member, name: str) -> tuple[str, str]:
    guild = owner.ok("POST", "/api/v1/guilds", json={"name": name}).json()
    channels = owner.ok("GET", f"/api/v1/guilds/{guild['id']}/channels").json()
    return guild["id"], next(c["id"] for c in channels if c["name"] == "general")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # The suite raises every limit for the node (tests/settings_*.py); later overrides win.
    limits = f"{os.environ.get('UNITED_RATE_LIMITS', '')},{BUCKET}"
    node = Node(
        "discordjs",
        tmp_path_factory.mktemp("discordjs"),
        extra_env={"UNITED_RATE_LIMITS": limits},
    ).start()
    node.create_user("alice", PASSWORD)
    node.create_user("bob", PASSWORD)
    node.create_user("carol", PASSWORD)
    alice, bob = Member(node, "alice"), Member(node, "bob")
    guild, channel = make_guild(alice, "JS Lab")
    second, _ = make_guild(alice, "Second Lab")
    invite = alice.ok("POST", f"/api/v1/channels/{channel}/invites", json={}).json()
    bob.ok("POST", f"/api/v1/invites/{invite['code']}")
    with httpx.Client(base_url=node.url) as browser:
        login(browser, "alice", PASSWORD)
        relay_id, relay_token = create_application(browser, "Relay")
        blind_id, blind_token = create_application(browser, "Blind")
        page = browser.post(
            f"/settings/developer/{relay_id}/intents/",
            data={"message_content": "on"},
            headers=csrf(browser),
        )
        assert page.status_code == 302
        install(browser, relay_id, guild, PERMISSIONS)
        install(browser, blind_id, guild, PERMISSIONS)
    yield {
        "node": node,
        "guild": guild,
        "second": second,
        "channel": channel,
        "invite": invite["code"],
        "alice": alice,
        "bob": bob,
        "relay": (relay_id, relay_token),
        "blind": (blind_id, blind_token),
    }
    alice.client.close()
    bob.client.close()
    node.stop()


class BotProcess:
    """`node tests/bots/discordjs_bot.mjs`, and the JSON lines it prints."""

    def __init__(self, url: str, token: str, intents: str = "content") -> None:
        env = {
            **os.environ,
            "UNITED_NODE": url,
            "UNITED_BOT_TOKEN": token,
            "UNITED_INTENTS": intents,
        }
        assert NODE_JS is not None  # the module is skipped without it
        self.proc = subprocess.Popen(
            [NODE_JS, str(SCRIPT)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict] = queue.Queue()
        self.heard: list[dict] = []
        self.pending: list[dict] = []
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"event": "unparsed", "line": line})

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip())

    def expect(
        self, event: str, timeout: float = TIMEOUT, *, failing: bool = False, **match
    ) -> dict:
        """The first line of `event` whose fields equal `match` not taken yet (lines are kept
        in order, whatever was waited for first); unless `failing`, a line saying the bot
        failed ends the wait at once."""
        for index, line in enumerate(self.pending):
            if line["event"] == event and all(line.get(k) == v for k, v in match.items()):
                return self.pending.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(
                    self.report(f"no {event} {match or ''} within {timeout}s")
                ) from None
            self.heard.append(line)
            if line["event"] == "error" and not failing:
                raise AssertionError(self.report(f"the bot failed: {line}"))
            if line["event"] == event and all(line.get(k) == v for k, v in match.items()):
                return line
            self.pending.append(line)

    def report(self, why: str) -> str:
        heard = "\n".join(json.dumps(line)[:400] for line in self.heard[-40:])
        log = "\n".join(self.log[-40:])
        return f"{why}\n--- the bot printed:\n{heard}\n--- discord.js debug log:\n{log}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> BotProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Proxy:
    """A TCP relay in front of the node on loopback, to drop the bot's connections the way a
    flaky network does. discord.js reaches the gateway through it too: GET /gateway/bot and
    READY's resume_gateway_url name the host the bot asked for."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        self.open.wait()  # while the network is "down", a connection hangs in its handshake
        upstream = socket.create_connection(("127.0.0.1", self.target))
        with self.lock:
            self.sockets += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drop every connection and hold new ones until `restore()`."""
        self.open.clear()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.restore()
        self.listener.close()
        self.cut()


def eventually(check, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        time.sleep(0.2)


def test_a_discordjs_bot_reads_replies_reacts_edits_deletes_and_fetches(world):
    alice: Member = world["alice"]
    channel = world["channel"]
    with BotProcess(world["node"].url, world["relay"][1]) as bot:
        ready = bot.expect("ready")
        assert ready["user"]["bot"] is True and ready["user"]["username"].startswith("Relay")
        assert ready["applicationId"] == world["relay"][0]
        [guild] = ready["guilds"]
        assert guild["id"] == world["guild"] and guild["name"] == "JS Lab"
        assert guild["available"] is True and isinstance(guild["features"], list)
        assert "general" in {c["name"] for c in guild["channels"]}
        assert {"alice", "bob"} <= {m["username"] for m in guild["members"]}
        # Its managed role, tagged with its user id as Discord does (discord.js finds a bot's
        # role by that tag).
        assert guild["botRole"] == "Relay"
        managed = next(r for r in guild["roles"] if r["name"] == "Relay")
        assert managed["managed"] is True and managed["botId"] == ready["user"]["id"]
        assert int(managed["permissions"]) == PERMISSIONS
        everyone = next(r for r in guild["roles"] if r["id"] == world["guild"])
        assert everyone["botId"] is None and not everyone["managed"]
        dispatched = [line["t"] for line in bot.heard if line["event"] == "dispatch"]
        assert dispatched[:2] == ["READY", "GUILD_CREATE"]

        # A member's message, with its content (the application holds MESSAGE_CONTENT).
        hers = alice.say(channel, "hello bot")
        heard = bot.expect("messageCreate", id=hers["id"])
        assert heard["content"] == "hello bot"
        assert heard["author"] == heard["member"] == "alice"
        assert heard["guildId"] == world["guild"] and heard["type"] == 0
        assert heard["system"] is False
        replied = bot.expect("replied")
        assert replied["reference"] == hers["id"] and replied["content"] == "hi alice"
        reacted = bot.expect("reacted")
        assert reacted == {"event": "reacted", "messageId": hers["id"], "emoji": "👍", "me": True}

        def she_sees_the_reply():
            rows = alice.history(channel)
            mine, reply = rows.get(hers["id"]), rows.get(replied["id"])
            return (mine, reply) if mine and reply and mine["reactions"] else None

        mine, reply = eventually(she_sees_the_reply)
        assert reply["content"] == "hi alice" and reply["author"]["bot"] is True
        assert reply["author"]["id"] == ready["user"]["id"]
        assert reply["message_reference"]["message_id"] == hers["id"]
        assert [(r["emoji"]["name"], r["count"]) for r in mine["reactions"]] == [("👍", 1)]
        # Its own reaction comes back over the gateway, and so does the member's on its reply
        # (what reaction-role bots listen to), with the member who reacted.
        bot.expect("messageReactionAdd", messageId=hers["id"], emoji="👍")
        alice.ok(
            "PUT",
            f"/api/v1/channels/{channel}/messages/{replied['id']}/reactions/%F0%9F%8E%89/@me",
        )
        theirs = bot.expect("messageReactionAdd", messageId=replied["id"], emoji="🎉")
        assert theirs["user"] == hers["author"]["id"] and theirs["count"] == 1

        alice.say(channel, "!edit")
        edited = bot.expect("edited", id=replied["id"])
        assert edited["content"] == "hi alice (edited)" and edited["editedAt"]
        assert alice.history(channel)[replied["id"]]["content"] == "hi alice (edited)"
        update = bot.expect("messageUpdate", id=replied["id"])
        assert (update["before"], update["after"]) == ("hi alice", "hi alice (edited)")

        alice.say(channel, "!delete")
        bot.expect("deleted", id=replied["id"])
        gone = alice.history(channel).get(replied["id"])
        assert gone is None or gone.get("deleted")
        bot.expect("messageDelete", id=replied["id"])

        alice.say(channel, "!fetch")
        fetched = bot.expect("fetched")
        bot_name = ready["user"]["username"]
        assert {"alice", "bob", bot_name} <= set(fetched["chunked"])
        assert fetched["chunked"] == fetched["listed"]
        assert {"@everyone", "Relay", "Blind"} <= set(fetched["roles"])
        assert "general" in fetched["channels"]
        assert fetched["me"] == {"id": ready["user"]["id"], "roles": ["@everyone", "Relay"]}
        assert fetched["canSend"] is True
        assert fetched["owner"] == "alice"  # client.application.fetch()
        assert fetched["guilds"] == [{"name": "JS Lab", "owner": False, "canSend": True}]
        assert fetched["history"][0] == "!fetch" and "hello bot" in fetched["history"]
        assert fetched["author"] == "alice"

        # The member edits and deletes her message: discord.js matches both with its cache.
        alice.ok(
            "PATCH", f"/api/v1/channels/{channel}/messages/{hers['id']}", json={"content": "hi"}
        )
        update = bot.expect("messageUpdate", id=hers["id"])
        assert (update["before"], update["after"]) == ("hello bot", "hi")
        assert update["reactions"] == ["👍"] and update["editedAt"]
        alice.ok("DELETE", f"/api/v1/channels/{channel}/messages/{hers['id']}")
        bot.expect("messageDelete", id=hers["id"])

        # Someone joins and leaves while it is connected (what welcome bots listen to).
        carol = Member(world["node"], "carol")
        carol.ok("POST", f"/api/v1/invites/{world['invite']}")
        joined = bot.expect("guildMemberAdd", username="carol")
        assert joined["guildId"] == world["guild"] and joined["joinedAt"]
        # (Not `== + 1`: in production mode the hub's catch-up also hands a new session the
        # events of the 10 s before it, such as this module's own installs; docs/bots.md.)
        assert joined["memberCount"] > guild["memberCount"], bot.report("member count")
        carol.ok("DELETE", f"/api/v1/users/@me/guilds/{world['guild']}")
        bot.expect("guildMemberRemove", username="carol", guildId=world["guild"])
        carol.client.close()

        # Installed in another guild while connected: guildCreate.
        with httpx.Client(base_url=world["node"].url) as browser:
            login(browser, "alice", PASSWORD)
            install(browser, world["relay"][0], world["second"], PERMISSIONS)
        joined = bot.expect("guildCreate", id=world["second"])
        assert joined["name"] == "Second Lab" and joined["available"] is True
        assert bot.stop() == 0, bot.report("the bot did not log out cleanly")
    assert not [line for line in bot.heard if line["event"] in ("error", "disconnect")]


def test_discordjs_waits_out_the_buckets_the_node_announces(world):
    """Seven sends at once against a bucket of two per 3 s: discord.js reads X-RateLimit-*
    (and a 429's Retry-After) and holds the sends back until the bucket resets, so every
    send lands and none fails."""
    alice: Member = world["alice"]
    channel = world["channel"]
    with BotProcess(world["node"].url, world["relay"][1]) as bot:
        bot.expect("ready")
        alice.say(channel, "!burst")
        burst = bot.expect("burst", timeout=TIMEOUT)
        limited = bot.expect("rateLimited")
        assert limited["global"] is False and limited["timeToReset"] > 0
        rows = alice.history(channel)
        assert sorted(rows[i]["content"] for i in burst["ids"]) == sorted(
            f"burst {i}" for i in range(1, 8)
        )
        assert bot.stop() == 0


def test_without_message_content_discordjs_gets_empty_content(world):
    alice: Member = world["alice"]
    with BotProcess(world["node"].url, world["blind"][1], intents="blind") as bot:
        bot.expect("ready")
        sent = alice.say(world["channel"], "a secret recipe")
        heard = bot.expect("messageCreate", id=sent["id"])
        assert heard["content"] == "" and heard["author"] == "alice"


def test_asking_for_message_content_without_the_grant_is_refused(world):
    with BotProcess(world["node"].url, world["blind"][1]) as bot:
        closed = bot.expect("disconnect", failing=True)
        assert closed["code"] == 4014  # Discord's "disallowed intents"
        assert bot.proc.wait(TIMEOUT) != 0


def test_discordjs_resumes_after_its_connection_drops(world):
    """The network drops: discord.js reconnects to READY's resume_gateway_url, sends RESUME
    (op 6) with its session and sequence, and gets what it missed, then RESUMED.

    The bot without MESSAGE_CONTENT, addressed by a mention: a replay reaches back up to 10 s
    before the session (docs/gateway.md), and the other bot would obey the commands of the
    tests before this one again."""
    alice: Member = world["alice"]
    proxy = Proxy(int(world["node"].url.rsplit(":", 1)[1]))
    try:
        with BotProcess(proxy.url, world["blind"][1], intents="blind") as bot:
            me = bot.expect("ready")["user"]["id"]
            proxy.cut()
            missed = alice.say(world["channel"], f"<@{me}> while you were out")
            time.sleep(1)  # discord.js is already waiting on its reconnection by now
            proxy.restore()
            heard = bot.expect("messageCreate", id=missed["id"])
            assert heard["content"] == f"<@{me}> while you were out"
            bot.expect("dispatch", t="RESUMED")
            dispatched = [line["t"] for line in bot.heard if line["event"] == "dispatch"]
            assert dispatched.count("READY") == 1, "it identified again instead of resuming"
            assert dispatched.index("MESSAGE_CREATE") < dispatched.index("RESUMED")
            assert bot.stop() == 0
    finally:
        proxy.close()


def test_a_discordjs_bot_registers_a_slash_command_that_a_member_invokes_and_clicks(world):
    """discord.js registers a guild command (POST …/applications/{id}/guilds/{id}/commands),
    answers INTERACTION_CREATE with a reply carrying a button, and updates its message when
    the member clicks: the member acts through the web client's own routes (the composer's `/`
    picker and the button call them), signed in with a session."""
    node, channel = world["node"], world["channel"]
    alice: Member = world["alice"]
    with (
        BotProcess(node.url, world["relay"][1]) as bot,
        httpx.Client(base_url=node.url, timeout=TIMEOUT) as browser,
    ):
        bot.expect("ready")
        alice.say(channel, "!register")
        registered = bot.expect("registered")
        assert registered["name"] == "echo" and registered["options"] == ["words"]

        login(browser, "alice", PASSWORD)
        offered = browser.get(f"/interactions/commands?channel_id={channel}").json()["commands"]
        echo = next(c for c in offered if c["name"] == "echo")
        assert echo["id"] == registered["id"]
        invoked = browser.post(
            "/interactions/invoke",
            json={
                "type": 2,
                "channel_id": channel,
                "command_id": echo["id"],
                "options": [{"name": "words", "type": 3, "value": "moved communities"}],
            },
            headers=csrf(browser),
        )
        assert invoked.status_code == 200, invoked.text
        command = bot.expect("command")
        assert command == {
            "event": "command",
            "name": "echo",
            "words": "moved communities",
            "user": "alice",
            "channelId": channel,
        }
        bot.expect("answered")
        outcome = invoked.json()
        assert outcome["outcome"] == "message", outcome
        answer = alice.history(channel)[outcome["message_id"]]
        assert answer["content"] == "echo: moved communities"
        assert answer["interaction_metadata"]["name"] == "echo"
        [row] = answer["components"]
        [button] = row["components"]
        assert (button["custom_id"], button["label"]) == ("again", "Say it again")

        clicked = browser.post(
            "/interactions/invoke",
            json={
                "type": 3,
                "channel_id": channel,
                "message_id": answer["id"],
                "custom_id": "again",
            },
            headers=csrf(browser),
        )
        assert clicked.status_code == 200, clicked.text
        assert bot.expect("clicked") == {
            "event": "clicked",
            "customId": "again",
            "user": "alice",
            "messageId": answer["id"],
        }
        bot.expect("updated")
        after = alice.history(channel)[answer["id"]]
        assert after["content"] == "echo: moved communities (again)"
        assert after["components"] == []
