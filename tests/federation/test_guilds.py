"""Federated guilds in one process: a remote member (a signed actor of remote.example) joins,
writes, is refused; malformed activities and bad input get clear answers, never a crash."""

from __future__ import annotations

import time

import pytest

from federation import handlers, policy
from federation.guildwire import group_uri
from federation.models import Activity, Delivery, InboxItem, RelayedEnvelope, RemoteNode
from federation.publicchannel import plain_text
from guilds.models import Channel, Member
from guilds.services.guilds import do_create_guild
from guilds.services.invites import check_create_invite
from guilds.services.overwrites import check_put_overwrite
from messaging.models import Message
from tests.federation.fixtures import post_signed, remote_identity

pytestmark = pytest.mark.django_db
REMOTE = "https://remote.example"


@pytest.fixture(autouse=True)
def _local_base(settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"


@pytest.fixture
def eve(db):
    return remote_identity(f"{REMOTE}/users/eve")


@pytest.fixture
def hosted(make_user):
    alice = make_user("alice")
    guild = do_create_guild(alice, name="Harbour", icon=None, description="")
    channel = Channel.objects.get(guild=guild, name="general")
    invite = check_create_invite(alice, channel.id, {"max_age": 0})
    return alice, guild, channel, invite


def deliver(client, eve, activity: dict) -> InboxItem:
    response = post_signed(client, eve, activity)
    assert response.status_code == 202, response.content
    item = InboxItem.objects.get(activity_uri=activity["id"])
    handlers.process(item.id)
    item.refresh_from_db()
    return item


_n = iter(range(1, 10_000))


def activity(kind: str, obj, **extra) -> dict:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{REMOTE}/activities/{next(_n)}",
        "type": kind,
        "actor": f"{REMOTE}/users/eve",
        "object": obj,
        **extra,
    }


def sent(kind: str) -> list[dict]:
    return [a.payload for a in Activity.objects.filter(type=kind).order_by("id")]


def join(client, eve, guild, code: str) -> InboxItem:
    return deliver(client, eve, activity("Follow", group_uri(guild.id), inviteCode=code))


def note(channel, message_id: int, text: str, hlc: str | None = None) -> dict:
    ms = int(time.time() * 1000)
    return {
        "id": f"{REMOTE}/messages/{message_id}",
        "type": "Note",
        "attributedTo": f"{REMOTE}/users/eve",
        "channelId": str(channel.id),
        "messageId": str(message_id),
        "hlc": hlc or f"{ms:013d}-00000-remote.example",
        "content": "<p>ignored html</p>",
        "source": {"content": text, "mediaType": "text/markdown"},
    }


def test_a_remote_member_joins_by_invite_and_is_refused_without_one(client, eve, hosted):
    _, guild, _, invite = hosted
    refused = join(client, eve, guild, "not-a-code")
    assert refused.state == "processed" and "refused" in refused.detail
    (reject,) = sent("Reject")
    assert reject["content"] == "Unknown Invite"
    assert not Member.objects.filter(guild=guild, user__username="eve@remote.example").exists()
    joined = join(client, eve, guild, invite.code)
    assert joined.detail.endswith("joined")
    assert Member.objects.filter(guild=guild, user__username="eve@remote.example").exists()
    (accept,) = sent("Accept")
    assert accept["actor"] == group_uri(guild.id)
    state = sent("Update")[-1]["object"]
    assert state["type"] == "GuildState"
    assert {m["actor"] for m in state["members"]} == {
        "http://127.0.0.1:8000/users/alice",
        f"{REMOTE}/users/eve",
    }
    assert Delivery.objects.filter(inbox=f"{REMOTE}/inbox").exists()


def test_the_host_applies_a_member_message_and_refuses_what_permissions_forbid(client, eve, hosted):
    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    item = deliver(
        client, eve, activity("Create", note(channel, 4242, "hi"), to=[group_uri(guild.id)])
    )
    assert item.state == "processed", item.detail
    message = Message.objects.get(id=4242)
    assert message.author.username == "eve@remote.example" and message.content == "hi"
    assert message.hlc_node == "remote.example"
    announced = sent("Announce")[-1]
    assert announced["object"]["type"] == "Create"
    assert announced["object"]["object"]["messageId"] == "4242"
    # @everyone loses SEND_MESSAGES: the next message is refused, with the reason.
    check_put_overwrite(alice, channel.id, guild.id, {"type": 0, "deny": str(1 << 11)})
    item = deliver(
        client, eve, activity("Create", note(channel, 4243, "no"), to=[group_uri(guild.id)])
    )
    assert not Message.objects.filter(id=4243).exists()
    reject = sent("Reject")[-1]
    assert reject["object"]["type"] == "Create" and "Missing Permissions" in reject["content"]


def test_malformed_member_activities_are_refused_not_crashed(client, eve, hosted):
    _, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    to = [group_uri(guild.id)]
    no_id = note(channel, 1, "x")
    del no_id["messageId"]
    no_id["id"] = f"{REMOTE}/notes/abc"  # and no snowflake at the end of its id either
    deliver(client, eve, activity("Create", no_id, to=to))
    assert "A message needs its id" in sent("Reject")[-1]["content"]
    future = note(
        channel, 2, "x", hlc=f"{int(time.time() * 1000) + 3_600_000:013d}-00000-remote.example"
    )
    deliver(client, eve, activity("Create", future, to=to))
    assert "Bad HLC stamp" in sent("Reject")[-1]["content"]
    forged = note(channel, 3, "x", hlc=f"{int(time.time() * 1000):013d}-00000-other.example")
    deliver(client, eve, activity("Create", forged, to=to))
    assert "not the sender node" in sent("Reject")[-1]["content"]
    wrong_channel = note(channel, 5, "x")
    wrong_channel["channelId"] = "999"
    deliver(client, eve, activity("Create", wrong_channel, to=to))
    assert "Unknown Channel" in sent("Reject")[-1]["content"]
    assert not Message.objects.filter(id__in=[1, 2, 3, 5]).exists()
    bad_state = {"type": "GuildState", "id": f"{REMOTE}/groups/7/state", "guild": {}}
    item = deliver(client, eve, activity("Update", bad_state))
    assert item.state == "failed" and "KeyError" in item.detail


