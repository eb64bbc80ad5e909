"""A webhook's post (no author row, a persona) reaches the nodes of a guild's remote members
like any message, and a replica shows it as the host does: the Group stands for the author,
the persona and the embeds travel in the Note, and the replica's row has no author either
(issue 27, item 3). In one process: the host's outbox, then the replica's inbox."""

from __future__ import annotations

import pytest

from bots import webhook_execute, webhooks
from federation.guildwire import group_uri
from federation.guildwire import note as note_of
from messaging.models import Message
from tests.federation import test_guilds as g
from tests.federation import test_mirror_events as m
from tests.federation.test_guilds import activity, join, sent

eve, hosted, _local_base = g.eve, g.hosted, g._local_base
commits = m.commits
pytestmark = pytest.mark.django_db

EMBED = {"title": "Deployed", "description": "to **prod**", "fields": [{"name": "a", "value": "b"}]}


def creates() -> list[dict]:
    return [
        a["object"]
        for a in sent("Announce")
        if isinstance(a.get("object"), dict) and a["object"].get("type") == "Create"
    ]


def test_the_host_announces_a_webhook_post_with_its_persona_and_embeds(client, eve, hosted):
    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    hook, token = webhooks.check_create_webhook(alice, channel.id, name="Deploy bot")
    webhook_execute.check_execute(
        hook.id, token, {"content": "shipped", "username": "CD", "embeds": [EMBED]}
    )
    (create,) = [c for c in creates() if c["object"].get("messageId")]
    obj = create["object"]
    assert create["actor"] == group_uri(guild.id) == obj["attributedTo"]
    assert obj["webhook"]["id"] == str(hook.id) and obj["webhook"]["name"] == "CD"
    assert obj["embeds"][0]["title"] == "Deployed"
    assert obj["source"]["content"] == "shipped"


def test_a_replica_shows_the_hosts_webhook_post_without_an_author(make_user, commits):
    owner = make_user("owner")
    guild, group = m.replica_guild(owner, commits)
    channel = guild.channels.get(name="general")
    before = set(Message.objects.values_list("id", flat=True))
    doc = m.note(4711, group, channel.id, "from the host's webhook")
    doc["webhook"] = {"id": "99", "name": "CD", "avatarUrl": "javascript:alert(1)"}
    doc["embeds"] = [EMBED]
    m.announce(group, activity("Create", doc, actor=group))
    message = Message.objects.get(id=4711)
    assert message.id not in before
    assert message.author is None and message.webhook_id == 99
    assert message.persona == {"username": "CD", "avatar_url": None}
    assert message.embeds == [EMBED]
    # No stray account was made for the Group the host put as the author.
    from accounts.models import User

    assert not User.objects.filter(remote_identity__actor_uri=group).exists()
    # The host's edit replaces content and embeds.
    edited = dict(doc, source={"content": "edited", "mediaType": "text/markdown"}, embeds=[])
    edited["edited"] = "2026-12-07T12:00:00+00:00"
    m.announce(group, activity("Update", edited, actor=group))
    message.refresh_from_db()
    assert (message.content, message.embeds) == ("edited", [])
    assert message.edited_at is not None
    # And the replica's own Note of it (a backfill to another node) says the same.
    assert note_of(message)["webhook"]["name"] == "CD"
