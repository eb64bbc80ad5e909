"""Federated voice on two real nodes: A hosts a guild with a voice channel (and the voice worker),
bob lives on B and is a member through federation. Bob joins A's voice channel through B's
gateway (op 4 / op 30, what B's web client sends); his audio goes straight to A's worker.
Real aiortc clients send tones and check by FFT what they hear; A's permissions and A's
moderator apply to bob; B shows who is in the channel."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from guilds.permissions import Permissions as P
from tests.federation.conftest import FedNode
from tests.nodes import ROOT
from tests.services import free_port
from tests.voice.clients import VoiceClient
from tests.voice.test_forwarding import TONES, nearest
from tests.worlds import PASSWORD, join_guild, live_nodes
from tests.worlds import signed_in as session

pytestmark = [
    pytest.mark.live,
    pytest.mark.xdist_group("voice_federated"),
    pytest.mark.timeout(600),
]


class Gateway:
    """A logged-in gateway session: IDENTIFY, heartbeats, and every dispatch kept in order."""

    def __init__(self, url: str, cookies: httpx.Cookies) -> None:
        self.url = url
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.events: list[tuple[str, Any]] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self) -> Gateway:
        self.ws = await connect(
            self.url.replace("http://", "ws://") + "/gateway",
            additional_headers={"Origin": self.url, "Cookie": self.cookie},
        )
        hello = json.loads(await self.ws.recv())
        await self.ws.send(json.dumps({"op": 2, "d": {}}))
        self.tasks = [
            asyncio.ensure_future(self._read()),
            asyncio.ensure_future(self._beat(hello["d"]["heartbeat_interval"] / 1000)),
        ]
        await self.wait({"READY"}, 0)
        return self

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame.get("op") == 0:
                self.events.append((frame["t"], frame["d"]))

    async def _beat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval * 0.5)
            await self.ws.send(json.dumps({"op": 1, "d": None}))

    async def send(self, op: int, d: dict[str, Any]) -> int:
        mark = len(self.events)
        await self.ws.send(json.dumps({"op": op, "d": d}))
        return mark

    async def wait(self, kinds: set[str], since: int, match=lambda d: True, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, d in self.events[since:]:
                if t in kinds and match(d):
                    return t, d
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kinds} in time; got {[t for t, _ in self.events[since:]]}")

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.ws.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory, voice_worker) -> Iterator[dict[str, Any]]:
    """A (hosting, with the session's voice worker) and B (bob's home); bob joins A's guild."""
    voice = {"VOICE_ICE_ADDRESSES": "127.0.0.1"}
    nodes = {
        "va": {**voice, "VOICE_WORKER_ADDR": f"127.0.0.1:{voice_worker['port']}"},
        # B never talks to a worker for A's guild: its own address is a closed port.
        "vb": {**voice, "VOICE_WORKER_ADDR": f"127.0.0.1:{free_port()}"},
    }
    with live_nodes(tmp_path_factory.mktemp("fedvoice"), nodes) as (a, b):
        out = a.python(
            "from accounts.models import User\n"
            "from guilds.services.guilds import do_create_guild\n"
            "from guilds.services.channels import check_create_channel\n"
            "from guilds.services.invites import check_create_invite\n"
            "from guilds.models import Channel\n"
            f"alice = User.objects.create_user('alice', password={PASSWORD!r})\n"
            "g = do_create_guild(alice, name='Harbour', icon=None, description='')\n"
            "text = Channel.objects.get(guild=g, type=0, name='general')\n"
            "vc = check_create_channel(alice, g.id, {'name': 'Lounge', 'type': 2})\n"
            "inv = check_create_invite(alice, text.id, {'max_age': 0})\n"
            "print(g.id, vc.id, inv.code, text.id)\n"
        )
        gid, cid, code, text_id = out.split()[-4:]
        b.node.create_user("bob", PASSWORD)
        join_guild(b, "bob", f"{a.url}/invite/{code}")
        b.wait_for(
            lambda: b.sql("SELECT 1 FROM guilds_channel WHERE id = ?", (int(cid),)),
            message="the replica with the voice channel",
        )
        shadow = a.sql("SELECT id FROM accounts_user WHERE username = ?", (f"bob@{b.domain}",))[0][
            0
        ]
        yield {"a": a, "b": b, "gid": gid, "cid": cid, "text": text_id, "bob_on_a": shadow}


def voice_rows(fed: FedNode, gid: str) -> dict[str, tuple]:
    """username → (channel, mute, suppress) of the guild's voice states on that node."""
    rows = fed.sql(
        "SELECT u.username, v.channel_id, v.mute, v.suppress FROM voice_voicestate v "
        "JOIN accounts_user u ON u.id = v.user_id WHERE v.guild_id = ?",
        (int(gid),),
    )
    return {name.split("@", 1)[0]: (str(ch), bool(m), bool(s)) for name, ch, m, s in rows}


