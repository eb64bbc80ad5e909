"""Inbound origin rules as Mastodon applies them (federation.origin): signed requests that
claim what is not theirs are refused with the status a peer sees, and nothing is stored."""

from __future__ import annotations

import time

import pytest

from federation import handlers, remote
from federation.guildwire import group_uri
from federation.models import (
    ChannelFollower,
    Delivery,
    InboxItem,
    InboxRejection,
    ReceivedObject,
    RemoteActor,
    RemoteKey,
)
from federation.publicchannel import public_note_uri
from guilds.models import Channel
from guilds.services.channels import check_create_channel
from guilds.services.guilds import do_create_guild
from guilds.services.invites import check_create_invite
from messaging.models import Message
from messaging.services.messages import check_send_message
from tests.federation.fixtures import RemoteIdentity, post_signed, remote_identity

pytestmark = pytest.mark.django_db
REMOTE = "https://remote.example"
_n = iter(range(1, 100_000))


@pytest.fixture(autouse=True)
def _local_base(settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"


@pytest.fixture
def eve(db):
    return remote_identity(f"{REMOTE}/users/eve")


@pytest.fixture
def mallory(db):
    return remote_identity(f"{REMOTE}/users/mallory")


@pytest.fixture
def hosted(make_user):
    alice = make_user("alice")
    guild = do_create_guild(alice, name="Harbour", icon=None, description="")
    channel = Channel.objects.get(guild=guild, name="general")
    invite = check_create_invite(alice, channel.id, {"max_age": 0})
    return alice, guild, channel, invite


def activity(kind: str, obj, actor: str = f"{REMOTE}/users/eve", **extra) -> dict:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{REMOTE}/activities/{next(_n)}",
        "type": kind,
        "actor": actor,
        "object": obj,
        **extra,
    }


def note(channel, message_id: int, text: str, **extra) -> dict:
    ms = int(time.time() * 1000)
    return {
        "id": f"{REMOTE}/messages/{message_id}",
        "type": "Note",
        "attributedTo": f"{REMOTE}/users/eve",
        "channelId": str(channel.id),
        "messageId": str(message_id),
        "hlc": f"{ms:013d}-00000-remote.example",
        "content": "<p>x</p>",
        "source": {"content": text, "mediaType": "text/markdown"},
        **extra,
    }


