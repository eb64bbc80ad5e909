"""DMs at the quality of channels, in Chromium against a live node, alice and bob in two
browser contexts: alice starts a DM from "New message"; bob's DM list gets her conversation
live, with her avatar, the preview of her last message (decrypted in his browser) and an
unread count that clears when he opens it; consecutive messages group under one name; a reply
quotes what it answers; a reaction (an encrypted control message) shows for both; a message
his device cannot decrypt is shown loudly with the action that fixes it, and that action
works; an encrypted picture opened on click stays open as messages arrive. Afterwards
nothing the two said is in the node's database files or its log."""

from __future__ import annotations

import base64
import os
import re

import httpx
import pytest

from tests.browser import DOC_SHOTS, bundle, launch, register, shot  # noqa: F401  (bundle: a fixture)
from tests.e2e.test_browser import tiny_png
from tests.e2e.test_browser_first_contact import api, sign_in, watch
from tests.nodes import services_mode

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]

FIRST = "Hello bob, this is alice"
SECOND = "Are you coming to the meetup tonight"
REPLY = "Yes, see you at eight"
THIRD = "Great, I will bring the slides"
ONE_MORE = "That is the way to the venue"
SAID = [FIRST, SECOND, REPLY, THIRD, ONE_MORE, "could not be decrypted on my device"]


def ready_home(page) -> None:
    page.wait_for_selector("[data-e2e-home][data-e2e-ready=true]", timeout=30000)


def ready_dm(page) -> None:
    page.wait_for_selector("[data-e2e-pane][data-e2e-ready=true]", timeout=30000)
    page.wait_for_function("() => window.unitedGateway?.state === 'connected'", timeout=20000)


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def forge_undecryptable(alice: httpx.Client, bob: httpx.Client, ids: dict, channel: str) -> None:
    """An envelope from alice's device to bob's that his device cannot open: the header of a
    message he already read, with ciphertext that is noise (the node cannot tell)."""
    [alice_device] = alice.get("/api/v1/users/@me/devices").json()
    [bob_device] = bob.get("/api/v1/users/@me/devices").json()
    seen = bob.get(
        f"/api/v1/channels/{channel}/envelopes", params={"device_id": bob_device["id"]}
    ).json()
    header = seen[-1]["copies"][0]["header"]
    envelope = {
        "v": seen[-1]["v"],
        "channel_id": channel,
        "sender": {"user_id": ids["alice"], "device_id": alice_device["id"]},
        "nonce": "forged1",
        "copies": [
            {
                "user_id": ids["bob"],
                "device_id": bob_device["id"],
                "header": header,
                "x3dh": None,
                "ciphertext": base64.b64encode(os.urandom(80)).decode(),
            }
        ],
    }
    r = alice.post(f"/api/v1/channels/{channel}/envelopes", json=envelope)
    assert r.status_code == 201, r.text


