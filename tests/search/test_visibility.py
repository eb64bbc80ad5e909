"""Search asks messaging which channels a member may read (`readable_channels`), the same
answer history reads give, and assumes nothing else about the guild: the contract that lets
a remote guild's messages held on a member's home node be searched (docs/search.md)."""

from __future__ import annotations

import pytest
from django.db import transaction

from guilds.models import Channel, ChannelType
from guilds.permissions import Permissions as P
from guilds.services import overwrites as overwrite_services
from messaging.models import Message
from messaging.search.indexing import note_change
from messaging.services import messages
from messaging.services.access import access_text_channel, can_read_history, readable_channels
from united.errors import APIError, NotFound

pytestmark = pytest.mark.django_db


def history_readable(user, channel: Channel) -> bool:
    try:
        return can_read_history(access_text_channel(user, channel.id))
    except APIError:
        return False


def test_readable_channels_is_exactly_what_history_reads_allow(world, send):
    general_thread = messages.check_start_thread(
        world.alice, world.general.id, send(world.alice, world.general, "a").id, name="g"
    )
    secret_thread = messages.check_start_thread(
        world.alice, world.secret.id, send(world.alice, world.secret, "b").id, name="s"
    )
    lobby_thread = messages.check_start_thread(
        world.alice, world.lobby.id, send(world.alice, world.lobby, "c").id, name="l"
    )
    # bob is let into #secret by a member overwrite, then denied #general's history
    overwrite_services.check_put_overwrite(
        world.alice, world.lobby.id, world.bob.id, {"type": 1, "deny": str(int(P.VIEW_CHANNEL))}
    )
    overwrite_services.check_put_overwrite(
        world.alice,
        world.general.id,
        world.bob.id,
        {"type": 1, "deny": str(int(P.READ_MESSAGE_HISTORY))},
    )
    channels = list(Channel.objects.filter(guild=world.guild))
    assert {c.type for c in channels} >= {
        ChannelType.GUILD_TEXT,
        ChannelType.GUILD_VOICE,
        ChannelType.GUILD_CATEGORY,
        ChannelType.PUBLIC_THREAD,
    }
    for user in (world.alice, world.bob, world.carol):
        expected = {c.id for c in channels if history_readable(user, c)}
        assert set(readable_channels(user, world.guild.id)) == expected, user.username
    assert set(readable_channels(world.carol, world.guild.id)) == {
        world.guild.default_channel_id,  # the guild's own #general
        world.general.id,
        general_thread.id,
    }
    assert secret_thread.id in readable_channels(world.bob, world.guild.id)
    assert lobby_thread.id not in readable_channels(world.bob, world.guild.id)


def test_non_members_are_refused_like_everywhere_else(world, make_user):
    with pytest.raises(NotFound):
        readable_channels(make_user("mallory"), world.guild.id)


def test_messages_the_node_holds_but_did_not_see_sent_here_are_searchable(
    world, make_user, index, find
):
    """A copy of a message written elsewhere (as Federation II stores a remote guild's
    messages on a member's home node): its author is no member here and it never went through
    check_send_message. Storing it with `note_change` in the same transaction is all it takes;
    who may find it is messaging's `readable_channels`, as for any message."""
    remote_author = make_user("dana@a.example")

    def hold(channel: Channel, content: str) -> Message:
        with transaction.atomic():
            message = Message.objects.create(
                channel=channel, author=remote_author, content=content, hlc=1, hlc_node="a.example"
            )
            note_change(message)
        return message

    public = hold(world.general, "federated hello from afar")
    hidden = hold(world.secret, "federated secret from afar")
    index()
    assert {g[0]["id"] for g in find(world.alice, "federated")["messages"]} == {
        str(public.id),
        str(hidden.id),
    }
    carol = find(world.carol, "federated")
    assert carol["total_results"] == 1 and carol["messages"][0][0]["id"] == str(public.id)
    by_author = find(world.alice, "from:dana@a.example")
    assert by_author["total_results"] == 2
