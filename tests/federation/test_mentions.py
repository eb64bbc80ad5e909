"""`@name@node` mentions: the same person on every node, resolved by each node to its own row
(its own user for its domain, the `name@node` account otherwise), so the mentioned person's
home node records the mention and their unread mention count."""

from __future__ import annotations

import pytest

from federation.guildwire import group_uri
from messaging.models import Message
from messaging.services.handles import handles_in
from messaging.services.readstates import read_states
from tests.federation.test_guilds import (  # noqa: F401  (fixtures)
    _local_base,
    activity,
    deliver,
    eve,
    hosted,
    join,
    note,
)

pytestmark = pytest.mark.django_db


def test_handles_are_found_where_a_person_wrote_them():
    text = "hi @carol@c.example. and @bob@127.0.0.1:8000, not mail@x@y.org or `@a`"
    assert handles_in(text) == [("carol", "c.example"), ("bob", "127.0.0.1:8000")]
    assert handles_in("@everyone and <@123>") == []


def test_a_member_of_another_node_mentions_a_local_member_by_handle(client, eve, hosted):  # noqa: F811
    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    text = "look @alice@127.0.0.1:8000 and @eve@remote.example, not @zed@127.0.0.1:8000"
    item = deliver(
        client, eve, activity("Create", note(channel, 5151, text), to=[group_uri(guild.id)])
    )
    assert item.state == "processed", item.detail
    mentioned = set(Message.objects.get(id=5151).mentions.values_list("username", flat=True))
    assert mentioned == {"alice", "eve@remote.example"}
    (state,) = [s for s in read_states(alice, [channel]) if s["id"] == str(channel.id)]
    assert state["mention_count"] == 1 and state["unread"]


def test_a_local_member_mentions_a_member_of_another_node(client, eve, hosted):  # noqa: F811
    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    client.force_login(alice)
    sent = client.post(
        f"/api/v1/channels/{channel.id}/messages",
        {"content": "welcome @eve@remote.example!"},
        content_type="application/json",
    )
    assert sent.status_code == 200, sent.content
    assert [u["username"] for u in sent.json()["mentions"]] == ["eve@remote.example"]
