"""Property test: any sequence of reorders, moves, creates and deletes leaves every sibling
group of channels and the role list densely numbered (a permutation)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guilds.models import Channel, ChannelType, Role
from guilds.services import channels as channel_services
from guilds.services import roles as role_services

pytestmark = pytest.mark.django_db

ops = st.lists(
    st.one_of(
        st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 12), st.booleans()),
        st.tuples(st.just("create"), st.integers(0, 12), st.booleans(), st.booleans()),
        st.tuples(st.just("delete"), st.integers(0, 30), st.booleans(), st.booleans()),
        st.tuples(st.just("role"), st.integers(0, 30), st.integers(1, 12), st.booleans()),
    ),
    max_size=12,
)


def assert_dense(guild):
    groups = defaultdict(list)
    for parent_id, position in Channel.objects.filter(guild=guild).values_list(
        "parent_id", "position"
    ):
        groups[parent_id].append(position)
    for positions in groups.values():
        assert sorted(positions) == list(range(len(positions)))
    positions = sorted(Role.objects.filter(guild=guild).values_list("position", flat=True))
    assert positions == list(range(len(positions)))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops)
def test_positions_stay_dense(guild, owner, steps):
    for kind, a, b, c in steps:
        channels = list(Channel.objects.filter(guild=guild).order_by("id"))
        categories = [ch for ch in channels if ch.type == ChannelType.GUILD_CATEGORY]
        if kind == "move" and channels:
            channel = channels[a % len(channels)]
            item = {"id": str(channel.id), "position": b}
            if c and channel.type != ChannelType.GUILD_CATEGORY and categories:
                item["parent_id"] = str(categories[b % len(categories)].id)
            channel_services.check_reorder_channels(owner, guild.id, [item])
        elif kind == "create":
            data = {"name": f"n{a}", "position": a}
            if b and categories:
                data["parent_id"] = str(categories[a % len(categories)].id)
            if c:
                data = {"name": f"cat{a}", "type": 4}
            channel_services.check_create_channel(owner, guild.id, data)
        elif kind == "delete" and len(channels) > 2:
            channel_services.check_delete_channel(owner, channels[a % len(channels)].id)
        elif kind == "role":
            roles = list(Role.objects.filter(guild=guild).exclude(id=guild.id))
            if c or not roles:
                role_services.check_create_role(owner, guild.id, {"name": f"r{a}"})
            else:
                role = roles[a % len(roles)]
                role_services.check_reorder_roles(
                    owner, guild.id, [{"id": str(role.id), "position": b}]
                )
        assert_dense(guild)
