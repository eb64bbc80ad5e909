"""Members in a real browser (Debian's Chromium through Playwright) against a real node, two
people in two browser contexts: the owner opens a member's profile card from the member list,
gives them a role from its checklist (their name takes the role's colour on both screens),
reorders roles by dragging and with the keyboard, and bans them with a reason; the banned
member's open page turns into the ban notice with that reason. A mention of someone who was
kicked is a greyed @name, and the user panel shows a short name whole. Every new screen passes
axe-core with no violation of any severity; screenshots go to docs/screenshots/."""

from __future__ import annotations

import re

import pytest

from tests import browser
from tests.browser import DOC_SHOTS, PASSWORD, axe_violations, bundle, launch  # noqa: F401  (bundle: a fixture)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser_members")]


def shot(page, name: str) -> None:
    # Committed: docs/features.md links these pictures.
    browser.shot(page, name, DOC_SHOTS)


GREEN = "rgb(87, 242, 135)"  # #57f287, readable on the dark theme

SETUP = """
from accounts.models import User
from guilds.services import guilds, members, roles
from messaging.services import messages
from moderation.services import sanctions

alice = User.objects.create_user("alice", password=PASSWORD)
bob = User.objects.create_user("bob", password=PASSWORD)
carol = User.objects.create_user("carol", password=PASSWORD)
guild = guilds.check_create_guild(alice, name="Members Club", description="")
guilds.check_update_guild(alice, guild.id, {"show_ban_reasons": True})
for user in (bob, carol):
    members.do_add_member(guild, user)
elders = roles.check_create_role(alice, guild.id, {"name": "Elders"})
crew = roles.check_create_role(alice, guild.id, {"name": "Crew", "color": 0x57F287})
general = guild.channels.get(name="general")
messages.check_send_message(alice, general.id, content=f"thanks <@{carol.id}> for the map")
messages.check_send_message(bob, general.id, content="hello from bob")
sanctions.check_kick(alice, guild.id, carol.id, reason="moved away")
print(guild.id, general.id, bob.id, crew.id, elders.id)
"""


def watch(page, problems: list[str], *, refusals_expected: bool = False) -> None:
    """CSP violations, uncaught errors and console errors. The member who gets banned sees
    refusals on purpose (the ban page is a 403; a member-list refresh racing the ban, 404)."""

    def note(message) -> None:
        refused = re.search(r"status of 40[34]|Error Code 404", message.text)
        if "Content Security Policy" in message.text or (
            message.type == "error" and not (refusals_expected and refused)
        ):
            problems.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: problems.append(str(error)))


def log_in(page, url: str, name: str, target: str) -> None:
    page.goto(f"{url}/login/?next={target}")
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{target}")
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )


def role_names(page) -> list[str]:
    return [
        t.strip() for t in page.locator("[data-role-order] [data-role-row] > a").all_inner_texts()
    ]


