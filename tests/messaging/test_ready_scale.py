"""READY for a member of many guilds: a fixed number of queries, and exactly what the
per-guild path (guild_context + guild_payload, what GUILD_CREATE sends) shows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guilds.permissions import P
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import overwrites as overwrite_services
from guilds.services import roles as role_services
from guilds.services.access import guild_context
from messaging.gateway import ready_state
from messaging.services.messages import check_send_message
from united import events

pytestmark = pytest.mark.django_db(transaction=True)


def add_guilds(owner, member, count: int, start: int = 0) -> list:
    """`count` guilds of `owner` that `member` joined, each with: a role the member holds,
    a channel hidden from @everyone but opened to that role, one hidden from everyone but
    the owner, one opened to the member alone, and a message mentioning the member."""
    made = []
    for n in range(start, start + count):
        guild = guild_services.check_create_guild(owner, name=f"Guild {n}")
        member_services.do_add_member(guild, member)
        role = role_services.check_create_role(owner, guild.id, {"name": "crew"})
        member_services.check_member_role(owner, guild.id, member.id, role.id, add=True)
        crew = channel_services.check_create_channel(owner, guild.id, {"name": "crew", "type": 0})
        secret = channel_services.check_create_channel(
            owner, guild.id, {"name": "secret", "type": 0}
        )
        mine = channel_services.check_create_channel(owner, guild.id, {"name": "mine", "type": 0})
        hide = {"type": 0, "deny": str(int(P.VIEW_CHANNEL))}
        for channel in (crew, secret, mine):
            overwrite_services.check_put_overwrite(owner, channel.id, guild.id, hide)
        show = {"allow": str(int(P.VIEW_CHANNEL))}
        overwrite_services.check_put_overwrite(owner, crew.id, role.id, {"type": 0, **show})
        overwrite_services.check_put_overwrite(owner, mine.id, member.id, {"type": 1, **show})
        check_send_message(owner, crew.id, content=f"<@{member.id}> look")
        check_send_message(owner, secret.id, content=f"<@{member.id}> you cannot see this")
        made.append((guild, crew, secret, mine))
    return made


def ready_queries(user) -> int:
    with CaptureQueriesContext(connection) as queries:
        ready_state(user, "s1")
    return len(queries)


def test_ready_costs_the_same_queries_for_3_and_30_guilds(make_user):
    owner, member = make_user("alice"), make_user("bob")
    add_guilds(owner, member, 3)
    few = ready_queries(member)
    add_guilds(owner, member, 27, start=3)
    many = ready_queries(member)
    ready, _groups = ready_state(member, "s2")
    assert len(ready["guilds"]) == 30
    assert many == few, f"READY took {few} queries with 3 guilds and {many} with 30"
    assert many <= 20


def test_ready_shows_what_guild_create_shows_and_no_hidden_channel(make_user):
    owner, member = make_user("alice"), make_user("bob")
    made = add_guilds(owner, member, 3)
    ready, groups = ready_state(member, "s1")

    # The batched payload is the per-guild one, guild for guild.
    expected = [guild_services.guild_payload(guild_context(member, guild.id)) for guild, *_ in made]
    assert ready["guilds"] == expected
    for (guild, crew, secret, mine), payload in zip(made, ready["guilds"], strict=True):
        ids = {int(c["id"]) for c in payload["channels"]}
        assert {crew.id, mine.id} <= ids
        assert secret.id not in ids
        assert payload["member_count"] == 2
        assert events.guild_group(guild.id) in groups

    states = {s["id"]: s for s in ready["read_state"]}
    for _guild, crew, secret, _mine in made:
        assert states[str(crew.id)]["unread"] is True
        assert states[str(crew.id)]["mention_count"] == 1
        # A channel the member may not see has no read state either.
        assert str(secret.id) not in states


def test_ready_leaves_out_suspended_guilds(make_user):
    from moderation.services.operators import do_suspend_guild

    owner, member = make_user("alice"), make_user("bob")
    operator = make_user("root", is_superuser=True, is_staff=True)
    made = add_guilds(owner, member, 2)
    do_suspend_guild(operator, made[0][0], reason="spam")
    ready, _groups = ready_state(member, "s1")
    assert [g["id"] for g in ready["guilds"]] == [str(made[1][0].id)]
