"""Moderation inside the chat client (web/views/moderation.py) through Django's test client:
reporting from the chat, "My reports", the Moderation entry and its count, the queue, a case
and its actions, the moderation log and its chain check, and the timed-out composer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from guilds.models import Member, PermissionOverwrite
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from messaging.models import Message
from messaging.services import messages as message_services
from moderation.models import AuditLogEntry, CaseNote, Report, ReportCase
from moderation.services import cases, timeouts
from tests.moderation.pages import browser, no_inline_code

pytestmark = pytest.mark.django_db


def report_message(client: Client, message, category: str = "harassment", note: str = ""):
    return client.post(
        "/app/reports/new/",
        {
            "type": "message",
            "channel_id": message.channel_id,
            "message_id": message.id,
            "category": category,
            "note": note,
        },
        HTTP_HX_REQUEST="true",
    )


@pytest.fixture
def insult(world):
    message, _ = message_services.check_send_message(
        world.bob, world.channel.id, content="you are all idiots"
    )
    return message


def test_a_member_reports_a_message_and_follows_it_in_my_reports(world, insult):
    carol = browser(world.carol)
    answer = report_message(carol, insult, note="third time today")
    assert answer.status_code == 200
    assert "your report was sent to the moderators" in answer.content.decode()
    report = Report.objects.get(reporter=world.carol)
    assert report.category == "harassment" and report.note == "third time today"
    assert report.case.guild_id == world.guild.id and report.case.message_id == insult.id

    page = carol.get("/app/reports/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "you are all idiots" in html and "Harassment or bullying" in html
    assert "Open: waiting for a moderator" in html
    no_inline_code(html)

    # The moderator's internal note never reaches the reporter; the outcome does, in words.
    cases.check_add_note(world.mo, report.case_id, "bob is a repeat offender, watch him")
    cases.check_update_case(world.mo, report.case_id, {"state": "dismissed"})
    html = carol.get("/app/reports/").content.decode()
    assert "Dismissed: no action was taken" in html
    assert "repeat offender" not in html


def test_report_refusals_are_4xx_in_the_dialog_never_500(world, insult, make_user):
    carol = browser(world.carol)
    bad = report_message(carol, insult, category="because")
    assert bad.status_code == 400 and "One of spam" in bad.content.decode()
    too_long = report_message(carol, insult, note="x" * 1001)
    assert too_long.status_code == 400 and "1000" in too_long.content.decode()
    junk = carol.post("/app/reports/new/", {"type": "message", "message_id": "nope"})
    assert junk.status_code in (400, 404)
    myself = carol.post(
        "/app/reports/new/",
        {"type": "user", "user_id": world.carol.id, "guild_id": world.guild.id, "category": "spam"},
    )
    assert myself.status_code == 400 and "yourself" in myself.content.decode()

    # A message in a channel carol cannot see: refused like one that does not exist.
    everyone_denied = {
        "id": str(world.guild.id),
        "type": PermissionOverwrite.ROLE,
        "allow": "0",
        "deny": str(int(P.VIEW_CHANNEL)),
    }
    hidden = channel_services.check_create_channel(
        world.owner, world.guild.id, {"name": "staff", "permission_overwrites": [everyone_denied]}
    )
    secret, _ = message_services.check_send_message(world.owner, hidden.id, content="plans")
    refused = report_message(carol, secret)
    assert refused.status_code == 404
    assert "cannot see it" in refused.content.decode()
    # Nor can someone outside the guild report its messages.
    stranger = report_message(browser(make_user("stranger")), insult)
    assert stranger.status_code == 404
    assert not ReportCase.objects.filter(message_id=secret.id).exists()
    assert Report.objects.count() == 0
    # Signed out: sent to sign in, nothing filed.
    assert Client().post("/app/reports/new/", {"type": "message"}).status_code == 302


def test_reporting_a_member_from_the_profile_entry_point(world):
    answer = browser(world.carol).post(
        "/app/reports/new/",
        {"type": "user", "user_id": world.bob.id, "guild_id": world.guild.id, "category": "spam"},
    )
    assert answer.status_code == 200
    case = ReportCase.objects.get(target_user=world.bob)
    assert case.kind == "user" and case.guild_id == world.guild.id


def test_moderation_entry_and_count_only_for_those_who_moderate(world, insult):
    channel_page = f"/app/guilds/{world.guild.id}/channels/{world.channel.id}/"
    before = browser(world.mo).get(channel_page).content.decode()
    assert "data-mod-entry" in before and "data-mod-count" not in before
    report_message(browser(world.carol), insult)
    html = browser(world.mo).get(channel_page).content.decode()
    assert re.search(r"data-mod-count>1<span class=\"visually-hidden\"> open report<", html)
    # The refreshed channel list (HTMX) carries it too, so navigation keeps it current.
    fragment = browser(world.mo).get(f"/app/guilds/{world.guild.id}/channels/").content.decode()
    assert "data-mod-count>1" in fragment
    for member in (world.bob, world.carol):
        assert "data-mod-entry" not in browser(member).get(channel_page).content.decode()


def test_a_non_moderator_gets_the_error_page_not_the_queue(world, insult, make_user):
    report_message(browser(world.carol), insult)
    base = f"/app/guilds/{world.guild.id}/moderation/"
    case = ReportCase.objects.get()
    for url in (base, base + "log/", f"{base}cases/{case.id}/"):
        page = browser(world.carol).get(url)
        assert page.status_code in (403, 404), url
        assert "you are all idiots" not in page.content.decode()
    page = browser(world.carol).get(base)
    assert page.status_code == 403 and "You cannot open this page" in page.content.decode()
    no_inline_code(page.content.decode())
    assert browser(make_user("outsider")).get(base).status_code == 404
    # A case of another guild is not reachable through this guild's address.
    other = browser(world.mo).get(f"/app/guilds/{world.guild.id + 1}/moderation/cases/{case.id}/")
    assert other.status_code == 404
    # Acting on a case is refused the same way, and nothing happens.
    act = browser(world.carol).post(f"{base}cases/{case.id}/", {"action": "kick"})
    assert act.status_code == 404 and Member.objects.filter(user=world.bob).exists()
    verify = browser(world.carol).post(f"{base}log/verify/")
    assert verify.status_code in (403, 404)


def test_queue_case_and_actions_inside_the_client(world, insult):
    report_message(browser(world.carol), insult, note="rude")
    case = ReportCase.objects.get()
    mo = browser(world.mo)
    queue = mo.get(f"/app/guilds/{world.guild.id}/moderation/")
    html = queue.content.decode()
    assert queue.status_code == 200 and f"Case #{case.id}" in html
    # Inside the client shell: the rail, the guild's channels and the member list are there.
    assert 'class="rail"' in html and 'id="channel-list"' in html and 'id="member-list"' in html
    no_inline_code(html)

    url = f"/app/guilds/{world.guild.id}/moderation/cases/{case.id}/"
    page = mo.get(url).content.decode()
    assert "you are all idiots" in page and "rude" in page
    for words in ("Warn the author", "Time the author out", "Kick the author", "Ban the author"):
        assert words in page

    # A warning needs a reason; with one it lands in the signed log.
    empty = mo.post(url, {"action": "warn", "reason": ""}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 400 and "Say what the warning is for" in empty.content.decode()
    warned = mo.post(url, {"action": "warn", "reason": "keep it civil"}, HTTP_HX_REQUEST="true")
    assert warned.status_code == 200 and "Done: Warn the author" in warned.content.decode()
    entry = AuditLogEntry.objects.filter(target_id=world.bob.id).latest("seq")
    assert entry.changes == [{"key": "warning", "new_value": "keep it civil"}]
    assert "keep it civil" in browser(world.bob).get("/app/reports/").content.decode()

    # A timeout: only the offered durations; then bob cannot send for ten minutes.
    odd = mo.post(url, {"action": "timeout", "duration_seconds": "7"}, HTTP_HX_REQUEST="true")
    assert odd.status_code == 400
    done = mo.post(url, {"action": "timeout", "duration_seconds": "600"}, HTTP_HX_REQUEST="true")
    assert done.status_code == 200
    assert done["HX-Trigger"] == "refresh-channels"  # the sidebar's count follows
    until = timeouts.communication_disabled_until(world.guild.id, world.bob.id)
    assert until is not None
    assert timedelta(minutes=9) < until - timezone.now() <= timedelta(minutes=10)
    case.refresh_from_db()
    assert case.state == "actioned"

    # Notes stay internal; without script a POST redirects back to the case.
    assert mo.post(url, {"op": "note", "body": "second offence"}).status_code == 302
    assert CaseNote.objects.filter(case=case, body="second offence").exists()
    # A moderator without BAN_MEMBERS is refused with the service's words, in the page.
    ban = mo.post(url, {"action": "ban", "reason": "x"}, HTTP_HX_REQUEST="true")
    assert ban.status_code == 403 and "Missing Permissions" in ban.content.decode()
    assert Member.objects.filter(user=world.bob).exists()


def test_deleting_the_reported_message_keeps_the_evidence_in_the_case(world, insult):
    report_message(browser(world.carol), insult)
    case = ReportCase.objects.get()
    message_services.do_delete_message(
        Message.objects.select_related("channel").get(id=insult.id), actor=world.bob
    )
    assert Message.objects.get(id=insult.id).deleted
    page = browser(world.mo).get(f"/app/guilds/{world.guild.id}/moderation/cases/{case.id}/")
    html = page.content.decode()
    assert "you are all idiots" in html and "data-message-gone" in html
    # And the reporter's list still says what they reported.
    assert "you are all idiots" in browser(world.carol).get("/app/reports/").content.decode()


def test_modlog_in_the_client_and_verify_chain(world, insult):
    timeouts.check_timeout(
        world.mo, world.guild.id, world.bob.id, timezone.now() + timedelta(minutes=5)
    )
    url = f"/app/guilds/{world.guild.id}/moderation/log/"
    page = browser(world.mo).get(url)
    assert page.status_code == 200 and "Verify chain" in page.content.decode()
    assert "<td>Timed out</td>" in page.content.decode()
    count = AuditLogEntry.objects.filter(guild=world.guild).count()
    verify = browser(world.mo).post(url + "verify/", HTTP_HX_REQUEST="true")
    entries = "entry" if count == 1 else "entries"
    assert f"Chain intact: {count} {entries}" in verify.content.decode()
    # Someone rewrites history in the database: the check says where it breaks.
    entry = AuditLogEntry.objects.filter(guild=world.guild).order_by("seq").first()
    AuditLogEntry.objects.filter(id=entry.id).update(reason="nothing to see")
    broken = browser(world.mo).post(url + "verify/", HTTP_HX_REQUEST="true").content.decode()
    assert f"Chain broken at entry #{entry.seq}" in broken


def test_timed_out_member_sees_when_they_may_speak_again_with_the_composer_disabled(world):
    channel_page = f"/app/guilds/{world.guild.id}/channels/{world.channel.id}/"
    free = browser(world.bob).get(channel_page).content.decode()
    assert re.search(r"data-timeout-notice[^>]*hidden", free)
    assert not re.search(r"<textarea id=\"composer-input\"[^>]*disabled", free)
    until = timezone.now() + timedelta(minutes=9)
    timeouts.check_timeout(world.mo, world.guild.id, world.bob.id, until)
    html = browser(world.bob).get(channel_page).content.decode()
    assert re.search(r"<textarea id=\"composer-input\"[^>]*disabled", html)
    assert f'data-until="{until.isoformat()}"' in html
    assert "You can send messages again at" in html
