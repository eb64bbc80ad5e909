"""Two DM tabs of one browser, in Chromium against a live node: the device state (ratchets,
prekeys, drafts) has one owner per browser. The second tab says why it waits instead of
loading a copy of the state it would later write over the first tab's newer one, and takes
over by itself when the first tab closes."""

from __future__ import annotations

import pytest

from tests.browser import axe_violations, bundle, launch, register  # noqa: F401  (bundle: a fixture)
from tests.e2e.test_browser_first_contact import api, sign_in, watch
from tests.nodes import services_mode

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]

READY = "[data-e2e-pane][data-e2e-ready=true]"


def test_a_second_dm_tab_waits_for_the_first_and_takes_over(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("tabs")
    base = node.url
    alice_auth, bob_auth = register(base, "alice"), register(base, "bob")
    alice = api(base, alice_auth["access_token"])
    bob = api(base, bob_auth["access_token"])
    guild = alice.post("/api/v1/guilds", json={"name": "Porch"}).json()
    channels = alice.get(f"/api/v1/guilds/{guild['id']}/channels").json()
    channel = next(c for c in channels if c["type"] == 0)
    code = alice.post(f"/api/v1/channels/{channel['id']}/invites", json={}).json()["code"]
    assert bob.post(f"/api/v1/invites/{code}", json={}).status_code == 200
    dm = alice.post("/api/v1/users/@me/channels", json={"recipient_id": bob_auth["user_id"]})
    assert dm.status_code == 200, dm.text
    url = f"{base}/app/dms/{dm.json()['id']}/"
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            first = context.new_page()
            watch(first, problems)
            sign_in(first, base, "alice")
            first.goto(url)
            first.wait_for_selector(READY, timeout=30000)

            second = context.new_page()
            watch(second, problems)
            second.goto(url)
            warning = second.locator("[data-e2e-pane] [data-e2e-warning]")
            expect(warning).to_contain_text("open in another tab", timeout=15000)
            assert second.locator(READY).count() == 0  # nothing loaded, nothing to write back
            assert axe_violations(second) == []

            first.close()  # the owner goes: the waiting tab takes over by itself
            second.wait_for_selector(READY, timeout=30000)
            expect(warning).to_be_hidden()
            second.fill("#composer-input", "from the tab that took over")
            second.keyboard.press("Enter")
            # bob has no device yet: the message waits on this device, shown in the list.
            expect(
                second.locator("[data-message]", has_text="from the tab that took over")
            ).to_be_visible()
            browser.close()
    except Exception:
        print(node.log()[-6000:])
        raise
    # bob has no device list yet: its lookups answer 404, which the page expects.
    assert not [p for p in problems if "Failed to load resource" not in p], problems
