"""Moderation from inside the chat, in Chromium against a real node, with one browser context
per person: carol reports bob's message from its menu; mo (a moderator) sees the count on
the Moderation entry, opens the case and times bob out; bob, reading in Paris, sees when he
may speak again in his own time with the composer disabled, and gets it back the moment the
timeout is lifted; carol's "My reports" says what happened; deleting the message leaves the
evidence in the case; the moderation log verifies. Every new screen passes axe-core with no
violation of any severity, and is saved under docs/screenshots/."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests import browser
from tests.browser import DOC_SHOTS, PASSWORD, axe_violations, bundle, launch  # noqa: F401  (bundle: a fixture)

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("web_browser_moderation")]


def shot(page, name: str) -> None:
    # Committed: docs/features.md links these pictures.
    browser.shot(page, name, DOC_SHOTS)


SETUP = """
from accounts.models import User
from guilds.permissions import Permissions as P
from guilds.services import guilds, members, roles
from messaging.services import messages

alice, mo, bob, carol = (
    User.objects.create_user(name, password=PASSWORD) for name in ("alice", "mo", "bob", "carol")
)
guild = guilds.check_create_guild(alice, name="Garden Club", description="")
for user in (mo, bob, carol):
    members.do_add_member(guild, user)
flags = P.MODERATE_MEMBERS | P.MANAGE_MESSAGES | P.KICK_MEMBERS | P.VIEW_AUDIT_LOG
mods = roles.check_create_role(alice, guild.id, {"name": "Mods", "permissions": str(int(flags))})
members.check_member_role(alice, guild.id, mo.id, mods.id, add=True)
general = guild.channels.get(name="general")
messages.check_send_message(carol, general.id, content="Anyone up for planting on Saturday?")
insult, _ = messages.check_send_message(bob, general.id, content="you are all idiots")
print(guild.id, general.id, insult.id, bob.id, mo.id)
"""

# Mo lifts the timeout through the API from his page (his session, Django's CSRF token).
LIFT_JS = """async ([guild, user]) => (await fetch(`/api/v1/guilds/${guild}/members/${user}`, {
    method: "PATCH", credentials: "same-origin",
    headers: {"Content-Type": "application/json",
              "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content},
    body: JSON.stringify({communication_disabled_until: null})})).status"""


def log_in(page, url: str, name: str, target: str) -> None:
    page.goto(f"{url}/login/?next={target}")
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{target}")
    page.wait_for_function(
        "() => window.unitedGateway && window.unitedGateway.state === 'connected'"
    )


def watch(page, problems: list[str]) -> None:
    page.on("pageerror", lambda error: problems.append(str(error)))


def test_report_moderate_and_time_out_from_inside_the_chat(node_factory, bundle):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    node = node_factory("moderation")
    guild_id, general_id, insult_id, bob_id, mo_id = node.python(
        f"PASSWORD = {PASSWORD!r}\n" + SETUP
    ).split()
    general = f"/app/guilds/{guild_id}/channels/{general_id}/"
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            people = {}
            for name in ("carol", "mo", "bob"):
                # axe-core is injected as a script tag, which the node's CSP would refuse.
                context = browser.new_context(
                    bypass_csp=True,
                    viewport={"width": 1280, "height": 800},
                    locale="en-GB",
                    timezone_id="Europe/Paris",
                )
                page = context.new_page()
                watch(page, problems)
                log_in(page, node.url, name, general)
                people[name] = page
            carol, mo, bob = people["carol"], people["mo"], people["bob"]
            screens: list[tuple[str, str]] = []  # (person, url) checked with axe at the end

            # Carol reports bob's message from its menu, by keyboard where it matters.
            insult = carol.locator(f"#message-{insult_id}")
            insult.hover()
            expect(insult.locator("[data-action='report']")).to_be_visible()
            # Her own message has no Report entry.
            mine = carol.locator("[data-message]", has_text="planting on Saturday")
            expect(mine.locator("[data-action='report']")).to_have_count(0)
            insult.locator("[data-action='report']").click()
            dialog = carol.locator("#report-dialog")
            expect(dialog).to_be_visible()
            expect(dialog.locator("[data-report-about]")).to_contain_text("you are all idiots")
            # The first reason has the focus; Escape closes without filing anything.
            carol.keyboard.press("Escape")
            expect(dialog).to_be_hidden()
            insult.hover()
            insult.locator("[data-action='report']").click()
            dialog.locator("label:has-text('Harassment or bullying') input").check()
            dialog.locator("#report-note").fill("Third time this week.")
            shot(carol, "report-dialog")
            assert not (found := axe_violations(carol)), found
            dialog.locator("[data-report-submit]").press("Enter")
            expect(dialog.locator("#report-result")).to_contain_text(
                "your report was sent to the moderators"
            )
            expect(dialog.locator("[data-report-close]")).to_be_focused()
            carol.keyboard.press("Enter")
            expect(dialog).to_be_hidden()

            # Mo's open page shows the new count beside Moderation without a reload
            # (REPORT_CASE_UPDATE, heard only by those who work the queue), and so does a load.
            entry = mo.locator("[data-mod-entry]")
            expect(entry.locator("[data-mod-count]")).to_contain_text("1")
            mo.reload()
            expect(entry.locator("[data-mod-count]")).to_contain_text("1")
            expect(bob.locator("[data-mod-entry]")).to_have_count(0)
            entry.click()
            mo.wait_for_url(f"**/app/guilds/{guild_id}/moderation/")
            expect(mo.locator("#mod-title")).to_have_text("Report queue")
            expect(mo.locator("#channel-list")).to_be_visible()  # still inside the client
            expect(mo.locator("table.mod-table")).to_contain_text("you are all idiots")
            shot(mo, "moderation-queue")
            screens.append(("mo", mo.url))
            mo.locator("table.mod-table a", has_text="Case #").first.click()
            expect(mo.locator("[data-evidence]")).to_have_text("you are all idiots")
            expect(mo.locator("#case-body")).to_contain_text("Third time this week.")
            case_url = mo.url

            # Time bob out for ten minutes from the case, with the keyboard.
            mo.select_option("#case-action", "timeout")
            mo.select_option("#case-duration", "600")
            mo.fill("#case-reason", "Cool off")
            mo.locator("#case-reason").press("Enter")
            flash = mo.locator("#case-body [data-flash]")
            expect(flash).to_have_text("Done: Time the author out.")
            expect(flash).to_be_focused()
            expect(mo.locator("[data-case-state]")).to_have_text("Actioned")
            shot(mo, "moderation-case")
            screens.append(("mo", case_url))

            # Bob, whose page was already open, loses the composer live and reads, in his own
            # time (Paris, 24-hour clock), when he may speak again.
            notice = bob.locator("[data-timeout-notice]")
            expect(notice).to_be_visible()
            expect(bob.locator("#composer-input")).to_be_disabled()
            until = datetime.fromisoformat(notice.get_attribute("data-until"))
            local = until.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")
            expect(notice).to_have_text(
                re.compile(rf"You can send messages again in (9|10) minutes \({re.escape(local)}\)")
            )
            # A reload shows the same, from the server's side.
            bob.reload()
            expect(notice).to_contain_text(f"({local})")
            expect(bob.locator("#composer-input")).to_be_disabled()
            shot(bob, "timeout-composer")
            screens.append(("bob", bob.url))

            # Carol follows her report.
            carol.click("a[aria-label='My reports']")
            carol.wait_for_url("**/app/reports/")
            expect(carol.locator("[data-report-state]")).to_have_text(
                "Actioned: a moderator took action"
            )
            expect(carol.locator("main")).not_to_contain_text("Cool off")
            shot(carol, "my-reports")
            screens.append(("carol", carol.url))
            # Carol cannot open the queue: the error page, not the cases.
            carol.goto(f"{node.url}/app/guilds/{guild_id}/moderation/")
            expect(carol.locator("[data-refused]")).to_be_visible()
            expect(carol.locator("body")).not_to_contain_text("you are all idiots")

            # Axe on each new screen, dark and light, while the timeout still runs.
            for theme in ("dark", "light"):
                for who, url in screens:
                    page = people[who]
                    page.evaluate(f"() => localStorage.setItem('united-theme', '{theme}')")
                    page.goto(url)
                    found = axe_violations(page)
                    assert not found, (theme, url, found)
            for page in people.values():
                page.evaluate("() => localStorage.setItem('united-theme', 'dark')")

            # The timeout is lifted: bob's composer comes back by itself.
            bob.goto(node.url + general)
            expect(bob.locator("#composer-input")).to_be_disabled()
            assert mo.evaluate(LIFT_JS, [guild_id, bob_id]) == 200
            expect(bob.locator("#composer-input")).to_be_enabled()
            expect(notice).to_be_hidden()

            # Mo deletes the message from the case; the evidence stays.
            mo.goto(case_url)
            mo.select_option("#case-action", "delete_message")
            mo.click("#case-body button:has-text('Apply')")
            expect(mo.locator("#case-body [data-flash]")).to_have_text("Done: Delete the message.")
            expect(bob.locator(f"#message-{insult_id}")).to_have_count(0)
            mo.reload()
            expect(mo.locator("[data-evidence]")).to_have_text("you are all idiots")
            expect(mo.locator("[data-message-gone]")).to_be_visible()

            # The signed log, verified from the client.
            mo.click(".mod-tabs a:has-text('Moderation log')")
            expect(mo.locator("#mod-title")).to_have_text("Moderation log")
            mo.click("[data-verify-chain]")
            expect(mo.locator("#chain-result")).to_contain_text(re.compile(r"Chain intact: \d+ "))
            shot(mo, "moderation-log")
            found = axe_violations(mo)
            assert not found, ("modlog", found)

            # Reporting a member: the Report button of their profile card (the member list).
            carol.goto(node.url + general)
            carol.locator(
                f'[data-members] [data-member-card-open][data-user-id="{bob_id}"]'
            ).click()
            card = carol.locator("[data-member-card]")
            expect(card).to_be_visible()
            card.get_by_role("button", name="Report").click()
            expect(dialog.locator("[data-report-title]")).to_have_text("Report a member")
            expect(dialog.locator("[data-report-about]")).to_have_text("bob")
            dialog.locator("label:has-text('Spam or unwanted advertising') input").check()
            dialog.locator("[data-report-submit]").click()
            expect(dialog.locator("[data-report-sent]")).to_be_visible()
            mo.goto(f"{node.url}/app/guilds/{guild_id}/moderation/")
            expect(mo.locator("table.mod-table")).to_contain_text("The account bob")
            browser.close()
    except Exception:
        print(node.log()[-6000:])
        raise
    assert not problems, problems
