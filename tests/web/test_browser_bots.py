"""Bots in a real browser (Debian's Chromium through Playwright) against a real node: a member
creates an application on the Developer page (its token shown once), copies the install link,
and on the consent page picks a guild where they have Manage Server, reads what the bot will be
allowed in plain words and adds it; the bot then shows in the guild's member list, marked as a
bot, and its token works on the Discord-compatible API. Both new screens pass axe-core with no
violation of any impact in both themes."""

from __future__ import annotations

import httpx
import pytest

from tests.browser import PASSWORD, axe_violations, bundle, launch  # noqa: F401  (bundle: a fixture)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser_bots")]

SETUP = """
from accounts.models import User
from guilds.services import guilds

alice = User.objects.create_user("alice", password=PASSWORD)
guild = guilds.check_create_guild(alice, name="Robot Garden", description="")
print(guild.id, guild.default_channel_id)
"""


def no_violations(page) -> None:
    for theme in ("dark", "light"):
        page.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", theme)
        assert axe_violations(page) == [], theme


def test_a_member_creates_an_application_and_installs_its_bot(
    node_factory,
    bundle,  # noqa: F811
):
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("bots-browser")
    guild_id, general_id = node.python(f"PASSWORD = {PASSWORD!r}\n" + SETUP).split()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{node.url}/login/?next=/settings/security/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/settings/security/")
        page.get_by_role("link", name="Developer: applications and bots").click()
        page.wait_for_url("**/settings/developer/")

        page.fill("#id_app_name", "Gardener")
        page.get_by_role("button", name="Create application").click()
        token = page.locator("[data-bot-token]").input_value()
        assert len(token) > 40
        no_violations(page)
        me = httpx.get(f"{node.url}/api/v10/users/@me", headers={"Authorization": f"Bot {token}"})
        assert me.status_code == 200 and me.json()["bot"] is True
        bot_name = me.json()["username"]

        # Shown once: the page no longer has it after a reload.
        page.goto(f"{node.url}/settings/developer/")
        expect(page.locator("[data-bot-token]")).to_have_count(0)
        link = page.locator("[data-install-link]").input_value()
        assert "/oauth2/authorize?client_id=" in link and "scope=bot" in link

        page.goto(link)
        words = page.locator("[data-permission-words]")
        expect(words).to_contain_text("Send Messages")
        expect(words).to_contain_text("Add Reactions")
        expect(page.locator("#id_guild option")).to_have_text(["Robot Garden"])
        no_violations(page)
        page.get_by_role("button", name="Add the bot").click()
        page.wait_for_url(f"**/app/guilds/{guild_id}/**")

        page.goto(f"{node.url}/app/guilds/{guild_id}/channels/{general_id}/")
        bot_row = page.locator("[data-member]", has=page.locator("[data-bot-tag]"))
        expect(bot_row).to_have_attribute("data-username", bot_name)
        expect(bot_row.locator("[data-bot-tag]")).to_have_text("BOT")
        browser.close()
    assert problems == []
