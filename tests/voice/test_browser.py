"""Two Chromium pages with fake microphones join a voice channel on a real node with a real
voice worker, and each sees the other speaking (the worker's RFC 6464 levels → VOICE_SPEAKING)
and hears them (audio arrives on the slot the gateway names)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser import MEDIA_ARGS, PASSWORD, bundle, launch  # noqa: F401  (bundle: a fixture)
from tests.nodes import ROOT
from tests.services import free_port, wait_for_port

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("voice_browser")]

SETUP = """
from accounts.models import User
from guilds.services import channels, guilds, members
alice = User.objects.create_user("alice", password=PASSWORD)
bob = User.objects.create_user("bob", password=PASSWORD)
guild = guilds.check_create_guild(alice, name="Voice Club", description="")
members.do_add_member(guild, bob)
text = guild.channels.get(name="general")
voice = channels.check_create_channel(alice, guild.id, {"name": "Lounge", "type": 2})
print(guild.id, text.id, voice.id, alice.id, bob.id)
"""


def log_in(page, url: str, name: str, target: str) -> None:
    page.goto(f"{url}/login/?next={target}")
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{target}")
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )


def speech_like_wav(path, frequency: float) -> str:
    """A tone in 0.6 s bursts (Chrome loops the file): loud enough to count as speech after
    noise suppression, which flattens a steady tone. Each browser gets its own frequency: one
    Chromium's echo canceller would otherwise cancel a capture identical to what it plays."""
    import math
    import struct
    import wave

    rate = 48000
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = bytearray()
        for i in range(rate * 4):
            on = (i % rate) < rate * 0.6
            value = int(16000 * math.sin(2 * math.pi * frequency * i / rate)) if on else 0
            frames += struct.pack("<h", value)
        out.writeframes(bytes(frames))
    return str(path)


def voice_node(node_factory, **env: str):
    """A node with its voice worker, and the SETUP world: (node, worker, port, ids)."""
    port = free_port()
    node = node_factory(
        "voice", VOICE_WORKER_ADDR=f"127.0.0.1:{port}", VOICE_ICE_ADDRESSES="127.0.0.1", **env
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "voice_worker"],
        cwd=ROOT,
        env=node.env,
        stdout=subprocess.DEVNULL,
    )
    node.procs.append(worker)
    wait_for_port(port, 120, worker)  # returns as soon as it listens; a loaded machine is slow
    setup = f"PASSWORD = {PASSWORD!r}\n" + SETUP
    return node, worker, port, node.python(setup).split()


def test_two_browsers_join_voice_and_see_each_other_speak(node_factory, bundle, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node, worker, port, ids = voice_node(node_factory)
    guild_id, text_id, voice_id, alice_id, bob_id = ids
    target = f"/app/guilds/{guild_id}/channels/{text_id}/"
    try:
        with sync_playwright() as p:
            pages, browsers = {}, []
            for name, frequency in (("alice", 330.0), ("bob", 550.0)):
                wav = speech_like_wav(tmp_path / f"{name}.wav", frequency)
                browser = launch(p, *MEDIA_ARGS, f"--use-file-for-fake-audio-capture={wav}")
                browsers.append(browser)
                page = browser.new_context().new_page()
                log_in(page, node.url, name, target)
                page.click(f"[data-voice-join='{voice_id}']")
                pages[name] = page
            roster = f"[data-voice-roster='{voice_id}']"
            for name, other in (("alice", bob_id), ("bob", alice_id)):
                page = pages[name]
                expect(page.locator(f"{roster} [data-voice-user]")).to_have_count(2, timeout=20000)
                expect(page.locator("[data-voice-status]")).to_have_text(
                    "Voice connected", timeout=20000
                )
                # The other member's ring lights up: they are speaking (fake mic beeps).
                page.wait_for_selector(
                    f"{roster} [data-voice-user='{other}'].speaking", timeout=20000
                )
                # ... and their audio plays here: a remote track on one slot element.
                page.wait_for_function(
                    "() => [...document.querySelectorAll('audio[data-voice-slot]')]"
                    ".some(a => a.srcObject && a.srcObject.getAudioTracks()[0].readyState"
                    " === 'live')"
                )
            # The connection panel shows getStats figures and the path: direct on loopback,
            # and this node has no TURN server to relay through.
            expect(pages["alice"].locator("[data-voice-stats]")).to_contain_text(
                "Latency", timeout=10000
            )
            expect(pages["alice"].locator("[data-voice-path]")).to_have_text(
                "Direct (local network)", timeout=10000
            )
            # Alice mutes herself: bob's roster says so, the worker stops her stream.
            pages["alice"].click("[data-voice-mute]")
            expect(
                pages["bob"].locator(f"{roster} [data-voice-user='{alice_id}'] .voice-flags")
            ).to_have_text("muted", timeout=10000)
            # Bob leaves: alice's roster shrinks to herself.
            pages["bob"].click("[data-voice-leave]")
            expect(pages["alice"].locator(f"{roster} [data-voice-user]")).to_have_count(
                1, timeout=30000
            )
            for browser in browsers:
                browser.close()
    except Exception:
        print(node.log()[-6000:])
        print("WORKER", worker_stats(port))
        print(
            "VOICE STATES",
            node.python(
                "from voice.models import VoiceState\n"
                "print(list(VoiceState.objects.values_list('user__username', 'channel_id')))"
            ),
        )
        raise


def worker_stats(port: int) -> str:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b'{"op": "stats"}\n')
        return sock.makefile().readline()


