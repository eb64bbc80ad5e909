"""Real aiortc clients through a real voice worker process on 127.0.0.1: each sends a tone,
each must hear the others' tones (FFT) and never its own; mute, server mute, a missing SPEAK
permission and a full channel are enforced by the worker and the services."""

from __future__ import annotations

import time

import pytest

from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import members as member_services
from guilds.services import overwrites as overwrite_services
from guilds.services import roles as role_services
from tests.voice.clients import VoiceClient
from united.errors import Forbidden
from voice import services
from voice.models import VoiceState

pytestmark = pytest.mark.django_db

TONES = {"alice": 440.0, "bob": 880.0, "carol": 1320.0, "dave": 1760.0}


def join(loop, guild, channel, user, name, clients):
    offer = services.check_join(user, guild.id, channel.id)
    client = VoiceClient(TONES[name])
    clients[name] = client
    sdp = loop.run(client.answer(offer))
    services.check_answer(user, guild.id, sdp)
    return offer


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def nearest(frequency: float) -> float:
    return min(TONES.values(), key=lambda tone: abs(tone - frequency))


def heard(loop, clients, names, slots, settle=1.5):
    """name → set of tones (rounded Hz) heard during a fresh window of `settle` seconds."""
    time.sleep(0.3)  # what was in flight before the change drains
    for name in names:
        clients[name].clear()
    time.sleep(settle)
    out = {}
    for name in names:
        by_slot = clients[name].heard()
        out[name] = {nearest(freqs[0]) for freqs in by_slot.values()}
        for slot, freqs in by_slot.items():
            # Every tone arrives on the slot of the member who sent it (and only there).
            assert nearest(freqs[0]) == TONES[slots[slot]], (name, slot, freqs)
            assert abs(freqs[0] - TONES[slots[slot]]) < 60, (name, slot, freqs)
    return out


def test_three_members_hear_each_other_not_themselves_mute_and_server_mute(
    room, client_loop, voice_worker
):
    guild, channel, users = room
    clients: dict[str, VoiceClient] = {}
    try:
        for name in ("alice", "bob", "carol"):
            join(client_loop, guild, channel, users[name], name, clients)
        slots = {s.slot: s.user.username for s in VoiceState.objects.select_related("user")}
        everyone = ("alice", "bob", "carol")
        wait_for(lambda: all(len(clients[n].heard()) == 2 for n in everyone))
        got = heard(client_loop, clients, everyone, slots)
        assert got == {"alice": {880, 1320}, "bob": {440, 1320}, "carol": {440, 880}}

        # Self mute: the worker stops forwarding bob at once.
        services.check_self_update(users["bob"], guild.id, self_mute=True, self_deaf=False)
        got = heard(client_loop, clients, everyone, slots)
        assert got == {"alice": {1320}, "bob": {440, 1320}, "carol": {440}}
        services.check_self_update(users["bob"], guild.id, self_mute=False, self_deaf=False)

        # Server mute by a moderator (the owner): carol is silenced although she sends.
        services.check_moderate(users["alice"], guild.id, users["carol"].id, {"mute": True})
        assert VoiceState.objects.get(user=users["carol"]).mute is True
        got = heard(client_loop, clients, everyone, slots)
        assert got == {"alice": {880}, "bob": {440}, "carol": {440, 880}}

        # bob may not server-mute anyone: no MUTE_MEMBERS.
        with pytest.raises(Forbidden):
            services.check_moderate(users["bob"], guild.id, users["alice"].id, {"mute": True})

        # The channel holds 3: dave is refused while it is full.
        with pytest.raises(Forbidden) as full:
            services.check_join(users["dave"], guild.id, channel.id)
        assert full.value.code == services.CHANNEL_FULL

        # Server deafen: alice hears nothing more, the others still hear her.
        services.check_moderate(users["alice"], guild.id, users["carol"].id, {"mute": False})
        services.check_moderate(users["alice"], guild.id, users["alice"].id, {"deaf": True})
        got = heard(client_loop, clients, everyone, slots)
        assert got == {"alice": set(), "bob": {440, 1320}, "carol": {440, 880}}

        stats = voice_worker_stats()
        assert stats["rooms"] == 1 and stats["participants"] == 3
        assert stats["packets_in"] > 0 and stats["packets_out"] > 0
    finally:
        for client in clients.values():
            client_loop.run(client.close())
        for state in VoiceState.objects.all():
            services.do_leave(state)


def voice_worker_stats():
    from voice import rpc

    return rpc.call("stats")


def test_a_member_without_speak_is_heard_by_nobody(room, client_loop):
    guild, channel, users = room
    owner = users["alice"]
    quiet = role_services.check_create_role(owner, guild.id, {"name": "quiet"})
    member_services.check_member_role(owner, guild.id, users["dave"].id, quiet.id, add=True)
    overwrite_services.check_put_overwrite(
        owner, channel.id, quiet.id, {"type": 0, "deny": str(int(P.SPEAK))}
    )
    clients: dict[str, VoiceClient] = {}
    try:
        join(client_loop, guild, channel, users["dave"], "dave", clients)
        join(client_loop, guild, channel, users["bob"], "bob", clients)
        assert VoiceState.objects.get(user=users["dave"]).suppress is True
        slots = {s.slot: s.user.username for s in VoiceState.objects.select_related("user")}
        wait_for(lambda: len(clients["dave"].heard()) == 1)  # dave hears bob ...
        got = heard(client_loop, clients, ("bob", "dave"), slots)
        assert got == {"bob": set(), "dave": {880}}  # ... bob hears nothing of dave
    finally:
        for client in clients.values():
            client_loop.run(client.close())
        for state in VoiceState.objects.all():
            services.do_leave(state)


def test_connect_is_required_and_text_channels_are_refused(room):
    guild, channel, users = room
    owner = users["alice"]
    text = channel_services.check_create_channel(owner, guild.id, {"name": "chat", "type": 0})
    from united.errors import Invalid

    with pytest.raises(Invalid):
        services.check_join(users["bob"], guild.id, text.id)
    barred = role_services.check_create_role(owner, guild.id, {"name": "barred"})
    member_services.check_member_role(owner, guild.id, users["bob"].id, barred.id, add=True)
    overwrite_services.check_put_overwrite(
        owner, channel.id, barred.id, {"type": 0, "deny": str(int(P.CONNECT))}
    )
    with pytest.raises(Forbidden):
        services.check_join(users["bob"], guild.id, channel.id)
    assert not VoiceState.objects.exists()
