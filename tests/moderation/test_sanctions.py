"""Timeouts, kicks, bans and unbans through the REST API, with the hierarchy enforced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from guilds.models import Member
from jobs.services import registered
from messaging.models import Message
from messaging.services import messages as message_services
from moderation.models import AuditLogEntry, GuildBan, MemberTimeout
from moderation.services import sanctions, timeouts
from united.audit import AuditLogEvent

pytestmark = pytest.mark.django_db


def member_url(w, user) -> str:
    return f"/api/v1/guilds/{w.guild.id}/members/{user.id}"


def send(api, user, channel, content="hello"):
    return api(user).post(f"/api/v1/channels/{channel.id}/messages", {"content": content}, "json")


def soon(minutes: int = 10) -> str:
    return (timezone.now() + timedelta(minutes=minutes)).isoformat()


def test_timed_out_member_reads_but_cannot_send_react_or_type(world, api):
    w = world
    mid = send(api, w.alice, w.channel, "before").json()["id"]
    response = api(w.mo).patch(
        member_url(w, w.bob),
        {"communication_disabled_until": soon()},
        "json",
        HTTP_X_AUDIT_LOG_REASON="cool%20down",
    )
    assert response.status_code == 200, response.content
    assert response.json()["communication_disabled_until"] is not None

    refused = send(api, w.bob, w.channel)
    assert refused.status_code == 403 and refused.json()["code"] == timeouts.TIMED_OUT
    base = f"/api/v1/channels/{w.channel.id}"
    assert api(w.bob).put(f"{base}/messages/{mid}/reactions/%F0%9F%8E%89/@me").status_code == 403
    assert api(w.bob).post(f"{base}/typing").status_code == 403
    assert api(w.bob).get(f"{base}/messages").status_code == 200  # still reads
    assert send(api, w.carol, w.channel).status_code == 200

    entry = AuditLogEntry.objects.filter(action_type=AuditLogEvent.MEMBER_UPDATE).first()
    assert entry.target_id == w.bob.id and entry.actor_id == w.mo.id
    assert entry.reason == "cool down"
    assert entry.changes[0]["key"] == "communication_disabled_until"

    lifted = api(w.mo).patch(member_url(w, w.bob), {"communication_disabled_until": None}, "json")
    assert lifted.json()["communication_disabled_until"] is None
    assert send(api, w.bob, w.channel).status_code == 200


def test_one_patch_sets_nick_and_timeout_or_neither(world, api):
    """The member route is moderation's door over the guild's fields: a refused timeout
    leaves the nick of the same PATCH unchanged, an accepted one answers both."""
    w = world
    too_long = (timezone.now() + timedelta(days=29)).isoformat()
    refused = api(w.alice).patch(
        member_url(w, w.bob), {"nick": "Bobby", "communication_disabled_until": too_long}, "json"
    )
    assert refused.status_code == 400, refused.content
    assert "communication_disabled_until" in refused.json()["errors"]
    assert Member.objects.get(guild=w.guild, user=w.bob).nick is None
    assert not MemberTimeout.objects.exists()

    done = api(w.alice).patch(
        member_url(w, w.bob), {"nick": "Bobby", "communication_disabled_until": soon()}, "json"
    )
    assert done.status_code == 200, done.content
    assert done.json()["nick"] == "Bobby"
    assert done.json()["communication_disabled_until"] is not None
    assert MemberTimeout.objects.filter(guild=w.guild, user=w.bob).exists()


def test_per_channel_timeout_only_mutes_that_channel(world):
    w = world
    until = timezone.now() + timedelta(hours=1)
    timeouts.check_timeout(w.mo, w.guild.id, w.bob.id, until, channel_id=w.channel.id)
    with pytest.raises(Exception) as refused:
        message_services.check_send_message(w.bob, w.channel.id, content="hi")
    assert refused.value.code == timeouts.TIMED_OUT
    message, created = message_services.check_send_message(w.bob, w.other.id, content="hi")
    assert created and message.channel_id == w.other.id


def test_hierarchy_and_limits(world, api):
    w = world
    # A moderator cannot act on someone ranked at or above them, nor on the owner.
    for target in (w.sam, w.alice):
        response = api(w.mo).patch(
            member_url(w, target), {"communication_disabled_until": soon()}, "json"
        )
        assert response.status_code == 403
    assert api(w.mo).delete(member_url(w, w.sam)).status_code == 403
    assert api(w.sam).put(f"/api/v1/guilds/{w.guild.id}/bans/{w.alice.id}").status_code == 403
    # An ordinary member has no MODERATE_MEMBERS.
    response = api(w.carol).patch(
        member_url(w, w.bob), {"communication_disabled_until": soon()}, "json"
    )
    assert response.status_code == 403
    # Discord's 28-day cap, and a real timestamp.
    too_long = (timezone.now() + timedelta(days=29)).isoformat()
    response = api(w.mo).patch(
        member_url(w, w.bob), {"communication_disabled_until": too_long}, "json"
    )
    assert response.status_code == 400
    response = api(w.mo).patch(
        member_url(w, w.bob), {"communication_disabled_until": "tomorrow"}, "json"
    )
    assert response.status_code == 400
    assert not MemberTimeout.objects.exists()


def test_kick_removes_the_member_who_may_come_back(world, api):
    w = world
    response = api(w.mo).delete(member_url(w, w.bob), HTTP_X_AUDIT_LOG_REASON="spam")
    assert response.status_code == 204
    assert not Member.objects.filter(guild=w.guild, user=w.bob).exists()
    entry = AuditLogEntry.objects.get(action_type=AuditLogEvent.MEMBER_KICK)
    assert (entry.actor_id, entry.target_id, entry.reason) == (w.mo.id, w.bob.id, "spam")
    assert api(w.bob).post(f"/api/v1/invites/{w.invite.code}").status_code == 200


def test_ban_deletes_recent_messages_and_blocks_rejoining(world, api):
    w = world
    for text in ("one", "two"):
        send(api, w.bob, w.channel, text)
    url = f"/api/v1/guilds/{w.guild.id}/bans/{w.bob.id}"
    response = api(w.sam).put(url, {"delete_message_seconds": 3600}, "json")
    assert response.status_code == 204, response.content
    assert not Member.objects.filter(guild=w.guild, user=w.bob).exists()
    assert not Message.objects.live().filter(author=w.bob).exists()
    assert Message.objects.filter(author=w.bob).count() == 2  # tombstones
    bans = api(w.sam).get(f"/api/v1/guilds/{w.guild.id}/bans").json()
    assert [b["user"]["id"] for b in bans] == [str(w.bob.id)]
    assert bans[0]["expires_at"] is None
    refused = api(w.bob).post(f"/api/v1/invites/{w.invite.code}")
    assert refused.status_code == 403 and refused.json()["code"] == 40007
    entry = AuditLogEntry.objects.get(action_type=AuditLogEvent.MEMBER_BAN_ADD)
    assert {"key": "messages_deleted", "new_value": 2} in entry.changes

    assert api(w.sam).delete(url).status_code == 204
    assert not GuildBan.objects.exists()
    assert api(w.sam).delete(url).status_code == 404
    assert api(w.bob).post(f"/api/v1/invites/{w.invite.code}").status_code == 200


def test_ban_validation(world, api):
    w = world
    url = f"/api/v1/guilds/{w.guild.id}/bans/{w.bob.id}"
    assert api(w.sam).put(url, {"delete_message_seconds": 604801}, "json").status_code == 400
    assert api(w.sam).put(url, {"duration_seconds": 5}, "json").status_code == 400
    assert api(w.sam).put(f"/api/v1/guilds/{w.guild.id}/bans/1").status_code == 404
    assert api(w.sam).put(f"/api/v1/guilds/{w.guild.id}/bans/{w.sam.id}").status_code == 403
    assert not GuildBan.objects.exists()


def test_moderator_without_ban_members_cannot_ban_through_the_api(world, api):
    w = world
    response = api(w.mo).put(f"/api/v1/guilds/{w.guild.id}/bans/{w.bob.id}", {}, "json")
    assert response.status_code == 403
    assert api(w.mo).get(f"/api/v1/guilds/{w.guild.id}/bans").status_code == 403
    assert not GuildBan.objects.exists()
    assert Member.objects.filter(guild=w.guild, user=w.bob).exists()


def test_temporary_sanctions_expire_through_the_periodic_job(
    world, published, django_capture_on_commit_callbacks
):
    w = world
    assert "moderation.expire_sanctions" in registered()
    sanctions.check_ban(w.sam, w.guild.id, w.bob.id, duration_seconds=60)
    until = timezone.now() + timedelta(seconds=30)
    timeouts.check_timeout(w.mo, w.guild.id, w.carol.id, until)
    assert sanctions.is_banned(w.guild, w.bob)
    assert sanctions.expire_sanctions(timezone.now()) == 0
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert sanctions.expire_sanctions(timezone.now() + timedelta(minutes=2)) == 2
    assert not GuildBan.objects.exists() and not MemberTimeout.objects.exists()
    names = [t for _, t, _ in published]
    assert "GUILD_BAN_REMOVE" in names
    update = next(d for _, t, d in published if t == "GUILD_MEMBER_UPDATE")
    assert update["user"]["id"] == str(w.carol.id)
    unban = AuditLogEntry.objects.get(action_type=AuditLogEvent.MEMBER_BAN_REMOVE)
    assert unban.actor_id is None and unban.reason == "temporary ban expired"


def test_timeout_event_carries_discords_field(world, published, django_capture_on_commit_callbacks):
    w = world
    until = timezone.now() + timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        timeouts.check_timeout(w.mo, w.guild.id, w.bob.id, until)
    (group, _, d), *_ = [p for p in published if p[1] == "GUILD_MEMBER_UPDATE"]
    assert group == f"guild.{w.guild.id}"
    assert d["communication_disabled_until"] == until.isoformat()
    assert d["user"]["id"] == str(w.bob.id)
