"""Unblocking a node: its people get their memberships back (no rejoining) and what they
missed is on its way at once, not at the next ten-minute sync (issue 21, item 6)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from federation import delivery, handlers, policy
from federation.guildwire import group_uri
from federation.models import (
    Delivery,
    GuildLink,
    InboxItem,
    RemoteNode,
    SuspendedMembership,
)
from guilds.models import Channel, Member
from guilds.services.guilds import do_create_guild
from guilds.services.invites import check_create_invite
from guilds.services.members import check_member_role
from guilds.services.roles import check_create_role
from jobs.models import Job
from jobs.services import run_job
from messaging.services.messages import check_send_message
from tests.federation.fixtures import Recorder, post_signed, remote_identity

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_base(settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]


@pytest.fixture
def peer():
    """Eve's node: a foreign server on loopback that serves her actor and records POSTs."""
    server = Recorder().start()
    eve = remote_identity(f"{server.base}/users/eve")
    server.routes["/users/eve"] = (200, {}, json.dumps(eve.document()).encode())
    yield server, eve
    server.stop()


def due_job(name: str) -> Job:
    (job,) = Job.objects.filter(name=name, state="queued")
    assert job.run_at <= timezone.now()  # runs now, not at a later tick
    return job


def states_received(server: Recorder) -> list[dict]:
    found = []
    for _, _, body in server.received:
        activity = json.loads(body)
        if activity["type"] == "Update" and activity["object"].get("type") == "GuildState":
            found.append(activity["object"])
    return found


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run what waits for a commit (state sends, job announcements) as a real commit would:
    the test's own transaction never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def joined(client, make_user, peer, commits):
    server, eve = peer
    alice = make_user("alice")
    guild = do_create_guild(alice, name="Harbour", icon=None, description="")
    channel = Channel.objects.get(guild=guild, name="general")
    invite = check_create_invite(alice, channel.id, {"max_age": 0})
    join = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{server.base}/activities/1",
        "type": "Follow",
        "actor": eve.uri,
        "object": group_uri(guild.id),
        "inviteCode": invite.code,
    }
    assert post_signed(client, eve, join).status_code == 202
    with commits():
        handlers.process(InboxItem.objects.get().id)
    remote_eve = Member.objects.get(guild=guild, user__remote_identity__actor_uri=eve.uri).user
    with commits():
        crew = check_create_role(alice, guild.id, {"name": "crew"})
        check_member_role(alice, guild.id, remote_eve.id, crew.id, add=True)
    node = RemoteNode.objects.get(domain=server.base.removeprefix("http://"))
    delivery.deliver_to_node(node.id)
    return alice, guild, channel, remote_eve, crew, node


def test_unblocking_gives_memberships_back_and_sends_the_guild_at_once(
    client, make_user, peer, commits
):
    server, eve = peer
    alice, guild, channel, remote_eve, crew, node = joined(client, make_user, peer, commits)
    with commits():
        policy.do_block_node(node, "a misunderstanding")
    assert not Member.objects.filter(guild=guild, user=remote_eve).exists()
    assert SuspendedMembership.objects.get(user=remote_eve).role_ids == [crew.id]
    with commits():
        check_send_message(alice, channel.id, content="while you were away")
    server.received.clear()

    with commits():
        policy.do_unblock_node(RemoteNode.objects.get(id=node.id))
        run_job(due_job("federation.resume_node").id)
    member = Member.objects.get(guild=guild, user=remote_eve)  # no rejoining
    assert list(member.roles.values_list("id", flat=True)) == [crew.id]
    assert not SuspendedMembership.objects.exists()
    # The guild's state goes to Eve's node now: due at once, sent on the first try.
    pending = Delivery.objects.filter(state="pending", node=node)
    assert pending.exists() and all(d.next_attempt_at <= timezone.now() for d in pending)
    delivery.deliver_to_node(node.id)
    (state,) = states_received(server)
    (listed,) = [m for m in state["members"] if m["actor"] == eve.uri]
    assert listed["roles"] == [str(crew.id)]


def test_a_member_banned_while_blocked_is_not_given_back(client, make_user, peer, commits):
    from moderation.services.sanctions import do_ban

    alice, guild, _, remote_eve, _, node = joined(client, make_user, peer, commits)
    policy.do_block_node(node)
    do_ban(guild, alice, remote_eve, "spam")
    policy.do_unblock_node(RemoteNode.objects.get(id=node.id))
    run_job(due_job("federation.resume_node").id)
    assert not Member.objects.filter(guild=guild, user=remote_eve).exists()


def test_a_replica_back_fills_when_its_host_speaks_after_a_silence(make_user, commits):
    from federation import mirror
    from federation.models import RemoteActor

    bob = make_user("bob")
    guild = do_create_guild(bob, name="Far", icon=None, description="")
    link = GuildLink.objects.create(
        guild=guild, group_uri="https://far.example/groups/1", domain="far.example"
    )
    group = remote_identity(link.group_uri)
    actor = RemoteActor.objects.get(uri=group.uri)
    item = InboxItem(payload={}, activity_uri="x")
    announce = {"type": "Announce", "object": {"type": "Listen"}}

    GuildLink.objects.filter(id=link.id).update(
        last_heard_at=timezone.now() - timedelta(seconds=30)
    )
    with commits():
        mirror.handle(item, announce, actor)
    assert not Job.objects.filter(name="federation.sync_guild").exists()  # recently heard

    GuildLink.objects.filter(id=link.id).update(last_heard_at=timezone.now() - timedelta(minutes=5))
    with commits():
        mirror.handle(item, announce, actor)
    due_job("federation.sync_guild")


def test_unblocking_a_host_back_fills_our_replicas_of_its_guilds_at_once(make_user, commits):
    bob = make_user("bob")
    guild = do_create_guild(bob, name="Far", icon=None, description="")
    GuildLink.objects.create(
        guild=guild, group_uri="https://far.example/groups/1", domain="far.example"
    )
    node = RemoteNode.objects.create(domain="far.example")
    policy.do_block_node(node)
    with commits():
        policy.do_unblock_node(node)
        run_job(due_job("federation.resume_node").id)
    due_job("federation.sync_guild")  # now, not at the next ten-minute periodic sync
