"""The pages: the bells in the guild's and the channel's headers lead to the notification
settings, which save, refuse bad input with 400, and change what the sidebar shows; the
member's Notifications page, the manifest, the service worker and the offline page."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from messaging.models import NotificationSetting
from messaging.services.messages import check_send_message
from push import services as push_services
from tests.worlds import local_world


@pytest.fixture
def world(make_user):
    return local_world(make_user, guild="Club", members=("bob",))


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_bells_lead_to_the_settings_and_a_mute_hides_the_badge(world):
    bob = client_for(world.bob)
    page = bob.get(f"/app/guilds/{world.guild.id}/channels/{world.channel.id}/").content.decode()
    guild_url = f"/app/guilds/{world.guild.id}/notifications/"
    channel_url = f"/app/channels/{world.channel.id}/notifications/"
    assert f'href="{guild_url}"' in page and f'href="{channel_url}"' in page

    check_send_message(world.alice, world.channel.id, content=f"<@{world.bob.id}> hi")
    rail = bob.get("/app/rail/").content.decode()
    assert 'data-rail-mentions="1"' in rail

    form = bob.get(channel_url).content.decode()
    assert "Notifications for #general" in form and 'value="forever"' in form
    answer = bob.post(channel_url, {"level": "", "mute": "8h"})
    assert answer.status_code == 200 and "Muted until" in answer.content.decode()
    row = NotificationSetting.objects.get(user=world.bob, channel=world.channel)
    assert row.muted and row.muted_until is not None

    rail = bob.get("/app/rail/").content.decode()
    assert 'data-rail-mentions="0"' in rail
    channels = bob.get(f"/app/guilds/{world.guild.id}/channels/").content.decode()
    assert "general (text channel), muted" in channels

    answer = bob.post(guild_url, {"level": "nothing", "mute": "off"})
    assert answer.status_code == 200
    assert NotificationSetting.objects.get(user=world.bob, channel=None).level == "nothing"


@pytest.mark.parametrize("body", [{"level": "loud"}, {"level": "all", "mute": "2h"}])
def test_bad_settings_are_400_and_change_nothing(world, body):
    answer = client_for(world.bob).post(f"/app/guilds/{world.guild.id}/notifications/", body)
    assert answer.status_code == 400 and 'role="alert"' in answer.content.decode()
    assert not NotificationSetting.objects.exists()


def test_a_dm_is_all_or_nothing(world):
    from messaging.services.dms import check_open_dm

    dm = check_open_dm(world.alice, world.bob.id)[0]
    bob = client_for(world.bob)
    form = bob.get(f"/app/channels/{dm.id}/notifications/").content.decode()
    assert 'value="all" checked' in form and 'value="mentions"' not in form
    assert (
        bob.post(f"/app/channels/{dm.id}/notifications/", {"level": "mentions"}).status_code == 400
    )
    assert (
        bob.post(f"/app/channels/{dm.id}/notifications/", {"level": "nothing"}).status_code == 200
    )
    assert NotificationSetting.objects.get(user=world.bob, channel=dm).level == "nothing"


def test_someone_elses_channel_is_404(world, make_user):
    stranger = client_for(make_user("mallory"))
    assert stranger.get(f"/app/channels/{world.channel.id}/notifications/").status_code == 404
    assert (
        stranger.post(f"/app/guilds/{world.guild.id}/notifications/", {"level": "all"}).status_code
        == 404
    )


def test_the_notifications_page_lists_devices_and_removes_only_your_own(world):
    mine = push_services.do_subscribe(world.bob, None, "https://push.example/bob", "k", "a")[0]
    theirs = push_services.do_subscribe(world.alice, None, "https://push.example/al", "k", "a")[0]
    bob = client_for(world.bob)
    page = bob.get("/settings/notifications/").content.decode()
    assert (
        "data-push-settings" in page and "push.example" in page and "Turn on notifications" in page
    )
    assert bob.post(f"/settings/notifications/devices/{theirs.id}/remove/").status_code == 404
    assert bob.post(f"/settings/notifications/devices/{mine.id}/remove/").status_code == 302
    assert list(world.bob.push_subscriptions.all()) == []
    assert world.alice.push_subscriptions.count() == 1
    assert 'href="/settings/notifications/"' in bob.get("/settings/security/").content.decode()


def test_manifest_service_worker_and_offline_page(client):
    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    body = json.loads(manifest.content)
    assert body["display"] == "standalone" and body["start_url"] == "/app/"
    assert {"192x192", "512x512"} <= {i["sizes"] for i in body["icons"]}
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200

    worker = client.get("/sw.js")
    assert worker.status_code == 200 and worker["Content-Type"].startswith("text/javascript")
    assert worker["Service-Worker-Allowed"] == "/"
    text = b"".join(worker.streaming_content if worker.streaming else [worker.content]).decode()
    assert text.startswith("self.UNITED_SHELL=") and '"/offline/"' in text
    offline = client.get("/offline/")
    assert offline.status_code == 200 and "You are offline" in offline.content.decode()
