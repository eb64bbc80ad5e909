"""Threads started by a member on their own node in a guild hosted elsewhere, in one process.

The host's side: a signed `Create` of a `Thread` from remote.example starts the thread with the
member's permissions and the id it has on the member's node; refusals and malformed activities
go back as `Reject`. The member's side: starting a thread in a replica queues that `Create` for
the host, a `Reject` takes the waiting thread away, and the host's GuildState links the starter
message on the replica."""

from __future__ import annotations

import pytest

from federation import mirror
from federation.guildwire import group_uri, state
from federation.models import Activity, GuildLink
from guilds.models import Channel, ChannelType
from guilds.services.guilds import do_create_guild
from guilds.services.overwrites import check_put_overwrite
from messaging.models import Message
from tests.federation import test_guilds as g
from tests.federation.fixtures import remote_identity
from tests.federation.test_guilds import REMOTE, activity, deliver, join, note, sent

# The host-side fixtures of test_guilds (a remote member eve, alice's guild, a local base URL).
eve, hosted, _local_base = g.eve, g.hosted, g._local_base

pytestmark = pytest.mark.django_db
CREATE_PUBLIC_THREADS = 1 << 35


def thread(channel, thread_id, message_id, name: str = "Topic") -> dict:
    return {
        "id": f"{REMOTE}/groups/1/channels/{thread_id}",
        "type": "Thread",
        "channelId": str(channel.id),
        "threadId": str(thread_id),
        "messageId": str(message_id),
        "name": name,
    }


def test_the_host_starts_a_member_thread_with_its_id_and_refuses_without_permission(
    client, eve, hosted
):
    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    to = [group_uri(guild.id)]
    deliver(client, eve, activity("Create", note(channel, 4242, "start here"), to=to))
    item = deliver(client, eve, activity("Create", thread(channel, 777, 4242), to=to))
    assert item.state == "processed" and item.detail.startswith("thread 777"), item.detail
    made = Channel.objects.get(id=777)
    assert (made.type, made.parent_id, made.name) == (
        ChannelType.PUBLIC_THREAD,
        channel.id,
        "Topic",
    )
    assert Message.objects.get(id=4242).thread_id == 777
    state_doc = sent("Update")[-1]["object"]
    (entry,) = [c for c in state_doc["channels"] if c["id"] == "777"]
    assert entry["message_id"] == "4242" and entry["parent_id"] == str(channel.id)
    # The same activity again (a retried delivery) changes nothing.
    again = deliver(client, eve, activity("Create", thread(channel, 777, 4242), to=to))
    assert again.detail == "already have that thread"
    assert Channel.objects.filter(parent=channel).count() == 1
    # A member's first message in the thread is an ordinary message in it.
    first = note(made, 4250, "first in the thread")
    assert deliver(client, eve, activity("Create", first, to=to)).state == "processed"
    assert Message.objects.get(id=4250).channel_id == 777
    # @everyone loses CREATE_PUBLIC_THREADS in the channel: refused, with the reason.
    deliver(client, eve, activity("Create", note(channel, 4243, "another"), to=to))
    check_put_overwrite(
        alice, channel.id, guild.id, {"type": 0, "deny": str(CREATE_PUBLIC_THREADS)}
    )
    deliver(client, eve, activity("Create", thread(channel, 778, 4243), to=to))
    reject = sent("Reject")[-1]
    assert "Missing Permissions" in reject["content"]
    assert reject["object"]["type"] == "Create"
    assert not Channel.objects.filter(id=778).exists()
    assert Message.objects.get(id=4243).thread_id is None


def test_malformed_thread_activities_are_refused_not_crashed(client, eve, hosted):
    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    to = [group_uri(guild.id)]
    deliver(client, eve, activity("Create", note(channel, 4300, "a"), to=to))
    cases = [
        ({**thread(channel, 900, 4300), "threadId": "x"}, "needs its id"),
        ({**thread(channel, 901, 4300), "messageId": None}, "needs its id"),
        ({**thread(channel, 902, 4300), "channelId": "999"}, "Unknown Channel"),
        (thread(channel, 903, 4300, name="x" * 101), "Invalid form body"),
        (thread(channel, 904, 123456), "Unknown message"),
        (thread(channel, channel.id, 4300), "thread id is taken"),
    ]
    for obj, reason in cases:
        item = deliver(client, eve, activity("Create", obj, to=to))
        assert item.state == "processed", item.detail
        assert reason in sent("Reject")[-1]["content"], (obj, sent("Reject")[-1])
    assert not Channel.objects.filter(type=ChannelType.PUBLIC_THREAD).exists()
    assert Message.objects.get(id=4300).thread_id is None