def test_owner_manages_a_member_from_the_card_and_the_banned_member_is_told(
    node_factory,
    bundle,  # noqa: F811
):
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("members")
    setup = f"PASSWORD = {PASSWORD!r}\n" + SETUP
    guild_id, general_id, bob_id, crew_id, elders_id = node.python(setup).split()
    target = f"/app/guilds/{guild_id}/channels/{general_id}/"
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            alice = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            bob = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            watch(alice, problems)
            watch(bob, problems, refusals_expected=True)
            log_in(alice, node.url, "alice", target)
            log_in(bob, node.url, "bob", target)

            # The user panel shows a short name whole, not "a…".
            name = alice.locator(".user-panel .user-name")
            expect(name).to_have_text("alice")
            assert name.evaluate("el => el.scrollWidth <= el.clientWidth"), "name is cut"

            # Carol was kicked: her mention is a greyed @carol, not a raw <@id>.
            thanks = alice.locator("[data-message]", has_text="for the map")
            chip = thanks.locator(".mention.departed")
            expect(chip).to_contain_text("@carol")
            assert "<@" not in thanks.locator("[data-body]").inner_text()
            shot(alice, "departed-mention")

            # The owner opens Bob's card from the member list.
            alice.click(f"[data-members] [data-member-card-open][data-user-id='{bob_id}']")
            card = alice.locator("[data-member-card-dialog]")
            expect(card.locator("[data-dialog-close]")).to_be_focused()
            expect(card.locator("#member-card-name")).to_have_text("bob")
            expect(card.locator(".member-facts")).to_contain_text("Member since")
            expect(card.locator("[data-role-toggle]")).to_have_count(2)
            expect(card.locator("[data-action='report-user']")).to_have_attribute(
                "data-user-id", bob_id
            )
            assert axe_violations(alice, "[data-member-card-dialog]") == []
            shot(alice, "member-card")

            # Crew from the checklist: the card's roles and Bob's name colour follow, live on
            # both screens.
            card.locator(f"[data-role-toggle][value='{crew_id}']").check()
            expect(card.locator("[data-card-status]")).to_have_text("Gave the role Crew.")
            expect(card.locator("[data-card-roles]")).to_contain_text("Crew")
            for page in (alice, bob):
                bob_name = page.locator(f"[data-members] [data-user-id='{bob_id}'] .member-name")
                expect(bob_name).to_have_css("color", GREEN)
            shot(alice, "member-card-role-given")
            alice.keyboard.press("Escape")
            expect(card).to_be_hidden()

            # The same card opens from a message's author, with the keyboard.
            author = alice.locator("[data-message]", has_text="hello from bob").locator(
                "button.msg-author"
            )
            author.focus()
            alice.keyboard.press("Enter")
            expect(card.locator("#member-card-name")).to_have_text("bob")
            expect(card.locator("[data-dialog-close]")).to_be_focused()
            alice.keyboard.press("Escape")
            expect(card).to_be_hidden()

            # Roles settings: Crew (newest, lowest) dragged above Elders, then back down
            # with the keyboard alternative.
            alice.goto(f"{node.url}/app/guilds/{guild_id}/settings/roles/")
            assert role_names(alice) == ["Elders", "Crew", "@everyone"]
            alice.drag_and_drop(
                f"[data-role-id='{crew_id}'] .drag-handle",
                f"[data-role-id='{elders_id}']",
                target_position={"x": 20, "y": 3},
            )
            alice.wait_for_url("**/settings/roles/?saved=1")
            assert role_names(alice) == ["Crew", "Elders", "@everyone"]
            assert axe_violations(alice) == []
            shot(alice, "roles-order")
            alice.locator("[aria-label='Move Crew down']").focus()
            alice.keyboard.press("Enter")
            alice.wait_for_url("**/settings/roles/?saved=1")
            expect(alice.locator("[data-role-order] [data-role-row] > a").first).to_have_text(
                "Elders"
            )
            assert role_names(alice) == ["Elders", "Crew", "@everyone"]

            # The ban, with a reason the guild shows: Bob's open page becomes the notice.
            alice.goto(f"{node.url}{target}")
            alice.click(f"[data-members] [data-member-card-open][data-user-id='{bob_id}']")
            card.locator("summary", has_text="Ban").click()
            card.locator("#mc-ban-reason").fill("posting invite spam")
            card.locator("#mc-ban-history").select_option("3600")
            card.locator("button", has_text="Ban bob").click()
            expect(card).to_contain_text("bob was banned.")
            notice = bob.locator("[data-ban-notice]")
            expect(notice).to_be_visible(timeout=15000)
            expect(notice.locator("h1")).to_have_text("You were banned from Members Club")
            expect(notice.locator("[data-ban-reason]")).to_have_text("posting invite spam")
            assert axe_violations(bob) == []
            shot(bob, "ban-notice")
            # Bob's message went with the last hour of his history.
            expect(alice.locator("[data-message]", has_text="hello from bob")).to_have_count(0)
            # A link into the guild says the same.
            bob.goto(f"{node.url}{target}")
            expect(bob.locator("[data-ban-reason]")).to_have_text("posting invite spam")
            browser.close()
        assert problems == []
    except Exception:
        print(node.log()[-6000:])
        print(problems)
        raise
