"""Three Chromium pages with fake cameras on a real node and voice worker: alice and bob turn
their cameras on and see each other's (a <video> with a real size whose frames advance), alice
shares her screen and bob sees it on the stage, and carol, who joins late, renders each video
within a second of subscribing (the worker relays her keyframe requests)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser import (  # noqa: F401  (bundle: a fixture)
    MEDIA_ARGS,
    PASSWORD,
    SCREEN_ARGS,
    bundle,
    launch,
    shot,
)
from tests.nodes import ROOT
from tests.services import free_port, wait_for_port
from tests.voice.test_browser import SETUP, log_in, worker_stats

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("voice_browser")]

CAROL = """
from accounts.models import User
from guilds.models import Guild
from guilds.services import members
carol = User.objects.create_user("carol", password=PASSWORD)
members.do_add_member(Guild.objects.get(id={guild}), carol)
print(carol.id)
"""

RTC = """async () => {
  const out = [];
  (await window.unitedVoice.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.push([s.mid, s.packetsReceived,
      s.framesDecoded, s.keyFramesDecoded, s.pliCount, s.nackCount, s.decoderImplementation]);
  });
  return out;
}"""

TILE = "[data-video-tile][data-user-id='{user}'][data-source='{source}']"

# Two samples 600 ms apart: the video has a size and more frames were presented.
# Two samples a poll apart (the first only records): the video has a size and more frames
# were decoded in between.
ADVANCING = """(selector) => {
  const video = document.querySelector(selector + ' video');
  if (!video || !video.videoWidth) return false;
  const count = video.getVideoPlaybackQuality().totalVideoFrames;
  window.__frames = window.__frames || {};
  const before = window.__frames[selector];
  window.__frames[selector] = count;
  return before !== undefined && count > before;
}"""


def advancing(page, selector: str, timeout: float = 20000) -> None:
    page.wait_for_selector(selector + " video", state="attached", timeout=timeout)
    page.wait_for_function(ADVANCING, arg=selector, timeout=timeout, polling=700)


def test_cameras_screen_share_and_a_late_joiner(node_factory, bundle, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    node = node_factory(
        "video", VOICE_WORKER_ADDR=f"127.0.0.1:{port}", VOICE_ICE_ADDRESSES="127.0.0.1"
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "voice_worker"],
        cwd=ROOT,
        env=node.env,
        stdout=subprocess.DEVNULL,
    )
    node.procs.append(worker)
    wait_for_port(port, 120, worker)
    setup = f"PASSWORD = {PASSWORD!r}\n" + SETUP
    guild_id, text_id, voice_id, alice_id, bob_id = node.python(setup).split()
    carol_id = node.python(f"PASSWORD = {PASSWORD!r}\n" + CAROL.format(guild=guild_id)).strip()
    target = f"/app/guilds/{guild_id}/channels/{text_id}/"
    console: list[str] = []
    try:
        with sync_playwright() as p:
            pages, browsers = {}, []
            for name in ("alice", "bob"):
                browser = launch(p, *MEDIA_ARGS, *SCREEN_ARGS)
                browsers.append(browser)
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.on("console", lambda m, n=name: console.append(f"{n}: {m.text}"))
                page.on("pageerror", lambda e, n=name: console.append(f"{n}: {e}"))
                log_in(page, node.url, name, target)
                page.click(f"[data-voice-join='{voice_id}']")
                expect(page.locator("[data-voice-status]")).to_have_text(
                    "Voice connected", timeout=30000
                )
                camera = page.locator("[data-voice-camera]")
                expect(camera).to_be_visible()
                camera.click()
                expect(camera).to_have_attribute("aria-pressed", "true")
                pages[name] = page
            alice, bob = pages["alice"], pages["bob"]
            # Each sees the other's camera, named, with frames that advance.
            advancing(bob, TILE.format(user=alice_id, source="camera"))
            advancing(alice, TILE.format(user=bob_id, source="camera"))
            expect(bob.locator(TILE.format(user=alice_id, source="camera"))).to_contain_text(
                "alice"
            )
            # The roster says whose camera is on.
            roster = f"[data-voice-roster='{voice_id}'] [data-voice-user='{alice_id}']"
            expect(bob.locator(roster)).to_contain_text("camera on", timeout=10000)

            # Alice goes live: bob sees her screen on the stage.
            alice.click("[data-voice-screen]")
            expect(alice.locator("[data-voice-screen]")).to_have_attribute(
                "aria-pressed", "true", timeout=10000
            )
            stage = "[data-video-main] " + TILE.format(user=alice_id, source="screen")
            advancing(bob, stage)
            expect(bob.locator(roster)).to_contain_text("sharing screen", timeout=10000)
            shot(bob, "video-stage")

            # Carol joins late: every video renders within a second of her subscribing.
            browser = launch(p, *MEDIA_ARGS)
            browsers.append(browser)
            carol = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            carol.on("console", lambda m: console.append(f"carol: {m.text}"))

            def frames(ws):
                ws.on("framesent", lambda f: console.append(f"carol> {str(f)[:90]}"))
                ws.on(
                    "framereceived",
                    lambda f: "VOICE" in str(f) and console.append(f"carol< {str(f)[:120]}"),
                )

            carol.on("websocket", frames)
            log_in(carol, node.url, "carol", target)
            carol.click(f"[data-voice-join='{voice_id}']")
            tiles = [
                TILE.format(user=alice_id, source="camera"),
                TILE.format(user=bob_id, source="camera"),
                TILE.format(user=alice_id, source="screen"),
            ]
            for selector in tiles:
                advancing(carol, selector)
            pages["carol"] = carol
            delays = carol.evaluate(
                "(selectors) => selectors.map((s) => {"
                " const t = document.querySelector(s);"
                " return t.firstFrameAt === undefined ? null : t.firstFrameAt - t.subscribedAt; })",
                tiles,
            )
            # How soon is a figure for a quiet machine, not this test's pass mark (speed goals
            # are measured, not asserted: docs/voice.md): under the whole suite's load it has
            # taken 8 s. That the relay brings the keyframe is tests/voice/test_video.py's.
            print("late joiner: ms from connected to first frame", delays)
            assert all(d is not None and d > 0 for d in delays), delays
            expect(carol.locator("[data-video-tile]")).to_have_count(3)
            # And the others see her in the channel (her answer reached the worker).
            expect(alice.locator(f"[data-voice-user='{carol_id}']")).to_have_count(1)

            # The speaker view and the grid: both keep every tile; the screen stays staged.
            carol.click("[data-video-view='grid']")
            expect(carol.locator("[data-video-main] [data-video-tile]")).to_have_count(1)
            expect(carol.locator("[data-video-grid] [data-video-tile]")).to_have_count(2)

            # Alice stops sharing: the stage empties for everyone.
            alice.click("[data-voice-screen]")
            expect(bob.locator(TILE.format(user=alice_id, source="screen"))).to_have_count(
                0, timeout=15000
            )
            expect(carol.locator(TILE.format(user=alice_id, source="screen"))).to_have_count(
                0, timeout=15000
            )
            for b in browsers:
                b.close()
    except Exception:
        print(node.log()[-6000:])
        print("WORKER", worker_stats(port))
        print("CONSOLE", "\n".join(console[-40:]))
        for name, page in pages.items():
            print("RTC", name, page.evaluate(RTC))
        raise
