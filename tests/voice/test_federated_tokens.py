"""Federated voice in one process: who gets a voice token on the hosting node, and every
way a token is refused (forged, expired, replayed, from an ended session) with a clear error;
the HTTP doors answer in the API's error shape. The two-node path is test_federated_live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from federation import voice as federated
from federation.models import RemoteUser
from guilds.permissions import Permissions as P
from guilds.services import members as member_services
from guilds.services import overwrites as overwrite_services
from united.errors import Forbidden, NotFound, RateLimited
from voice.models import VoiceGrant, VoiceState

pytestmark = pytest.mark.django_db
BOB = "https://b.example/users/bob"


@pytest.fixture
def remote_bob(room, make_user):
    guild, channel, users = room
    shadow = make_user("bob@b.example")
    RemoteUser.objects.create(user=shadow, actor_uri=BOB, domain="b.example")
    member_services.do_add_member(guild, shadow)
    return shadow


def test_a_member_of_another_node_gets_a_token_bound_to_guild_channel_and_member(room, remote_bob):
    guild, channel, users = room
    minted = federated.check_mint(BOB, guild.id, {"channel_id": str(channel.id)})
    assert minted["endpoint"].endswith("/voice/signal")
    grant = VoiceGrant.objects.get()
    bound = (grant.guild_id, grant.channel_id, grant.user_id)
    assert bound == (guild.id, channel.id, remote_bob.id)
    assert minted["token"] not in grant.digest  # only its hash is stored
    assert grant.expires_at <= timezone.now() + timedelta(seconds=federated.TOKEN_TTL)


def test_no_token_without_membership_or_connect(room, remote_bob):
    guild, channel, users = room
    with pytest.raises(NotFound) as stranger:
        federated.check_mint("https://b.example/users/eve", guild.id, {"channel_id": channel.id})
    assert stranger.value.code == 10007
    overwrite_services.check_put_overwrite(
        users["alice"], channel.id, remote_bob.id, {"type": 1, "deny": str(int(P.CONNECT))}
    )
    with pytest.raises(Forbidden) as barred:
        federated.check_mint(BOB, guild.id, {"channel_id": channel.id})
    assert barred.value.code == 50013
    assert not VoiceGrant.objects.exists()


def test_forged_expired_and_ended_tokens_are_refused(room, remote_bob):
    guild, channel, users = room
    with pytest.raises(federated.TokenRefused) as forged:
        federated.check_signal({"token": "x" * 43, "op": "join"})
    assert (forged.value.status, forged.value.code) == (401, federated.TOKEN_UNKNOWN)

    token = federated.check_mint(BOB, guild.id, {"channel_id": channel.id})["token"]
    VoiceGrant.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(federated.TokenRefused) as expired:
        federated.check_signal({"token": token, "op": "join"})
    assert expired.value.code == federated.TOKEN_EXPIRED
    assert "expired" in expired.value.message

    # A token that never joined opens no session: answer/update/leave are refused.
    with pytest.raises(federated.TokenRefused) as ended:
        federated.check_signal({"token": token, "op": "answer", "sdp": "v=0"})
    assert ended.value.code == federated.SESSION_ENDED
    assert not VoiceState.objects.exists()


def test_a_token_joins_once_and_dies_with_its_session(room, remote_bob, client_loop):
    guild, channel, users = room
    token = federated.check_mint(BOB, guild.id, {"channel_id": channel.id})["token"]
    offer = federated.check_signal({"token": token, "op": "join", "self_mute": True})
    try:
        assert offer["sdp"].startswith("v=0") and offer["session_id"].startswith("fed-")
        mine = [s for s in offer["voice_states"] if s["actor"] == BOB]
        assert mine and mine[0]["channelId"] == str(channel.id) and mine[0]["selfMute"] is True
        with pytest.raises(federated.TokenRefused) as replay:
            federated.check_signal({"token": token, "op": "join"})
        assert replay.value.code == federated.TOKEN_USED
        federated.check_signal({"token": token, "op": "update", "self_mute": False})
        assert VoiceState.objects.get(user=remote_bob).self_mute is False

        # A second join (a new token) ends the first token's session.
        newer = federated.check_mint(BOB, guild.id, {"channel_id": channel.id})["token"]
        federated.check_signal({"token": newer, "op": "join"})
        with pytest.raises(federated.TokenRefused) as stale:
            federated.check_signal({"token": token, "op": "leave"})
        assert stale.value.code == federated.SESSION_ENDED
        federated.check_signal({"token": newer, "op": "leave"})
        assert not VoiceState.objects.filter(user=remote_bob).exists()
    finally:
        for state in VoiceState.objects.all():
            from voice import services

            services.do_leave(state)


def test_the_http_doors_answer_in_the_api_error_shape(room, client):
    guild, channel, users = room
    response = client.post(
        "/voice/signal", {"token": "forged-token-0123456789", "op": "join"}, "application/json"
    )
    assert response.status_code == 401
    assert response.json()["code"] == federated.TOKEN_UNKNOWN
    response = client.post("/voice/signal", b"not json", "application/json")
    assert response.status_code == 400 and response.json()["code"] == 50109
    response = client.post("/voice/signal", {"token": "t" * 30, "op": "dance"}, "application/json")
    assert response.status_code == 400 and "op" in response.json()["errors"]
    # The token door wants an HTTP signature from the member's node.
    response = client.post(
        f"/groups/{guild.id}/voice/token", {"channel_id": str(channel.id)}, "application/json"
    )
    assert response.status_code == 401 and response.json()["code"] == 40001
    assert not VoiceGrant.objects.exists()


def test_unused_tokens_are_capped_per_member(room, remote_bob):
    guild, channel, users = room
    for _ in range(federated.MAX_OPEN_GRANTS):
        federated.check_mint(BOB, guild.id, {"channel_id": channel.id})
    with pytest.raises(RateLimited) as limited:
        federated.check_mint(BOB, guild.id, {"channel_id": channel.id})
    assert limited.value.status == 429


def test_a_member_removed_from_the_guild_leaves_its_voice_channel(
    room, remote_bob, django_capture_on_commit_callbacks
):
    guild, channel, users = room
    token = federated.check_mint(BOB, guild.id, {"channel_id": channel.id})["token"]
    federated.check_signal({"token": token, "op": "join"})
    assert VoiceState.objects.filter(user=remote_bob).exists()
    with django_capture_on_commit_callbacks(execute=True):
        member_services.do_remove_member(guild, remote_bob, actor=users["alice"])
    assert not VoiceState.objects.filter(user=remote_bob).exists()
    with pytest.raises(federated.TokenRefused) as ended:
        federated.check_signal({"token": token, "op": "update", "self_mute": True})
    assert ended.value.code == federated.SESSION_ENDED


def test_the_members_node_says_clearly_when_the_host_cannot_be_reached(room, settings):
    """B's side: op 4 for a replica guild whose host is down answers VOICE_ERROR, stores
    nothing, and B refuses to moderate voice in a guild it does not host."""
    from federation.models import GuildLink
    from tests.services import free_port
    from voice import gateway, ports

    guild, channel, users = room
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    settings.FEDERATION_SCHEME = "http"
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    GuildLink.objects.create(guild=guild, group_uri=f"http://{host}/groups/{guild.id}", domain=host)
    d = {"guild_id": str(guild.id), "channel_id": str(channel.id)}
    t, error = gateway.handle(users["bob"], "s1", 4, d)
    assert t == "VOICE_ERROR" and error["code"] == 90302, error
    assert "could not be reached" in error["message"]
    assert not VoiceState.objects.exists()
    with pytest.raises(Forbidden) as elsewhere:
        from voice import services

        services.check_moderate(users["alice"], guild.id, users["bob"].id, {"mute": True})
    assert elsewhere.value.code == ports.ELSEWHERE