@pytest.fixture
def replica(make_user):
    """bob's node holds a replica of guild 1 of remote.example (the host)."""
    bob = make_user("bob")
    guild = do_create_guild(bob, name="Harbour", icon=None, description="")
    link = GuildLink.objects.create(
        guild=guild, group_uri=f"{REMOTE}/groups/{guild.id}", domain="remote.example"
    )
    host = remote_identity(link.group_uri)
    channel = Channel.objects.get(guild=guild, name="general")
    return bob, guild, channel, host


def process(client, identity, payload: dict):
    from federation import handlers
    from federation.models import InboxItem
    from tests.federation.fixtures import post_signed

    assert post_signed(client, identity, payload).status_code == 202
    item = InboxItem.objects.get(activity_uri=payload["id"])
    handlers.process(item.id)
    item.refresh_from_db()
    return item


def test_a_member_thread_in_a_replica_goes_to_the_host_and_a_reject_takes_it_away(client, replica):
    bob, guild, channel, host = replica
    client.force_login(bob)
    base = f"/api/v1/channels/{channel.id}/messages"
    mid = client.post(base, {"content": "start"}, content_type="application/json").json()["id"]
    response = client.post(
        f"{base}/{mid}/threads", {"name": "Topic"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    tid = response.json()["id"]
    (create,) = [
        a.payload
        for a in Activity.objects.filter(type="Create")
        if a.payload["object"].get("type") == "Thread"
    ]
    assert create["actor"] == "http://127.0.0.1:8000/users/bob"
    assert create["to"] == [f"{REMOTE}/groups/{guild.id}"]
    obj = create["object"]
    assert (obj["threadId"], obj["messageId"], obj["channelId"], obj["name"]) == (
        tid,
        mid,
        str(channel.id),
        "Topic",
    )
    assert (
        Activity.objects.get(uri=create["id"]).deliveries.filter(inbox=f"{REMOTE}/inbox").exists()
    )
    # A Reject naming it from anyone but the guild's Group changes nothing.
    stranger = remote_identity(f"{REMOTE}/users/mallory")
    forged = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{REMOTE}/activities/forged-reject",
        "type": "Reject",
        "actor": stranger.uri,
        "object": {"id": create["id"], "type": "Create", "object": obj["id"]},
        "content": "no",
    }
    assert process(client, stranger, forged).state == "processed"
    assert Channel.objects.filter(id=int(tid)).exists()
    # The host refuses it: the thread shown while waiting goes, the starter loses its link.
    reject = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{REMOTE}/activities/reject-thread",
        "type": "Reject",
        "actor": host.uri,
        "object": {"id": create["id"], "type": "Create", "object": obj["id"]},
        "content": "Missing Permissions: CREATE_PUBLIC_THREADS",
    }
    item = process(client, host, reject)
    assert "refused thread" in item.detail, item.detail
    assert not Channel.objects.filter(id=int(tid)).exists()
    assert Message.objects.get(id=int(mid)).thread_id is None


def test_a_member_without_the_permission_is_refused_on_their_own_node_first(client, replica):
    bob, guild, channel, _ = replica
    carol = type(bob).objects.create_user("carol", password="pw-carol-123")
    from guilds.services.members import do_add_member

    do_add_member(guild, carol)
    message = Message.objects.create(channel=channel, author=bob, content="x", hlc=1)
    check_put_overwrite(bob, channel.id, guild.id, {"type": 0, "deny": str(CREATE_PUBLIC_THREADS)})
    client.force_login(carol)
    url = f"/api/v1/channels/{channel.id}/messages/{message.id}/threads"
    response = client.post(url, {"name": "T"}, content_type="application/json")
    assert response.status_code == 403 and "Missing Permissions" in response.json()["message"]
    assert not Channel.objects.filter(type=ChannelType.PUBLIC_THREAD).exists()
    assert not [a for a in Activity.objects.filter(type="Create") if "Thread" in str(a.payload)]


def test_the_host_state_links_the_starter_message_on_the_replica(make_user, settings):
    """What the host's GuildState says about a thread (its `message_id`) is applied: the
    replica's copy of the starter message points at the thread, like on the host."""
    alice = make_user("alice")
    guild = do_create_guild(alice, name="Harbour", icon=None, description="")
    channel = Channel.objects.get(guild=guild, name="general")
    message = Message.objects.create(channel=channel, author=alice, content="x", hlc=1)
    thread_row = Channel.objects.create(
        guild=guild, type=ChannelType.PUBLIC_THREAD, name="T", parent=channel
    )
    Message.objects.filter(id=message.id).update(thread=thread_row)
    doc = state(guild)
    assert [c["message_id"] for c in doc["channels"] if c.get("message_id")] == [str(message.id)]
    # Become the replica: the link is gone here, the host's state brings it back.
    Message.objects.filter(id=message.id).update(thread=None)
    group = group_uri(guild.id)
    GuildLink.objects.create(guild=guild, group_uri=group, domain="127.0.0.1:8000")
    with mirror.applying("127.0.0.1:8000"):
        mirror.apply_state(group, doc)
    assert Message.objects.get(id=message.id).thread_id == thread_row.id