def voice(gid: str, channel: str | None) -> dict[str, Any]:
    return {"guild_id": gid, "channel_id": channel, "self_mute": False, "self_deaf": False}


def test_the_host_refuses_a_remote_member_without_connect_and_suppresses_one_without_speak(
    pair, client_loop
):
    a, b, gid, cid = pair["a"], pair["b"], pair["gid"], pair["cid"]
    overwrite = f"/api/v1/channels/{cid}/permissions/{pair['bob_on_a']}"
    with session(a, "alice") as alice, session(b, "bob") as bob:
        deny = {"type": 1, "deny": str(int(P.CONNECT))}
        assert alice.put(overwrite, json=deny).status_code == 204
        gw = client_loop.run(Gateway(b.url, bob.cookies).open())
        try:
            mark = client_loop.run(gw.send(4, voice(gid, cid)))
            t, d = client_loop.run(gw.wait({"VOICE_ERROR", "VOICE_SERVER_UPDATE"}, mark))
            assert t == "VOICE_ERROR" and d["code"] == 50013, d  # A's refusal, relayed by B
            assert voice_rows(a, gid) == {}
            assert a.sql("SELECT COUNT(*) FROM voice_voicegrant") == [(0,)]

            deny = {"type": 1, "deny": str(int(P.SPEAK))}
            assert alice.put(overwrite, json=deny).status_code == 204
            mark = client_loop.run(gw.send(4, voice(gid, cid)))
            t, d = client_loop.run(gw.wait({"VOICE_ERROR", "VOICE_SERVER_UPDATE"}, mark))
            assert t == "VOICE_SERVER_UPDATE", d
            assert d["hosted_by"] == a.domain and d["sdp"].startswith("v=0")
            assert voice_rows(a, gid) == {"bob": (cid, False, True)}  # hears, is not heard
            mine = [s for s in d["voice_states"] if s["username"] == "bob"]
            assert mine and mine[0]["suppress"] is True

            mark = client_loop.run(gw.send(4, voice(gid, None)))
            a.wait_for(lambda: voice_rows(a, gid) == {}, 30, "bob left on A")
            b.wait_for(lambda: voice_rows(b, gid) == {}, 30, "bob left on B")
        finally:
            client_loop.run(gw.close())
            assert alice.delete(overwrite).status_code == 204


def test_local_and_remote_members_hear_each_other_and_the_hosts_moderator_mutes_the_remote_one(
    pair, client_loop
):
    a, b, gid, cid = pair["a"], pair["b"], pair["gid"], pair["cid"]
    clients: dict[str, VoiceClient] = {}
    gateways: list[Gateway] = []
    with session(a, "alice") as alice_http, session(b, "bob") as bob_http:
        try:
            offers = {}
            for name, fed, http in (("alice", a, alice_http), ("bob", b, bob_http)):
                gw = client_loop.run(Gateway(fed.url, http.cookies).open())
                gateways.append(gw)
                mark = client_loop.run(gw.send(4, voice(gid, cid)))
                t, offer = client_loop.run(gw.wait({"VOICE_ERROR", "VOICE_SERVER_UPDATE"}, mark))
                assert t == "VOICE_SERVER_UPDATE", offer
                clients[name] = VoiceClient(TONES[name])
                sdp = client_loop.run(clients[name].answer(offer))
                client_loop.run(gw.send(30, {"guild_id": gid, "sdp": sdp}))
                offers[name] = offer
            slots = {offers[n]["slot"]: n for n in offers}
            assert offers["bob"]["hosted_by"] == a.domain
            # The offer bob got through B is A's worker's: its candidates are A's worker's.
            assert "a=candidate" in offers["bob"]["sdp"]

            def tones(settle: float = 1.5) -> dict[str, set[float]]:
                time.sleep(0.3)
                for c in clients.values():
                    c.clear()
                time.sleep(settle)
                out = {}
                for name, c in clients.items():
                    by_slot = c.heard()
                    for slot, freqs in by_slot.items():
                        assert nearest(freqs[0]) == TONES[slots[slot]], (name, slot, freqs)
                    out[name] = {nearest(f[0]) for f in by_slot.values()}
                return out

            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if all(len(c.heard()) == 1 for c in clients.values()):
                    break
                time.sleep(0.2)
            assert tones() == {"alice": {880.0}, "bob": {440.0}}

            # B shows who is in A's channel: its replica mirrors A's voice states, and bob's
            # gateway heard alice's VOICE_STATE_UPDATE under B's id for alice@A.
            b.wait_for(lambda: set(voice_rows(b, gid)) == {"alice", "bob"}, 30, "voice states on B")
            listed = bob_http.get(f"/api/v1/guilds/{gid}/voice-states").json()
            assert {s["username"] for s in listed} == {f"alice@{a.domain}", "bob"}
            assert {s["channel_id"] for s in listed} == {cid}
            assert {s["slot"] for s in listed} == set(slots)

            # A's moderator server-mutes bob: A's worker stops forwarding him; B shows it.
            response = alice_http.patch(
                f"/api/v1/guilds/{gid}/voice-states/{pair['bob_on_a']}", json={"mute": True}
            )
            assert response.status_code == 200, response.text
            assert tones() == {"alice": set(), "bob": {440.0}}
            b.wait_for(lambda: voice_rows(b, gid)["bob"][1] is True, 30, "server mute on B")
            # B does not moderate A's guild: it says where to.
            refused = bob_http.patch(
                f"/api/v1/guilds/{gid}/voice-states/{listed[0]['user_id']}", json={"mute": True}
            )
            assert refused.status_code == 403 and refused.json()["code"] == 90307

            # A's moderator disconnects bob: B's replica and bob's client hear it.
            mark = len(gateways[1].events)
            response = alice_http.patch(
                f"/api/v1/guilds/{gid}/voice-states/{pair['bob_on_a']}", json={"channel_id": None}
            )
            assert response.status_code == 200, response.text
            me = bob_http.get("/api/v1/users/@me").json()["id"]
            client_loop.run(
                gateways[1].wait(
                    {"VOICE_STATE_UPDATE"},
                    mark,
                    lambda d: d["user_id"] == me and d["channel_id"] is None,
                )
            )
            assert set(voice_rows(b, gid)) == {"alice"}
            assert b.sql("SELECT COUNT(*) FROM voice_remotevoicesession") == [(0,)]
        finally:
            for c in clients.values():
                client_loop.run(c.close())
            for gw in gateways:
                client_loop.run(gw.send(4, voice(gid, None)))
                client_loop.run(gw.close())