def test_dm_list_and_conversation_look_like_channels(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("dmui")
    base = node.url
    alice_auth, bob_auth = register(base, "alice"), register(base, "bob")
    alice, bob = api(base, alice_auth["access_token"]), api(base, bob_auth["access_token"])
    guild = alice.post("/api/v1/guilds", json={"name": "Meetup Crew"}).json()
    text = next(
        c for c in alice.get(f"/api/v1/guilds/{guild['id']}/channels").json() if c["type"] == 0
    )
    code = alice.post(f"/api/v1/channels/{text['id']}/invites", json={}).json()["code"]
    assert bob.post(f"/api/v1/invites/{code}", json={}).status_code == 200
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            a = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            b = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            watch(a, problems)
            watch(b, problems)
            sign_in(b, base, "bob")
            b.goto(f"{base}/app/dms/")
            ready_home(b)
            expect(b.locator("[data-dm-none]")).to_be_visible()

            # Alice starts the DM from "New message" (people who share a community with her).
            sign_in(a, base, "alice")
            a.click("[data-rail] a[title='Direct messages'], a.rail-item[title='Direct messages']")
            ready_home(a)
            a.click("[data-new-dm-open]")
            a.fill("[data-new-dm-filter]", "bo")
            a.click(f"[data-new-dm-person='{bob_auth['user_id']}']")
            a.wait_for_url(re.compile(r".*/app/dms/\d+/$"))
            channel = a.url.rstrip("/").rsplit("/", 1)[1]
            ready_dm(a)
            send(a, FIRST)
            send(a, SECOND)
            expect(a.locator("[data-message]", has_text=SECOND)).to_be_visible()

            # Bob's list: the new conversation arrives live, previewed and counted.
            item = b.locator(f"[data-dm-item='{channel}']")
            expect(item.locator("[data-dm-name]")).to_have_text("alice", timeout=20000)
            expect(item.locator(".avatar")).to_have_text("AL")
            expect(item.locator("[data-dm-preview]")).to_have_text(SECOND, timeout=20000)
            expect(item.locator("[data-dm-unread]")).to_have_text("2")
            expect(item.locator("[data-dm-link]")).to_have_accessible_name(
                re.compile(r"alice.*2 unread messages")
            )

            # He opens it: the count clears; alice's two messages sit under one name.
            item.locator("[data-dm-link]").click()
            ready_dm(b)
            expect(b.locator("[data-message]", has_text=SECOND)).to_be_visible()
            opened = b.locator(f"[data-dm-item='{channel}']")
            expect(opened.locator("[data-dm-unread]")).to_be_hidden()
            first = b.locator("[data-message]", has_text=FIRST)
            second = b.locator("[data-message]", has_text=SECOND)
            expect(first.locator(".msg-author")).to_have_text("alice")
            expect(first.locator(".avatar")).to_have_text("AL")
            expect(first.locator("time.msg-time")).to_have_text(
                re.compile(r"\d\d/\d\d/\d{4} \d\d:\d\d")
            )
            expect(second).to_have_class(re.compile(r"\bgrouped\b"))
            expect(second.locator(".msg-author")).to_have_count(0)
            expect(b.locator(".day-sep")).to_have_count(1)

            # A reply quotes its target, for both.
            first.hover()
            first.locator("[data-e2e-action=reply]").click()
            expect(b.locator("[data-reply-banner]")).to_contain_text("Replying to alice")
            send(b, REPLY)
            mine = b.locator("[data-message]", has_text=REPLY)
            expect(mine.locator(".reply-ref")).to_contain_text("@alice")
            expect(mine.locator(".reply-ref")).to_contain_text(FIRST)
            expect(b.locator("[data-reply-banner]")).to_be_hidden()
            theirs = a.locator("[data-message]", has_text=REPLY)
            expect(theirs.locator(".reply-ref")).to_contain_text(FIRST)
            expect(theirs.locator(".msg-author")).to_have_text("bob")

            # A reaction, carried encrypted, shows for both.
            theirs.hover()
            theirs.locator("[data-e2e-action=react]").click()
            a.click("[data-e2e-picker] button[aria-label='React with 🎉']")
            chip = "[data-e2e-reaction='🎉']"
            expect(theirs.locator(chip)).to_have_attribute("aria-pressed", "true")
            expect(theirs.locator(f"{chip} .reaction-count")).to_have_text("1")
            expect(mine.locator(chip)).to_have_attribute("aria-pressed", "false")
            expect(mine.locator(f"{chip} .reaction-count")).to_have_text("1")
            # Bob adds his: two on both sides.
            mine.locator(chip).click()
            expect(mine.locator(f"{chip} .reaction-count")).to_have_text("2")
            expect(theirs.locator(f"{chip} .reaction-count")).to_have_text("2")

            # An encrypted picture: opened on click, and still open after the next message.
            a.set_input_files(
                "[data-e2e-file]",
                files=[{"name": "map.png", "mimeType": "image/png", "buffer": tiny_png()}],
            )
            b.locator("[data-e2e-attachment]").click()
            picture = b.locator("img.e2e-image[alt='map.png']")
            expect(picture).to_be_visible()
            send(a, ONE_MORE)
            expect(b.locator("[data-message]", has_text=ONE_MORE)).to_be_visible()
            expect(picture).to_be_visible()
            assert picture.evaluate("img => img.naturalWidth") == 3

            # Back on his list, the conversation stays read; alice's next message counts one.
            b.goto(f"{base}/app/dms/")
            ready_home(b)
            item = b.locator(f"[data-dm-item='{channel}']")
            expect(item.locator("[data-dm-preview]")).to_have_text(ONE_MORE)
            expect(item.locator("[data-dm-unread]")).to_be_hidden()
            send(a, THIRD)
            expect(item.locator("[data-dm-preview]")).to_have_text(THIRD, timeout=20000)
            expect(item.locator("[data-dm-unread]")).to_have_text("1")
            # The list page is the rail's DM button's destination, and it says so.
            expect(b.locator("a.rail-item[title='Direct messages']")).to_have_attribute(
                "aria-current", "page"
            )

            # A message his device cannot decrypt: loud, in the list, with what fixes it.
            item.locator("[data-dm-link]").click()
            ready_dm(b)
            ids = {"alice": alice_auth["user_id"], "bob": bob_auth["user_id"]}
            forge_undecryptable(alice, bob, ids, channel)
            broken = b.locator("[data-undecryptable]")
            expect(broken).to_contain_text("This message could not be decrypted on this device")
            expect(broken.locator(".msg-author")).to_have_text("alice")
            expect(b.locator(f"[data-dm-item='{channel}'] [data-dm-preview]")).to_have_text(
                "Encrypted message"
            )
            shot(b, "dm-conversation", DOC_SHOTS)
            ask = broken.locator("[data-e2e-fix=resend]")
            expect(ask).to_have_text("Ask alice to resend")
            ask.click()
            expect(ask).to_have_text("Asked alice to resend")
            expect(ask).to_be_disabled()
            expect(b.locator(f"[data-dm-item='{channel}'] [data-dm-preview]")).to_have_text(
                re.compile(r"^You: Your message \(sent .+\) could not be decrypted on my device")
            )
            expect(
                a.locator("[data-message]", has_text="could not be decrypted on my device")
            ).to_be_visible()

            # Safety number from the header; marked verified once confirmed.
            b.click("[data-safety-open]")
            expect(b.locator("[data-safety-number]")).to_have_text(
                re.compile(r"^(\d{5} ){11}\d{5}$")
            )
            b.click("[data-safety-verify]")
            expect(b.locator(".pane-header [data-e2e-verified]")).to_have_text("✔ Verified")
            browser.close()

        # The node had only ciphertext: nothing said is in its database files or its log.
        log = node.log()
        files = [p.read_bytes() for p in (node.directory / "data").rglob("*") if p.is_file()]
        assert any(b"Meetup Crew" in blob for blob in files)  # the scan does see the database
        for said in SAID:
            assert said not in log, said
            assert not any(said.encode() in blob for blob in files), said
        assert [m for m in problems if "Failed to load resource" not in m] == []
    except Exception:
        print(node.log()[-6000:])
        raise