def test_a_member_who_always_relays_talks_through_coturn(node_factory, bundle, tmp_path):  # noqa: F811
    """Voice settings → "Always connect through the relay": the browser offers only TURN
    candidates (a real coturn on loopback, with the node's minted credentials), the panel says
    the path is the relay, and both members still hear each other; the other member, who did
    not tick it, is direct."""
    import shutil

    from playwright.sync_api import expect, sync_playwright

    from tests.voice.test_turn import SECRET, start_coturn

    if not shutil.which("turnserver"):
        pytest.skip("coturn (turnserver) not installed")
    coturn, turn_port, _tls_port = start_coturn(tmp_path)
    node = port = None
    try:
        node, worker, port, ids = voice_node(
            node_factory,
            TURN_URLS=f"turn:127.0.0.1:{turn_port}?transport=udp",
            TURN_SECRET=SECRET,
        )
        guild_id, text_id, voice_id, alice_id, bob_id = ids
        target = f"/app/guilds/{guild_id}/channels/{text_id}/"
        roster = f"[data-voice-roster='{voice_id}']"
        with sync_playwright() as p:
            pages, browsers = {}, []
            for name, frequency in (("alice", 330.0), ("bob", 550.0)):
                wav = speech_like_wav(tmp_path / f"{name}.wav", frequency)
                browser = launch(p, *MEDIA_ARGS, f"--use-file-for-fake-audio-capture={wav}")
                browsers.append(browser)
                page = browser.new_context().new_page()
                log_in(page, node.url, name, target)
                page.click(f"[data-voice-join='{voice_id}']")
                pages[name] = page
            alice = pages["alice"]
            expect(alice.locator("[data-voice-path]")).to_have_text(
                "Direct (local network)", timeout=20000
            )
            # Alice ticks the setting while connected: she connects again, through the relay.
            alice.click("[data-voice-settings]")
            alice.check("[data-voice-relay]")
            expect(alice.locator("[data-voice-path]")).to_have_text(
                "Relayed through TURN (UDP)", timeout=30000
            )
            expect(alice.locator("[data-voice-status]")).to_have_text("Voice connected")
            expect(pages["bob"].locator("[data-voice-path]")).to_have_text("Direct (local network)")
            for name, other in (("alice", bob_id), ("bob", alice_id)):
                pages[name].wait_for_selector(
                    f"{roster} [data-voice-user='{other}'].speaking", timeout=20000
                )
            # The choice is kept: after a reload the page rejoins through the relay at once.
            alice.reload()
            expect(alice.locator("[data-voice-path]")).to_have_text(
                "Relayed through TURN (UDP)", timeout=30000
            )
            for browser in browsers:
                browser.close()
    except Exception:
        if node is not None:
            print(node.log()[-6000:])
            print("WORKER", worker_stats(port))
        raise
    finally:
        coturn.terminate()
        coturn.wait(10)
