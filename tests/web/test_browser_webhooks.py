"""Incoming webhooks in a real browser (Debian's Chromium through Playwright) against a real
node: the guild's owner makes a webhook in Settings → Integrations and copies its URL once;
another service (httpx here) posts an embed through it; a member who has the channel open
sees the embed arrive live (colour, title, description, fields, footer, the WEBHOOK tag) and
sees it again after a reload. The Integrations screen and the channel with the embed pass
axe-core with no violation of any impact in both themes."""

from __future__ import annotations

import httpx
import pytest

from tests.browser import (  # noqa: F401  (bundle: a fixture)
    PASSWORD,
    axe_violations,
    bundle,
    connected,
    launch,
    shot,
    sign_in,
)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser_webhooks")]

SETUP = """
from accounts.models import User
from guilds.services import guilds, members

alice = User.objects.create_user("alice", password=PASSWORD)
bob = User.objects.create_user("bob", password=PASSWORD)
guild = guilds.check_create_guild(alice, name="Release Room", description="")
members.do_add_member(guild, bob)
print(guild.id, guild.default_channel_id)
"""

EMBED = {
    "title": "Release 2.4 is out",
    "url": "https://releases.example.org/2.4",
    "description": "Faster **search** and a new theme.",
    "color": 0x5865F2,
    "author": {"name": "Release bot"},
    "fields": [
        {"name": "Downloads", "value": "1,204", "inline": True},
        {"name": "Issues closed", "value": "37", "inline": True},
    ],
    "footer": {"text": "releases.example.org"},
    "timestamp": "2026-12-07T12:00:00+00:00",
    "thumbnail": {"url": "https://cdn.example.net/logo.png"},
}


def no_violations(page) -> None:
    for theme in ("dark", "light"):
        page.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", theme)
        assert axe_violations(page) == [], theme


def test_a_webhook_made_in_settings_posts_an_embed_a_member_sees_live(
    node_factory,
    bundle,  # noqa: F811
):
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("webhooks-browser")
    guild_id, general_id = node.python(f"PASSWORD = {PASSWORD!r}\n" + SETUP).split()
    channel_url = f"{node.url}/app/guilds/{guild_id}/channels/{general_id}/"
    csp: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        _, alice, alice_problems = sign_in(browser, node.url, "alice")
        _, bob, bob_problems = sign_in(browser, node.url, "bob")
        for page in (alice, bob):
            page.on(
                "console",
                lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None,
            )
        # Bob has the channel open before anything is posted.
        bob.goto(channel_url)
        connected(bob)

        # Alice: channel → community settings → Integrations → create.
        alice.goto(channel_url)
        alice.get_by_role("link", name="Community settings").click()
        alice.get_by_role("link", name="Integrations").click()
        alice.wait_for_url("**/settings/integrations/")
        alice.select_option("#webhook-channel", label="#general")
        alice.fill("#webhook-name", "Release bot")
        alice.get_by_role("button", name="Create webhook").click()
        url = alice.locator("[data-webhook-url]").input_value()
        assert "/api/webhooks/" in url and url.startswith(node.url)
        expect(alice.locator(".webhook-name")).to_have_text(["Release bot"])
        no_violations(alice)
        shot(alice, "webhooks-integrations")

        posted = httpx.post(
            url + "?wait=true", json={"content": "New release!", "embeds": [EMBED]}, timeout=30
        )
        assert posted.status_code == 200, posted.text

        def check(page) -> None:
            message = page.locator("[data-message]", has_text="New release!")
            expect(message.locator(".msg-author")).to_have_text("Release bot")
            expect(message.locator(".bot-tag")).to_have_text("WEBHOOK")
            embed = message.locator(".embed")
            expect(embed.locator(".embed-title a")).to_have_text("Release 2.4 is out")
            expect(embed.locator(".embed-title a")).to_have_attribute(
                "href", "https://releases.example.org/2.4"
            )
            expect(embed.locator(".embed-description strong")).to_have_text("search")
            expect(embed.locator(".embed-field dt")).to_have_text(["Downloads", "Issues closed"])
            expect(embed.locator(".embed-field dd")).to_have_text(["1,204", "37"])
            expect(embed.locator(".embed-footer")).to_contain_text("releases.example.org")
            expect(embed.locator(".embed-bar rect")).to_have_attribute("fill", "#5865f2")
            # The thumbnail is a link, never an image the browser fetches from its host.
            expect(embed.locator("img")).to_have_count(0)
            expect(embed.locator(".embed-picture a")).to_have_attribute(
                "href", "https://cdn.example.net/logo.png"
            )
            # A webhook has no member card.
            expect(message.locator("[data-member-card-open]")).to_have_count(0)

        check(bob)  # live, through the gateway
        no_violations(bob)
        shot(bob, "webhooks-embed")
        bob.reload()
        check(bob)  # and from the server's rendering of history

        # Regenerated from the same screen: the old URL stops working.
        alice.get_by_role("button", name="Regenerate URL of Release bot").click()
        new_url = alice.locator("[data-webhook-url]").input_value()
        assert new_url != url
        assert httpx.post(url, json={"content": "old"}, timeout=30).status_code == 401
        assert (
            httpx.post(
                new_url, json={"content": "posted with the fresh URL"}, timeout=30
            ).status_code
            == 204
        )
        expect(bob.locator("[data-message]", has_text="posted with the fresh URL")).to_have_count(1)
        browser.close()
    assert alice_problems == [] and bob_problems == [] and csp == []
    # The node keeps only the token's digest, and its access log keeps no token either.
    log = node.log()
    assert "/api/webhooks/" in log and "[token]" in log
    for used in (url, new_url):
        assert used.rsplit("/", 1)[1] not in log