def test_a_node_block_removes_its_people_from_our_guilds(client, eve, hosted):
    _, guild, _, invite = hosted
    join(client, eve, guild, invite.code)
    policy.do_block_node(RemoteNode.objects.get(domain="remote.example"), "spam")
    assert not Member.objects.filter(guild=guild, user__username="eve@remote.example").exists()


def test_an_opaque_device_message_is_stored_for_the_recipient_and_acknowledged(
    client, eve, make_user
):
    bob = make_user("bob")
    payload = {"ciphertext": "b64…", "header": {"n": 1}}
    relayed = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{REMOTE}/activities/dm-1",
        "type": "DeviceMessage",
        "actor": f"{REMOTE}/users/eve",
        "to": ["http://127.0.0.1:8000/users/bob"],
        "devices": ["123"],
        "payload": payload,
    }
    assert deliver(client, eve, relayed).state == "processed"
    assert deliver(client, eve, relayed).state == "processed"  # redelivery: still one
    (row,) = RelayedEnvelope.objects.all()
    assert row.recipient == bob and row.payload == payload
    client.force_login(bob)
    listed = client.get("/api/v1/federation/device-messages?device_id=123").json()
    assert [e["payload"] for e in listed] == [payload] and listed[0]["from"] == "eve@remote.example"
    assert client.delete(f"/api/v1/federation/device-messages/{row.id}").status_code == 204
    assert client.delete(f"/api/v1/federation/device-messages/{row.id}").status_code == 404
    too_many = {**relayed, "id": f"{REMOTE}/activities/dm-2", "devices": "all"}
    assert deliver(client, eve, too_many).state == "failed"


def test_bad_input_gets_clear_errors(client, make_user):
    client.force_login(make_user("bob"))
    cases = [
        ("/api/v1/federation/invites/preview", {"invite": "nonsense"}, 400),
        ("/api/v1/federation/invites/preview", {"invite": "http://127.0.0.1:8000/invite/x"}, 400),
        ("/api/v1/federation/guilds/join", {}, 400),
        ("/api/v1/federation/device-messages", {"to": "x@y", "devices": [], "payload": {}}, 400),
        (
            "/api/v1/federation/device-messages",
            {"to": "x@y", "devices": ["1"], "payload": {"x": "y" * 70_000}},
            400,
        ),
        ("/api/v1/federation/messages/1/retry", {}, 404),
        ("/api/v1/federation/reports/1/forward", {}, 404),
        ("/api/v1/federation/guilds/1/sync", {}, 404),
    ]
    for path, body, status in cases:
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == status, (path, response.content)
        assert "message" in response.json()
    assert client.get("/api/v1/federation/keys?acct=nobody").status_code == 400


def test_replies_from_the_fediverse_are_reduced_to_plain_text():
    assert plain_text("<p>Hi <b>there</b></p><p>&lt;3</p><script>x</script>") == "Hi there\n<3\nx"


def test_a_timeout_and_a_kick_on_the_host_hold_for_a_remote_member(client, eve, hosted):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import User
    from moderation.services.sanctions import do_kick
    from moderation.services.timeouts import do_timeout

    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    remote_eve = User.objects.get(username="eve@remote.example")
    do_timeout(guild, alice, remote_eve, timezone.now() + timedelta(minutes=10))
    deliver(client, eve, activity("Create", note(channel, 7001, "hi"), to=[group_uri(guild.id)]))
    assert not Message.objects.filter(id=7001).exists()
    assert sent("Reject")[-1]["object"]["type"] == "Create"
    do_kick(guild, alice, remote_eve)
    state = sent("Update")[-1]
    assert f"{REMOTE}/users/eve" not in {m["actor"] for m in state["object"]["members"]}
    # The kicked member's node hears it even though it has no member left in the guild.
    assert Delivery.objects.filter(activity__uri=state["id"], inbox=f"{REMOTE}/inbox").exists()
    do_timeout(guild, alice, remote_eve, None)
    deliver(client, eve, activity("Create", note(channel, 7002, "hi"), to=[group_uri(guild.id)]))
    assert not Message.objects.filter(id=7002).exists()  # not a member any more


def test_a_replica_shows_when_its_host_is_offline_or_defederated(client, make_user):
    """The member node's pages say why nothing arrives: host unreachable, or blocked here."""
    from django.utils import timezone

    from federation.models import GuildLink, NodeStatus

    bob = make_user("bob")
    guild = do_create_guild(bob, name="Harbour", icon=None, description="")
    GuildLink.objects.create(
        guild=guild, group_uri="https://far.example/groups/1", domain="far.example"
    )
    channel = Channel.objects.get(guild=guild, type=0, name="general")
    client.force_login(bob)
    page = f"/app/guilds/{guild.id}/channels/{channel.id}/"
    assert "data-federation-notice" not in client.get(page).content.decode()

    node = RemoteNode.objects.create(
        domain="far.example", status=NodeStatus.UNREACHABLE, unreachable_since=timezone.now()
    )
    html = client.get(page).content.decode()
    assert 'data-federation-notice="offline"' in html and "far.example is offline" in html

    node.blocked = True
    node.save()
    html = client.get(page).content.decode()
    assert 'data-federation-notice="defederated"' in html and "is defederated" in html