def refused(response, status: int, reason: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"] == reason
    assert InboxRejection.objects.filter(reason=reason).exists()
    assert not InboxItem.objects.exists()  # nothing stored, nothing processed


def member(client, eve, guild, invite) -> None:
    join = activity("Follow", group_uri(guild.id), inviteCode=invite.code)
    assert post_signed(client, eve, join).status_code == 202
    handlers.process(InboxItem.objects.get(activity_uri=join["id"]).id)
    InboxItem.objects.all().delete()


def test_a_note_whose_id_is_on_another_host_is_refused(client, eve, hosted):
    _, guild, channel, invite = hosted
    member(client, eve, guild, invite)
    forged = note(channel, 9001, "from elsewhere", id="https://victim.example/messages/9001")
    response = post_signed(client, eve, activity("Create", forged, to=[group_uri(guild.id)]))
    refused(response, 403, "object_origin")
    assert not Message.objects.filter(id=9001).exists()


@pytest.mark.parametrize("kind", ["Update", "Delete"])
def test_changing_or_deleting_an_object_of_another_host_is_refused(client, eve, kind):
    target = {"id": "https://victim.example/notes/1", "type": "Note"}
    if kind == "Update":
        target["attributedTo"] = eve.uri
    refused(post_signed(client, eve, activity(kind, target)), 403, "object_origin")


def test_a_note_attributed_to_someone_else_is_refused(client, eve, mallory, hosted):
    _, guild, channel, invite = hosted
    member(client, eve, guild, invite)
    forged = note(channel, 9002, "I am mallory", attributedTo=mallory.uri)
    response = post_signed(client, eve, activity("Create", forged, to=[group_uri(guild.id)]))
    refused(response, 403, "attribution")
    nameless = note(channel, 9003, "by nobody")
    del nameless["attributedTo"]
    response = post_signed(client, eve, activity("Create", nameless, to=[group_uri(guild.id)]))
    assert response.status_code == 403 and response.json()["error"] == "attribution"
    assert not Message.objects.filter(id__in=[9002, 9003]).exists()


def test_an_undo_of_another_actors_activity_is_refused(client, eve, mallory):
    follow = {"id": f"{REMOTE}/follows/1", "type": "Follow", "actor": mallory.uri, "object": "x"}
    refused(post_signed(client, eve, activity("Undo", follow)), 403, "attribution")


def test_a_key_of_another_actor_of_the_same_host_cannot_speak_for_the_actor(
    client, eve, mallory, hosted
):
    _, guild, channel, invite = hosted
    member(client, eve, guild, invite)
    # Mallory signs, with her own valid key, a message claiming to be Eve's.
    create = activity("Create", note(channel, 9004, "eve says"), to=[group_uri(guild.id)])
    response = post_signed(client, mallory, create)
    refused(response, 401, "key_owner")
    assert not Message.objects.filter(id=9004).exists()
    # Eve's own key is accepted for the same activity.
    assert post_signed(client, eve, create).status_code == 202


def test_a_node_level_key_cannot_speak_for_a_user_of_its_node(client, eve, hosted):
    """Every actor of a UNITED node publishes the node's key material, but under its own
    keyId; the node actor's key (`/actor#main-key`) therefore speaks only for the node."""
    _, guild, channel, invite = hosted
    member(client, eve, guild, invite)
    node_actor = RemoteIdentity(f"{REMOTE}/actor", eve.key, f"{REMOTE}/actor/inbox")
    doc = node_actor.document() | {"type": "Application"}
    remote.remember_actor(doc)
    create = activity("Create", note(channel, 9005, "the node speaks"), to=[group_uri(guild.id)])
    # The same key material, named as the node's key: refused for Eve's activity.
    refused(post_signed(client, node_actor, create), 401, "key_owner")
    assert not Message.objects.filter(id=9005).exists()
    # The node's key speaks for the node itself.
    own = activity("Follow", "http://127.0.0.1:8000/users/alice", actor=node_actor.uri)
    assert post_signed(client, node_actor, own).status_code == 202


def test_an_actor_document_cannot_claim_another_actors_key(eve, mallory):
    """Mallory's document naming Eve's keyId (with Mallory's key) does not take it over."""
    before = RemoteKey.objects.get(key_id=eve.key_id)
    doc = mallory.document()
    doc["publicKey"] = doc["publicKey"] | {"id": eve.key_id, "owner": eve.uri}
    remote.remember_actor(doc)
    doc["publicKey"] = doc["publicKey"] | {"owner": mallory.uri}
    remote.remember_actor(doc)
    after = RemoteKey.objects.get(key_id=eve.key_id)
    assert after.actor.uri == eve.uri and after.public_pem == before.public_pem


def test_the_same_note_under_a_new_activity_id_is_one_message(client, eve, hosted):
    _, guild, channel, invite = hosted
    member(client, eve, guild, invite)
    same = note(channel, 9006, "once")
    for _ in range(2):  # two activity ids, one Note
        create = activity("Create", same, to=[group_uri(guild.id)])
        assert post_signed(client, eve, create).status_code == 202
        handlers.process(InboxItem.objects.get(activity_uri=create["id"]).id)
    assert Message.objects.filter(content="once").count() == 1
    # The same Note id cannot smuggle in a second message under another messageId.
    other = note(channel, 9007, "twice") | {"id": same["id"]}
    create = activity("Create", other, to=[group_uri(guild.id)])
    assert post_signed(client, eve, create).status_code == 202
    handlers.process(InboxItem.objects.get(activity_uri=create["id"]).id)
    assert not Message.objects.filter(id=9007).exists()
    reject = Delivery.objects.filter(activity__type="Reject").order_by("-id").first()
    assert reject.activity.payload["object"]["id"] == create["id"]


@pytest.fixture
def news(hosted, eve):
    """An announcement channel of a hosted guild, followed by a fediverse account (Eve)."""
    alice, guild, _, _ = hosted
    channel = check_create_channel(alice, guild.id, {"name": "news", "type": 5})
    ChannelFollower.objects.create(
        channel=channel, actor=RemoteActor.objects.get(uri=eve.uri), follow_uri="x"
    )
    return alice, channel


def test_a_fediverse_reply_repeated_under_a_new_activity_id_is_stored_once(client, eve, news):
    alice, channel = news
    post, _ = check_send_message(alice, channel.id, content="High tide at noon")
    reply = {
        "id": f"{REMOTE}/users/eve/statuses/1",
        "type": "Note",
        "attributedTo": eve.uri,
        "inReplyTo": public_note_uri(post.id),
        "content": "<p>thanks!</p>",
    }
    for _ in range(2):
        create = activity("Create", reply)
        assert post_signed(client, eve, create).status_code == 202
        handlers.process(InboxItem.objects.get(activity_uri=create["id"]).id)
    assert Message.objects.filter(content="thanks!").count() == 1
    assert ReceivedObject.objects.get(uri=reply["id"]).message.content == "thanks!"


def test_editing_an_announcement_followed_from_the_fediverse_sends_an_update(client, news):
    """Issue 21: the edit answered 500 and was lost (the Update carried `cc`, which the
    profile did not list for Update, so building it raised inside the edit's transaction)."""
    from rest_framework.test import APIClient

    alice, channel = news
    post, _ = check_send_message(alice, channel.id, content="High tide at noon")
    api = APIClient()
    api.force_authenticate(alice)
    response = api.patch(
        f"/api/v1/channels/{channel.id}/messages/{post.id}",
        {"content": "High tide at one"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert Message.objects.get(id=post.id).content == "High tide at one"  # not lost
    update = Delivery.objects.get(activity__type="Update").activity.payload
    assert update["object"]["id"] == public_note_uri(post.id)
    assert update["cc"] == [f"{update['actor']}/followers"]
    assert "High tide at one" in update["object"]["content"]
    assert update["object"]["attributedTo"] == update["actor"]


def test_a_group_speaks_for_its_members_only_inside_its_own_guild(client, make_user, hosted):
    """Accepted beyond Mastodon: a guild's Group announces activities of other actors. A
    member node applies them only to that Group's replica: a Group cannot use it to write
    into another guild (here one we host), nor anywhere else."""
    from federation.models import GuildLink

    _, _, our_channel, _ = hosted
    bob = make_user("bob")
    replica = do_create_guild(bob, name="Far", icon=None, description="")
    far = "https://far.example"
    GuildLink.objects.create(guild=replica, group_uri=f"{far}/groups/1", domain="far.example")
    group = remote_identity(f"{far}/groups/1")
    smuggled = note(our_channel, 9100, "written into a guild we host") | {
        "id": f"{far}/messages/9100",
        "attributedTo": "https://third.example/users/zoe",
    }
    inner = activity(
        "Create", smuggled, actor="https://third.example/users/zoe", id=f"{far}/activities/in"
    )
    announce = activity("Announce", inner, actor=group.uri, id=f"{far}/activities/1")
    assert post_signed(client, group, announce).status_code == 202
    assert handlers.process(InboxItem.objects.get(activity_uri=announce["id"]).id) == "failed"
    assert not Message.objects.filter(id=9100).exists()
