"""Moderator actions and timeouts against a real worker: a timeout silences a member in voice,
the REST API refuses what it must with Discord-shaped errors, the admin acts as the operator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from guilds.services import channels as channel_services
from moderation.models import MemberTimeout
from moderation.services import sanctions, timeouts
from tests.voice.clients import VoiceClient
from tests.voice.test_forwarding import heard, join, wait_for
from voice import services
from voice.models import VoiceState

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_timeout_silences_a_member_in_voice_until_lifted(
    room, client_loop, django_capture_on_commit_callbacks
):
    guild, channel, users = room
    clients: dict[str, VoiceClient] = {}
    try:
        join(client_loop, guild, channel, users["alice"], "alice", clients)
        join(client_loop, guild, channel, users["bob"], "bob", clients)
        slots = {s.slot: s.user.username for s in VoiceState.objects.select_related("user")}
        wait_for(lambda: len(clients["alice"].heard()) == 1)
        with django_capture_on_commit_callbacks(execute=True):
            until = timezone.now() + timedelta(hours=1)
            timeouts.check_timeout(users["alice"], guild.id, users["bob"].id, until)
        assert VoiceState.objects.get(user=users["bob"]).suppress is True
        assert heard(client_loop, clients, ("alice",), slots) == {"alice": set()}
        with django_capture_on_commit_callbacks(execute=True):
            timeouts.check_timeout(users["alice"], guild.id, users["bob"].id, None)
        assert VoiceState.objects.get(user=users["bob"]).suppress is False
        assert heard(client_loop, clients, ("alice",), slots) == {"alice": {880.0}}
    finally:
        for client in clients.values():
            client_loop.run(client.close())
        for state in VoiceState.objects.all():
            services.do_leave(state)


def test_an_expired_timeout_lets_the_member_speak_again(
    room, client_loop, django_capture_on_commit_callbacks
):
    """The expiry sweep is moderation's; voice hears of it only through the member's
    GUILD_MEMBER_UPDATE (it observes events, moderation does not call it)."""
    guild, channel, users = room
    clients: dict[str, VoiceClient] = {}
    try:
        join(client_loop, guild, channel, users["alice"], "alice", clients)
        join(client_loop, guild, channel, users["bob"], "bob", clients)
        slots = {s.slot: s.user.username for s in VoiceState.objects.select_related("user")}
        wait_for(lambda: len(clients["alice"].heard()) == 1)
        with django_capture_on_commit_callbacks(execute=True):
            until = timezone.now() + timedelta(hours=1)
            timeouts.check_timeout(users["alice"], guild.id, users["bob"].id, until)
        assert VoiceState.objects.get(user=users["bob"]).suppress is True
        MemberTimeout.objects.filter(user=users["bob"]).update(
            until=timezone.now() - timedelta(seconds=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert sanctions.expire_sanctions() == 1
        assert VoiceState.objects.get(user=users["bob"]).suppress is False
        assert heard(client_loop, clients, ("alice",), slots) == {"alice": {880.0}}
    finally:
        for client in clients.values():
            client_loop.run(client.close())
        for state in VoiceState.objects.all():
            services.do_leave(state)


def test_the_api_moves_and_disconnects_and_refuses_with_clear_errors(room):
    guild, channel, users = room
    other = channel_services.check_create_channel(
        users["alice"], guild.id, {"name": "Other", "type": 2}
    )
    url = f"/api/v1/guilds/{guild.id}/voice-states/{users['bob'].id}"
    # Not connected: 404 with Discord's code.
    response = api(users["alice"]).patch(url, {"mute": True}, format="json")
    assert response.status_code == 404 and response.json()["code"] == 40032
    services.check_join(users["bob"], guild.id, channel.id)
    try:
        listing = api(users["carol"]).get(f"/api/v1/guilds/{guild.id}/voice-states").json()
        assert [(s["user_id"], s["channel_id"]) for s in listing] == [
            (str(users["bob"].id), str(channel.id))
        ]
        # A member without MUTE_MEMBERS / MOVE_MEMBERS: 403, nothing changes.
        response = api(users["carol"]).patch(url, {"mute": True}, format="json")
        assert response.status_code == 403 and response.json()["code"] == 50013
        response = api(users["carol"]).patch(url, {"channel_id": None}, format="json")
        assert response.status_code == 403
        # A bad body: 400 with the field named.
        response = api(users["alice"]).patch(url, {"mute": "yes"}, format="json")
        assert response.status_code == 400 and "mute" in response.json()["errors"]
        response = api(users["alice"]).patch(url, {"channel_id": "nope"}, format="json")
        assert response.status_code == 400
        assert VoiceState.objects.get(user=users["bob"]).mute is False
        # Move: the state follows, the member's sessions are told to reconnect there.
        response = api(users["alice"]).patch(url, {"channel_id": str(other.id)}, format="json")
        assert response.status_code == 200 and response.json()["channel_id"] == str(other.id)
        assert VoiceState.objects.get(user=users["bob"]).channel_id == other.id
        # Disconnect.
        response = api(users["alice"]).patch(url, {"channel_id": None}, format="json")
        assert response.status_code == 200 and response.json()["channel_id"] is None
        assert not VoiceState.objects.filter(user=users["bob"]).exists()
        from moderation.models import AuditLogEntry
        from united.audit import AuditLogEvent

        kinds = set(AuditLogEntry.objects.values_list("action_type", flat=True))
        assert {AuditLogEvent.MEMBER_MOVE, AuditLogEvent.MEMBER_DISCONNECT} <= kinds
    finally:
        for state in VoiceState.objects.all():
            services.do_leave(state)


def test_the_operator_server_mutes_from_the_admin(room, make_user, client):
    guild, channel, users = room
    operator = make_user("root", is_staff=True, is_superuser=True)
    services.check_join(users["bob"], guild.id, channel.id)
    try:
        state = VoiceState.objects.get(user=users["bob"])
        client.force_login(operator)
        response = client.post(
            "/admin/voice/voicestate/",
            {"action": "server_mute", "_selected_action": [state.pk]},
        )
        assert response.status_code == 302
        assert VoiceState.objects.get(user=users["bob"]).mute is True
    finally:
        for state in VoiceState.objects.all():
            services.do_leave(state)
