"""Concurrent reorders serialise on the guild row's lock and never corrupt positions.

Real threads need a database that takes row locks across connections: this runs on the
PostgreSQL run (`--ds=tests.settings_services`). SQLite takes its write lock at BEGIN
(`transaction_mode=IMMEDIATE`), which serialises writers by construction.
"""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection, connections

from accounts.models import User
from guilds.models import Channel, Role
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import roles as role_services

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)"),
]


def run_in_threads(work, count: int) -> list[BaseException]:
    failures: list[BaseException] = []
    barrier = threading.Barrier(count)

    def target(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return failures


def test_concurrent_channel_and_role_reorders_keep_dense_positions():
    owner = User.objects.create_user("racer", password="x" * 12)
    guild = guild_services.check_create_guild(owner, name="Race")
    category = Channel.objects.get(guild=guild, name="Text Channels")
    ids = [
        channel_services.check_create_channel(
            owner, guild.id, {"name": f"c{i}", "parent_id": str(category.id)}
        ).id
        for i in range(8)
    ]
    role_ids = [
        role_services.check_create_role(owner, guild.id, {"name": f"r{i}"}).id for i in range(6)
    ]

    def work(n: int) -> None:
        rng = random.Random(n)
        for _ in range(5):
            channel_services.check_reorder_channels(
                owner,
                guild.id,
                [
                    {"id": str(rng.choice(ids)), "position": rng.randrange(9)},
                    {"id": str(rng.choice(ids)), "position": rng.randrange(9)},
                ],
            )
            role_services.check_reorder_roles(
                owner,
                guild.id,
                [
                    {"id": str(rng.choice(role_ids)), "position": rng.randrange(1, 7)},
                ],
            )
            channel_services.check_create_channel(
                owner,
                guild.id,
                {
                    "name": f"t{n}",
                    "parent_id": str(category.id),
                    "position": rng.randrange(3),
                },
            )

    assert run_in_threads(work, 6) == []
    children = list(Channel.objects.filter(parent=category).values_list("position", flat=True))
    assert sorted(children) == list(range(len(children))) and len(children) == 9 + 30
    roles = sorted(Role.objects.filter(guild=guild).values_list("position", flat=True))
    assert roles == list(range(7))
