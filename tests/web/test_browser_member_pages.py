"""The member list of a guild larger than a page, in a real browser (Debian's Chromium through
Playwright) against a real node: the first page with its group counts, the next page loaded
when the list is scrolled to its end, then nothing more to load; axe-core finds no violation."""

from __future__ import annotations

import pytest

from tests.browser import PASSWORD, axe_violations, bundle, launch  # noqa: F401  (bundle: a fixture)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser_member_pages")]

SETUP = """
from accounts.models import User
from guilds.services import guilds, members

alice = User.objects.create_user("alice", password=PASSWORD)
guild = guilds.check_create_guild(alice, name="Big Hall", description="")
for n in range(150):
    members.do_add_member(guild, User.objects.create(username=f"m{n:03d}", password="!"))
print(guild.id, guild.channels.get(name="general").id)
"""


def test_the_member_list_loads_the_next_page_as_it_scrolls(
    node_factory,
    bundle,  # noqa: F811
):
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("member-pages")
    guild_id, general_id = node.python(f"PASSWORD = {PASSWORD!r}\n" + SETUP).split()
    target = f"/app/guilds/{guild_id}/channels/{general_id}/"
    problems: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" else None,
        )
        page.goto(f"{node.url}/login/?next={target}")
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**{target}")
        page.wait_for_function(
            "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
        )
        members = page.locator("[data-members]")
        # Alice's own connection makes her online once the gateway is up.
        page.evaluate("document.body.dispatchEvent(new Event('refresh-members'))")
        titles = members.locator(".member-group-title")
        expect(titles).to_have_text(["Online — 1", "Offline — 150"])
        entries = members.locator("[data-member]")
        expect(entries).to_have_count(100)
        expect(entries.last).to_have_attribute("data-username", "m098")
        assert axe_violations(page, "[data-members]") == []

        members.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        expect(entries).to_have_count(151)
        expect(entries.last).to_have_attribute("data-username", "m149")
        # One header per group, whatever the pages; nothing more to load.
        expect(titles).to_have_count(2)
        expect(members.locator("[data-members-more]")).to_have_count(0)
        assert axe_violations(page, "[data-members]") == []
        browser.close()
    assert problems == []
