"""Channels and permissions managed from the client, in Chromium against a real node, with a
member watching in a second browser context: the owner creates a category and (through the
voice category's "+") a voice channel, drags a channel into the category, renames and deletes
channels from the settings list, and denies View Channels to the member's role on a channel;
the member's sidebar follows every step live, without a reload. Each new screen is saved under
docs/screenshots/ and must pass axe-core with no violation of any severity."""

from __future__ import annotations

import pytest

from tests import browser
from tests.browser import (
    DOC_SHOTS,
    Api,
    axe_violations,
    bundle,  # noqa: F401  (a fixture)
    connected,
    launch,
    register,
    sign_in,
)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser")]


def shot(page, name: str) -> None:
    # Committed: docs/features.md links these pictures.
    browser.shot(page, name, DOC_SHOTS)


def test_owner_manages_channels_and_a_member_follows_live(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("channels")
    try:
        with sync_playwright() as p:
            journey(node.url, p, expect)
    except Exception:
        print(node.log()[-6000:])
        raise


def journey(base: str, p, expect) -> None:
    alice_api = Api(base, register(base, "alice")["access_token"])
    bob_answer = register(base, "bob")
    bob_id = bob_answer["user_id"]
    bob_api = Api(base, bob_answer["access_token"])
    guild = alice_api("POST", "/guilds", {"name": "Workshop"})
    gid = guild["id"]
    channels = {c["name"]: c for c in alice_api("GET", f"/guilds/{gid}/channels")}
    text_cat = channels["Text Channels"]["id"]
    general = channels["general"]["id"]
    for name in ("lounge", "scratch"):
        alice_api("POST", f"/guilds/{gid}/channels", {"name": name, "parent_id": text_cat})
    code = alice_api("POST", f"/channels/{general}/invites", {})["code"]
    bob_api("POST", f"/invites/{code}", {})
    guests = alice_api("POST", f"/guilds/{gid}/roles", {"name": "Guests"})["id"]
    alice_api("PUT", f"/guilds/{gid}/members/{bob_id}/roles/{guests}", status=204)
    general_url = f"{base}/app/guilds/{gid}/channels/{general}/"

    def ids() -> dict[str, dict]:
        return {c["name"]: c for c in alice_api("GET", f"/guilds/{gid}/channels")}

    browser = launch(p)
    alice_ctx, alice, alice_problems = sign_in(browser, base, "alice")
    _bob_ctx, bob, bob_problems = sign_in(browser, base, "bob")
    alice.goto(general_url)
    bob.goto(general_url)
    connected(alice)
    connected(bob)
    # Whatever happens below reaches bob's page live: this mark would vanish on a reload.
    bob.evaluate("() => { window.stillTheSamePage = true; }")
    bob_sidebar = bob.locator("#channel-list")
    # A member without MANAGE_CHANNELS is offered none of the tools.
    expect(bob.locator("[data-dialog-open='create-category']")).to_have_count(0)
    expect(bob.locator("[draggable='true']")).to_have_count(0)

    # A category, from the sidebar's tools.
    alice.click("[data-dialog-open='create-category']")
    alice.fill("#new-category-field", "Projects")
    alice.click("#create-category button[type=submit]")
    expect(alice.locator("#channel-list .cat-title", has_text="Projects")).to_be_visible()
    expect(bob_sidebar.locator(".cat-title", has_text="Projects")).to_be_visible()
    projects = ids()["Projects"]
    assert projects["type"] == 4

    # The voice category's "+" starts the dialog on Voice.
    connected(alice)
    alice.click("[aria-label='Create a voice channel in Voice Channels']")
    expect(alice.locator("#create-channel input[name=type][value='2']")).to_be_checked()
    alice.fill("#new-channel-name", "Standup")
    shot(alice, "channels-create-voice")
    alice.evaluate("() => { window.stillTheSamePage = true; }")
    alice.click("#create-channel button[type=submit]")
    expect(alice.locator("[data-voice-join][data-channel-name='Standup']")).to_be_visible()
    # No reload for a channel there is nothing to open: the dialog closes, the list refreshes.
    expect(alice.locator("#create-channel")).not_to_be_visible()
    assert alice.evaluate("() => window.stillTheSamePage === true")
    expect(bob.locator("[data-voice-join][data-channel-name='Standup']")).to_be_visible()
    made = ids()["Standup"]
    assert made["type"] == 2 and made["parent_id"] == channels["Voice Channels"]["id"]

    # A drag in the sidebar moves #lounge into Projects.
    connected(alice)
    lounge = ids()["lounge"]["id"]
    alice.locator(f"li[data-drag-id='{lounge}']").drag_to(
        alice.locator(f"section[data-drag-id='{projects['id']}'] .cat-title")
    )
    expect(
        bob.locator(f"section[aria-labelledby='cat-{projects['id']}'] [data-channel-name='lounge']")
    ).to_be_visible()
    assert ids()["lounge"]["parent_id"] == projects["id"]

    # The settings list: rename #lounge, delete #scratch after the confirmation dialog.
    alice.goto(f"{base}/app/guilds/{gid}/settings/channels/")
    shot(alice, "channels-settings")
    alice.click("[aria-label='Edit lounge']")
    alice.fill(f"#rename-{lounge}", "hangout")
    alice.locator(f"#rename-{lounge}").press("Enter")
    expect(alice.locator(f"#admin-chan-{lounge}")).to_contain_text("hangout")
    expect(bob_sidebar.locator("[data-channel-name='hangout']")).to_be_visible()
    scratch = ids()["scratch"]["id"]
    alice.click("[aria-label='Delete scratch']")
    dialog = alice.locator("#delete-channel")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete #scratch?")
    shot(alice, "channels-delete-confirm")
    dialog.locator("button[type=submit]").click()
    expect(alice.locator(f"#admin-chan-{scratch}")).to_have_count(0)
    expect(bob_sidebar.locator("[data-channel-name='scratch']")).to_have_count(0)
    assert "scratch" not in ids()
    # The keyboard's way to move: a button, here pressed with Enter.
    alice.locator("[aria-label='Move Standup up']").press("Enter")
    expect(alice.locator("[aria-label='Move Standup up']")).to_be_disabled()
    assert ids()["Standup"]["position"] == 0

    # Deny View Channels to Guests on #hangout: it leaves bob's sidebar without a reload.
    expect(bob_sidebar.locator("[data-channel-name='hangout']")).to_be_visible()
    alice.goto(f"{base}/app/guilds/{gid}/settings/channels/{lounge}/?target=role:{guests}")
    alice.check("[aria-label='Deny View Channels']")
    shot(alice, "channels-overwrites")
    alice.click("button:has-text('Save overwrites')")
    expect(alice.locator(".notice")).to_have_text("Saved.")
    expect(alice.locator("[aria-label='Deny View Channels']")).to_be_checked()
    expect(bob_sidebar.locator("[data-channel-name='hangout']")).to_have_count(0)
    expect(bob_sidebar.locator("[data-channel-name='general']")).to_be_visible()
    assert bob.evaluate("() => window.stillTheSamePage") is True
    bob_api("GET", f"/channels/{lounge}", status=404)  # and the node refuses it, not just the page

    # "View as role" shows the same thing before anyone logs in as Guests.
    alice.goto(f"{base}/app/guilds/{gid}/settings/view-as/?role={guests}")
    expect(alice.locator("[data-view-as-channel='hangout']")).to_have_attribute(
        "data-visible", "no"
    )
    expect(alice.locator("[data-view-as-channel='general']")).to_have_attribute(
        "data-visible", "yes"
    )
    shot(alice, "channels-view-as")
    alice.goto(f"{base}/app/guilds/{gid}/settings/roles/{guests}/")
    expect(alice.locator("legend", has_text="Voice permissions")).to_be_visible()
    shot(alice, "permissions-role")
    assert not alice_problems and not bob_problems, (alice_problems, bob_problems)

    # Accessibility of every new screen, both themes, every severity.
    axe_ctx = browser.new_context(
        bypass_csp=True,
        viewport={"width": 1280, "height": 800},
        storage_state=alice_ctx.storage_state(),
    )
    page = axe_ctx.new_page()
    screens = [
        f"{base}/app/guilds/{gid}/settings/channels/",
        f"{base}/app/guilds/{gid}/settings/channels/{lounge}/?target=role:{guests}",
        f"{base}/app/guilds/{gid}/settings/channels/{projects['id']}/?target=member:{bob_id}",
        f"{base}/app/guilds/{gid}/settings/view-as/?role={guests}",
        f"{base}/app/guilds/{gid}/settings/roles/{guests}/",
    ]
    for theme in ("dark", "light"):
        page.goto(general_url)
        page.evaluate(f"() => localStorage.setItem('united-theme', '{theme}')")
        for url in screens:
            page.goto(url)
            found = axe_violations(page)
            assert not found, (theme, url, found)
        page.goto(f"{base}/app/guilds/{gid}/settings/channels/")
        page.click("[aria-label='Delete hangout']")
        assert not (found := axe_violations(page)), (theme, "delete dialog", found)
        page.goto(general_url)
        page.click("[aria-label='Create a voice channel in Voice Channels']")
        assert not (found := axe_violations(page)), (theme, "create channel dialog", found)
        page.keyboard.press("Escape")
        page.click("[data-dialog-open='create-category']")
        assert not (found := axe_violations(page)), (theme, "create category dialog", found)
    browser.close()
