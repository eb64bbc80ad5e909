"""Voice capacity is decided atomically: two members who ask for the last place of a channel at
the same moment, from two threads with their own database connections, never both get it. The
loser hears the channel is full (403, 90301), the same answer as a later arrival. Run in both
modes: SQLite serialises the two transactions (IMMEDIATE), PostgreSQL on the channel's row lock
(`--ds=tests.settings_services`)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from united.errors import APIError
from voice import services
from voice.models import VoiceState

pytestmark = pytest.mark.django_db(transaction=True)


def race(guild, channel, contenders) -> dict[str, object]:
    """Each contender joins at the barrier, in its own thread; name → True or the error."""
    barrier = threading.Barrier(len(contenders))
    results: dict[str, object] = {}

    def run(name, user) -> None:
        try:
            barrier.wait(10)
            services.check_join(user, guild.id, channel.id)
            results[name] = True
        except APIError as error:
            results[name] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in contenders.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_members_racing_for_the_last_place_exactly_one_gets_in(room, voice_worker):
    guild, channel, users = room  # the channel holds 3
    for name in ("alice", "bob"):
        services.check_join(users[name], guild.id, channel.id)
    try:
        for _round in range(4):
            results = race(guild, channel, {"carol": users["carol"], "dave": users["dave"]})
            winners = [name for name, result in results.items() if result is True]
            assert len(winners) == 1, results
            (loser,) = set(results) - set(winners)
            error = results[loser]
            assert isinstance(error, APIError)
            assert (error.status, error.code) == (403, services.CHANNEL_FULL), error.body()
            in_channel = set(
                VoiceState.objects.filter(channel=channel).values_list("user__username", flat=True)
            )
            assert in_channel == {"alice", "bob", winners[0]}
            # The worker agrees: three in its room.
            assert services.rpc.call("stats")["participants"] == 3
            services.do_leave(VoiceState.objects.get(user=users[winners[0]]))
    finally:
        for state in VoiceState.objects.all():
            services.do_leave(state)
