"""Moderator pages and the operators' admin, through Django's test client."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from guilds.models import Member
from messaging.services import messages as message_services
from moderation.models import AuditLogEntry, GuildBan, ModeratedMember, ReportCase
from moderation.services import reports
from tests.moderation.pages import browser, no_inline_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(world):
    message, _ = message_services.check_send_message(
        world.bob, world.channel.id, content="you are all idiots"
    )
    report = reports.check_create_report(
        world.carol,
        {
            "type": "message",
            "channel_id": message.channel_id,
            "message_id": message.id,
            "category": "harassment",
            "note": "rude",
        },
    )
    return report.case


def test_moderator_without_ban_members_cannot_ban_from_the_web_page(world):
    w = world
    url = f"/guilds/{w.guild.id}/moderation/members/{w.bob.id}/"
    page = browser(w.mo).post(url, {"action": "ban", "reason": "nope"})
    assert page.status_code == 403
    assert not GuildBan.objects.exists() and Member.objects.filter(user=w.bob).exists()
    page = browser(w.sam).post(url, {"action": "ban", "reason": "spam", "delete_days": "1"})
    assert page.status_code == 200 and b"Done: ban" in page.content
    assert GuildBan.objects.filter(user=w.bob, moderator=w.sam).exists()
    no_inline_code(page.content.decode())


def test_member_page_times_out_and_kicks(world):
    w = world
    url = f"/guilds/{w.guild.id}/moderation/members/{w.bob.id}/"
    assert browser(w.mo).get(url).status_code == 200
    assert (
        browser(w.mo).post(url, {"action": "timeout", "duration_minutes": "5"}).status_code == 200
    )
    with pytest.raises(Exception, match="timed out"):
        message_services.check_send_message(w.bob, w.channel.id, content="hi")
    assert browser(w.mo).post(url, {"action": "kick"}).status_code == 200
    assert not Member.objects.filter(guild=w.guild, user=w.bob).exists()
    # Signed-out visitors are sent to sign in.
    assert Client().get(url).status_code == 302


def test_queue_and_case_pages(world, case):
    w = world
    queue = browser(w.mo).get(f"/guilds/{w.guild.id}/moderation/")
    assert queue.status_code == 200 and f"#{case.id}".encode() in queue.content
    no_inline_code(queue.content.decode())
    assert browser(w.carol).get(f"/guilds/{w.guild.id}/moderation/").status_code == 403

    url = f"/moderation/cases/{case.id}/"
    page = browser(w.mo).get(url)
    assert page.status_code == 200 and b"you are all idiots" in page.content
    no_inline_code(page.content.decode())
    assert browser(w.carol).get(url).status_code == 404

    client = browser(w.mo)
    assert client.post(url, {"op": "note", "body": "third strike"}).status_code == 302
    assert client.post(url, {"op": "assign"}).status_code == 302
    refused = client.post(url, {"action": "ban", "reason": "x"})
    assert refused.status_code == 403 and not GuildBan.objects.exists()
    assert client.post(url, {"action": "delete_message", "reason": "rude"}).status_code == 302
    page = client.get(url)
    assert b"third strike" in page.content and b"moderation log #" in page.content
    case.refresh_from_db()
    assert case.state == "actioned" and case.assignee_id == w.mo.id


def test_modlog_page_shows_the_chain_status(world):
    w = world
    url = f"/guilds/{w.guild.id}/moderation/log/"
    page = browser(w.mo).get(url)
    assert page.status_code == 200 and b"OK:" in page.content
    no_inline_code(page.content.decode())
    assert browser(w.bob).get(url).status_code == 403
    AuditLogEntry.objects.filter(guild=w.guild, seq=2).update(reason="forged")
    assert b"BROKEN at seq 2" in browser(w.mo).get(url).content


def staff(make_user, name: str, *, superuser: bool = False):
    user = make_user(name, is_staff=True, is_superuser=superuser)
    if not superuser:
        user.user_permissions.add(
            *Permission.objects.filter(
                codename__in=["view_moderatedmember", "change_moderatedmember"]
            )
        )
    return user


def test_admin_action_respects_guild_permissions(world, make_user):
    w = world
    w.mo.is_staff = True
    w.mo.save(update_fields=["is_staff"])
    w.mo.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_moderatedmember", "change_moderatedmember"])
    )
    bob_member = ModeratedMember.objects.get(guild=w.guild, user=w.bob)
    url = "/admin/moderation/moderatedmember/"
    body = {"action": "ban", "_selected_action": [str(bob_member.id)]}
    response = browser(w.mo).post(url, body, follow=True)
    assert response.status_code == 200 and b"Refused" in response.content
    assert not GuildBan.objects.exists()
    # The node operator may: they stand outside the guild's hierarchy.
    root = staff(make_user, "root", superuser=True)
    response = browser(root).post(url, body, follow=True)
    assert b"1 member(s) banned" in response.content
    assert GuildBan.objects.filter(user=w.bob, moderator=root).exists()
    # ...but not against the owner.
    owner_member = ModeratedMember.objects.get(guild=w.guild, user=w.alice)
    body["_selected_action"] = [str(owner_member.id)]
    response = browser(root).post(url, body, follow=True)
    assert b"Refused" in response.content


def test_admin_queue_counts_and_bulk_actions(world, case, make_user):
    root = staff(make_user, "root", superuser=True)
    client = browser(root)
    index = client.get("/admin/")
    assert index.status_code == 200 and b"Unresolved report cases" in index.content
    listing = client.get("/admin/moderation/reportcase/?queue=guild")
    assert listing.status_code == 200 and b"1 unresolved case(s)" in listing.content
    assert client.get(f"/admin/moderation/reportcase/{case.id}/change/").status_code == 200
    client.post(
        "/admin/moderation/reportcase/",
        {"action": "dismiss", "_selected_action": [str(case.id)]},
    )
    assert ReportCase.objects.get(id=case.id).state == "dismissed"
    for path in ("auditlogentry", "guildban", "membertimeout", "moderatedmember"):
        assert client.get(f"/admin/moderation/{path}/").status_code == 200, path
