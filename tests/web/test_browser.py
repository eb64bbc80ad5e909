"""The chat client in a real browser (Debian's Chromium through Playwright) against a real
node: two people onboard, one creates a community, a private channel and an invite, the
other joins through the invite link, they talk, and reactions and edits arrive live.
Screens are saved under test-output/screenshots/ and checked with axe-core."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.nodes import ROOT

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "test-output" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def bundle() -> None:
    subprocess.run(["npm", "run", "build"], cwd=ROOT, check=True, capture_output=True)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => JSON.stringify((await axe.run()).violations)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in json.loads(result)
        if v["impact"] in ("serious", "critical")
    ]


def watch_csp(page, problems: list[str]) -> None:
    def note(message) -> None:
        if "Content Security Policy" in message.text or message.type == "error":
            problems.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: problems.append(str(error)))


def sign_up(page, name: str) -> None:
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.wait_for_selector("[data-recovery-words]:not(:empty)")
    page.click("button[type=submit]")


def connected(page) -> None:
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )


def message(page, text: str):
    return page.locator("[data-message]", has_text=text)


def test_two_people_onboard_and_chat_live(node_factory, bundle):
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("web")
    try:
        journey(node, expect, sync_playwright)
    except Exception:
        print(node.log()[-6000:])
        raise


def journey(node, expect, sync_playwright) -> None:
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        alice_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        alice = alice_ctx.new_page()
        watch_csp(alice, problems)

        # Screen 1: the landing page, then a name and a password (recovery phrase shown).
        alice.goto(node.url + "/")
        shot(alice, "01-landing")
        alice.click("a:has-text('Get started')")
        alice.fill("#id_username", "alice")
        alice.fill("#id_password", PASSWORD)
        alice.wait_for_selector("[data-recovery-words]:not(:empty)")
        shot(alice, "02-register")
        alice.click("button[type=submit]")
        # Screen 2: create a community; screen 3: its default channel.
        alice.wait_for_url("**/app/start/")
        shot(alice, "03-onboarding")
        alice.fill("#guild-name", "Pixel Club")
        alice.click("form[action='/app/start/create/'] button")
        alice.wait_for_url(re.compile(r".*/app/guilds/\d+/channels/\d+/$"))
        general_url = alice.url
        connected(alice)
        alice.fill("#composer-input", "Hello from alice :smile:")
        alice.keyboard.press("Enter")
        expect(message(alice, "Hello from alice 😄")).to_be_visible()

        # A private channel through the UI (@everyone denied VIEW_CHANNEL).
        alice.click("[aria-label='Create a channel in Text Channels']")
        alice.fill("#new-channel-name", "staff-room")
        alice.check("input[name=private]")
        alice.click("#create-channel button[type=submit]")
        alice.wait_for_url(lambda url: url != general_url and "/channels/" in url)
        expect(alice.locator("#channel-title")).to_have_text("staff-room")
        alice.goto(general_url)

        alice.click("[aria-label='Invite people']")
        link = alice.locator("[data-invite-link]")
        expect(link).to_have_value(re.compile(r"/invite/\w+"))
        invite_url = link.input_value()
        shot(alice, "04-invite")
        alice.click("#invite-dialog [data-dialog-close]")
        connected(alice)

        # Bob opens the invite link without an account: same screens, lands in the guild.
        bob_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        bob = bob_ctx.new_page()
        watch_csp(bob, problems)
        bob.goto(invite_url)
        shot(bob, "05-invite-landing")
        bob.click("a:has-text('Create an account and join')")
        sign_up(bob, "bob")
        bob.click("button:has-text('Join Pixel Club')")
        bob.wait_for_url(re.compile(r".*/app/guilds/\d+/channels/\d+/$"))
        assert bob.url == general_url
        expect(message(bob, "Hello from alice 😄")).to_be_visible()
        assert "staff-room" not in bob.content()
        connected(bob)

        bob.fill("#composer-input", "hi @ali")
        expect(bob.locator("[data-autocomplete] li", has_text="@alice")).to_be_visible()
        bob.keyboard.press("Enter")
        bob.keyboard.type("nice to meet you")
        bob.keyboard.press("Enter")
        expect(message(alice, "nice to meet you")).to_be_visible()
        expect(message(alice, "nice to meet you").locator(".mention")).to_have_text("@alice")
        expect(message(alice, "nice to meet you")).to_have_class(re.compile("mentioned"))

        # Alice reacts: Bob sees it live. Bob edits with Up: Alice sees it live.
        target = message(alice, "nice to meet you")
        target.hover()
        target.locator("[data-action=react]").click()
        alice.click("[data-emoji-picker] button[aria-label='React with 🎉']")
        expect(message(bob, "nice to meet you").locator("[data-react='🎉']")).to_be_visible()
        bob.focus("#composer-input")
        bob.keyboard.press("ArrowUp")
        editor = bob.locator(".edit-form textarea")
        editor.fill("hi @alice, great to meet you")
        editor.press("Enter")
        edited = message(alice, "great to meet you")
        expect(edited).to_be_visible()
        expect(edited.locator(".edited")).to_be_visible()
        expect(edited.locator(".mention")).to_have_text("@alice")
        shot(alice, "06-channel")
        shot(bob, "07-channel-bob")

        # Bob's connection drops: a visible banner, then RESUME replays what he missed.
        bob.evaluate("() => window.unitedGateway.socket.close()")
        expect(bob.locator("[data-conn-banner]")).to_be_visible()
        alice.fill("#composer-input", "did you get this while away?")
        alice.keyboard.press("Enter")
        expect(message(bob, "did you get this while away?")).to_be_visible()
        expect(bob.locator("[data-conn-banner]")).to_be_hidden()

        # A reload keeps everything; the private channel never shows up for Bob.
        bob.reload()
        kept = message(bob, "great to meet you")
        expect(kept).to_be_visible()
        expect(kept.locator("[data-react='🎉']")).to_contain_text("1")
        expect(message(bob, "Hello from alice 😄")).to_be_visible()
        assert "staff-room" not in bob.content()
        bob.keyboard.press("Control+k")
        expect(bob.locator("[data-switcher-results] li").first).to_be_visible()
        assert "staff-room" not in bob.locator("[data-switcher-results]").inner_text()
        shot(bob, "08-switcher")
        bob.keyboard.press("Escape")

        # Light theme, remembered across a reload; and a phone-width layout.
        alice.click("[data-theme-toggle]")
        alice.reload()
        expect(alice.locator("html")).to_have_attribute("data-theme", "light")
        shot(alice, "09-channel-light")
        phone = bob_ctx.new_page()
        phone.set_viewport_size({"width": 390, "height": 844})
        phone.goto(general_url)
        shot(phone, "10-phone")
        phone.click("[aria-label='Show channels']")
        shot(phone, "11-phone-channels")

        # Guild settings: a role with its permission editor, then a channel's overwrites.
        alice.click("[aria-label='Community settings']")
        alice.click("a:has-text('Roles')")
        alice.fill("#new-role-name", "Moderators")
        alice.click("button:has-text('Create role')")
        expect(alice.locator("#settings-title")).to_contain_text("Moderators")
        alice.check("input[name=hoist]")
        alice.check("label:has-text('Manage messages') input")
        alice.click("button:has-text('Save changes')")
        expect(alice.locator(".notice")).to_be_visible()
        shot(alice, "12-settings-role")
        settings_role_url = alice.url.split("?")[0]
        alice.click("a:has-text('Channel permissions')")
        alice.click("a:has-text('general')")
        shot(alice, "13-settings-overwrites")
        settings_channel_url = alice.url

        assert not problems, problems

        # Accessibility: axe-core needs its script injected, so this context skips the CSP.
        axe_ctx = browser.new_context(
            bypass_csp=True,
            viewport={"width": 1280, "height": 800},
            storage_state=alice_ctx.storage_state(),
        )
        page = axe_ctx.new_page()
        for theme in ("dark", "light"):
            page.goto(node.url + "/app/start/")
            page.evaluate(f"() => localStorage.setItem('united-theme', '{theme}')")
            for url in (
                general_url,
                node.url + "/app/start/",
                invite_url,
                settings_role_url,
                settings_channel_url,
            ):
                page.goto(url)
                found = axe_violations(page)
                assert not found, (theme, url, found)
        visitor = browser.new_context(bypass_csp=True).new_page()
        for url in (node.url + "/", node.url + "/register/?next=/app/"):
            visitor.goto(url)
            found = axe_violations(visitor)
            assert not found, (url, found)
        browser.close()
