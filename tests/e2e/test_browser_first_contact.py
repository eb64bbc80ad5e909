"""Keys at birth, in Chromium against a live node: bob signs in and never opens the DM page,
yet his browser has made its device (identity, signed prekey, one-time prekeys) and signed
his first device list, so alice's first DM to him is delivered, and he reads it when he does
open DMs. Before, the DM was refused: bob had no device until he visited the DM page."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser import PASSWORD, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.e2e.test_browser import ready
from tests.nodes import services_mode

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]

FIRST = "first contact before bob ever opened his DMs"


def watch(page, problems: list[str]) -> None:
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/.*"))


def api(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_first_dm_reaches_a_member_who_never_opened_dms(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("birth")
    base = node.url
    alice_auth, bob_auth = register(base, "alice"), register(base, "bob")
    alice, bob = api(base, alice_auth["access_token"]), api(base, bob_auth["access_token"])
    guild = alice.post("/api/v1/guilds", json={"name": "Porch"}).json()
    channels = alice.get(f"/api/v1/guilds/{guild['id']}/channels").json()
    channel = next(c for c in channels if c["type"] == 0)
    code = alice.post(f"/api/v1/channels/{channel['id']}/invites", json={}).json()["code"]
    assert bob.post(f"/api/v1/invites/{code}", json={}).status_code == 200
    assert bob.get("/api/v1/users/@me/devices").json() == []  # an account made by the API
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            bob_page = browser.new_context().new_page()
            watch(bob_page, problems)
            sign_in(bob_page, base, "bob")
            assert "/dms/" not in bob_page.url
            bob_page.wait_for_selector("html[data-e2e-device=ready]", timeout=20000)
            # What the node now holds for bob: one device with its one-time prekeys, and a
            # device list it signed, all without a visit to the DM page.
            (device,) = bob.get("/api/v1/users/@me/devices").json()
            assert device["one_time_prekeys"] >= 10
            listed = bob.get(f"/api/v1/users/{bob_auth['user_id']}/device-list")
            assert listed.status_code == 200, listed.text
            # A second page of the same browser finds the device and makes no other.
            bob_page.goto(f"{base}/app/")
            bob_page.wait_for_load_state("networkidle")
            assert len(bob.get("/api/v1/users/@me/devices").json()) == 1

            alice_page = browser.new_context().new_page()
            watch(alice_page, problems)
            sign_in(alice_page, base, "alice")
            alice_page.goto(f"{base}/app/dms/")
            alice_page.click("[data-new-dm-open]")
            alice_page.click(f"[data-new-dm-person='{bob_auth['user_id']}']")
            ready(alice_page, problems)
            alice_page.fill("#composer-input", FIRST)
            alice_page.keyboard.press("Enter")
            # (Encrypting a first message runs X3DH in the page: generous on a loaded machine.)
            expect(alice_page.locator("[data-message]", has_text=FIRST)).to_be_visible(
                timeout=20000
            )
            expect(alice_page.locator("[data-composer-error]")).to_be_hidden()

            bob_page.goto(f"{base}/app/dms/")
            bob_page.locator("[data-dm-link]", has_text="alice").click()
            ready(bob_page, problems)
            expect(bob_page.locator("[data-message]", has_text=FIRST)).to_be_visible(timeout=20000)
            browser.close()
        # alice went to her DMs at once, which can cut her first page's key registration short
        # (her DM page then makes the device, and its first look at her list may 404); no
        # other request of either browser failed.
        assert [p for p in problems if "404" not in p] == [], problems
        assert FIRST not in node.log()
    except Exception:
        print(node.log()[-6000:])
        raise