def test_bobs_browser_on_b_talks_in_a_voice_channel_hosted_on_a(pair, client_loop, tmp_path):
    """B's web client (static/src/voice.js) in a remote guild: bob's Chromium joins through
    B, alice (an aiortc client on A) hears bob's fake microphone, bob's page lists both,
    plays alice and lights her speaking ring from the levels it receives."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import MEDIA_ARGS, launch
    from tests.voice.test_browser import log_in, speech_like_wav

    assert (ROOT / "static/dist/app.js").exists(), "npm run build first (scripts/setup.sh)"
    a, b, gid, cid = pair["a"], pair["b"], pair["gid"], pair["cid"]
    alice_client = VoiceClient(TONES["alice"])
    with session(a, "alice") as alice_http, sync_playwright() as p:
        gw = client_loop.run(Gateway(a.url, alice_http.cookies).open())
        wav = speech_like_wav(tmp_path / "b.wav", 550.0)
        browser = launch(p, *MEDIA_ARGS, f"--use-file-for-fake-audio-capture={wav}")
        try:
            mark = client_loop.run(gw.send(4, voice(gid, cid)))
            _, offer = client_loop.run(gw.wait({"VOICE_SERVER_UPDATE"}, mark))
            sdp = client_loop.run(alice_client.answer(offer))
            client_loop.run(gw.send(30, {"guild_id": gid, "sdp": sdp}))

            page = browser.new_context().new_page()
            log_in(page, b.url, "bob", f"/app/guilds/{gid}/channels/{pair['text']}/")
            page.click(f"[data-voice-join='{cid}']")
            expect(page.locator("[data-voice-status]")).to_have_text(
                "Voice connected", timeout=20000
            )
            roster = f"[data-voice-roster='{cid}']"
            expect(page.locator(f"{roster} [data-voice-user]")).to_have_count(2, timeout=20000)
            expect(page.locator(roster)).to_contain_text(f"alice@{a.domain}")
            # The moderation menu is the host's business: none on B.
            expect(page.locator(f"{roster} .voice-mod")).to_have_count(0)
            alice_on_b = b.sql(
                "SELECT id FROM accounts_user WHERE username = ?", (f"alice@{a.domain}",)
            )[0][0]
            page.wait_for_selector(f"{roster} [data-voice-user='{alice_on_b}'].speaking")
            page.wait_for_function(
                "() => [...document.querySelectorAll('audio[data-voice-slot]')]"
                ".some(a => a.srcObject && a.srcObject.getAudioTracks()[0].readyState"
                " === 'live')"
            )
            # Bob's microphone reaches A's worker and alice: 550 Hz on bob's slot.
            deadline = time.monotonic() + 20
            heard: dict[int, list[float]] = {}
            while time.monotonic() < deadline and not heard:
                time.sleep(0.5)
                heard = {s: f for s, f in alice_client.heard().items() if s != offer["slot"]}
            assert heard and abs(next(iter(heard.values()))[0] - 550.0) < 60, heard
            page.click("[data-voice-leave]")
            a.wait_for(lambda: set(voice_rows(a, gid)) == {"alice"}, 30, "bob left on A")
        except Exception:
            print("voice states on A:", voice_rows(a, gid), "on B:", voice_rows(b, gid))
            raise
        finally:
            browser.close()
            client_loop.run(alice_client.close())
            client_loop.run(gw.send(4, voice(gid, None)))
            client_loop.run(gw.close())
