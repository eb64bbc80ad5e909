"""Web Push end to end on loopback: the node's job sends to a push service the test runs, the
test checks the VAPID token against the node's key and opens the RFC 8291 message with the
subscription's private key, and finds only a channel id, a guild id and a count in it."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import passwords, tokens
from jobs.services import run_due_jobs
from messaging.services import readstates
from messaging.services.messages import check_send_message
from messaging.services.notify import check_set_notifications
from push import services as push_services
from push import webpush
from push.models import PushSubscription
from tests.push.pushservice import Browser, PushService, verify_vapid
from tests.worlds import PASSWORD, local_world

SECRET_TEXT = "the eagle lands at midnight"


@pytest.fixture
def push_service(settings):
    settings.PUSH_ALLOW_PRIVATE = ["127.0.0.1/32"]
    service = PushService().start()
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def _no_coalescing(monkeypatch):
    monkeypatch.setattr(push_services, "COALESCE", timedelta(0))


@pytest.fixture
def world(make_user):
    w = local_world(make_user, guild="Spies", members=("bob",))
    w.alice.display_name = "Agent Alice"
    w.alice.save(update_fields=["display_name"])
    return w


def signed_in(user) -> tuple[APIClient, Client]:
    """A browser signed in with a password (a real AuthSession), and an API client on it."""
    browser = Client()
    assert (
        browser.post("/login/", {"username": user.username, "password": PASSWORD}).status_code
        == 302
    )
    api = APIClient()
    api.cookies = browser.cookies
    return api, browser


def subscribe(user, service: PushService, name: str = "bob") -> tuple[Browser, APIClient, Client]:
    device = Browser()
    api, browser = signed_in(user)
    answer = api.post(
        "/api/v1/users/@me/push-subscriptions",
        {"endpoint": service.endpoint(name), "keys": device.keys()},
        format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert answer.status_code == 201, answer.content
    return device, api, browser


def drain() -> None:
    for _ in range(3):  # message → prepare → send
        run_due_jobs()


def mention(world, text: str = SECRET_TEXT):
    return check_send_message(world.alice, world.channel.id, content=f"<@{world.bob.id}> {text}")[0]


def test_a_mention_pushes_only_ids_and_a_count_signed_and_encrypted(world, push_service):
    device, _, _ = subscribe(world.bob, push_service)
    message = mention(world)
    drain()

    assert len(push_service.received) == 1
    got = push_service.received[0]
    assert got.path == "/push/bob"
    claims = verify_vapid(got.headers["authorization"], webpush.public_key())
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == settings.VAPID_SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert got.headers["content-encoding"] == "aes128gcm"
    assert int(got.headers["ttl"]) > 0

    plain = device.decrypt(got.body)
    assert json.loads(plain) == {
        "channel_id": str(world.channel.id),
        "guild_id": str(world.guild.id),
        "count": 1,
    }
    for secret in (SECRET_TEXT, "eagle", "Agent Alice", world.alice.username, str(message.id)):
        assert secret.encode() not in plain
        assert secret.encode() not in got.body


def test_a_burst_becomes_one_push_with_its_count(world, push_service, monkeypatch):
    monkeypatch.setattr(push_services, "COALESCE", timedelta(seconds=30))
    device, _, _ = subscribe(world.bob, push_service)
    for n in range(3):
        mention(world, f"message {n}")
    from jobs.models import Job

    run_due_jobs()  # each message's job finds the one prepare job waiting for the member
    prepare = Job.objects.get(name="push.prepare", state="queued")
    Job.objects.filter(id=prepare.id).update(run_at=prepare.created_at)
    drain()
    assert len(push_service.received) == 1
    assert json.loads(device.decrypt(push_service.received[0].body))["count"] == 3


def test_mentions_only_skips_a_plain_message_and_all_messages_does_not(world, push_service):
    subscribe(world.bob, push_service)
    check_send_message(world.alice, world.channel.id, content=SECRET_TEXT)
    drain()
    assert push_service.received == []  # the guild's default is "mentions only"

    check_set_notifications(world.bob, guild=world.guild, level="all")
    check_send_message(world.alice, world.channel.id, content="and another")
    drain()
    assert len(push_service.received) == 1


def test_a_reply_to_me_pushes_under_mentions_only(world, push_service):
    subscribe(world.bob, push_service)
    mine = check_send_message(world.bob, world.channel.id, content="mine")[0]
    check_send_message(world.alice, world.channel.id, content="re", reply_to=str(mine.id))
    drain()
    assert len(push_service.received) == 1


@pytest.mark.parametrize("where", ["guild", "channel"])
def test_no_push_while_muted_and_again_after_unmuting(world, push_service, where):
    subscribe(world.bob, push_service)
    target = {"guild": world.guild} if where == "guild" else {"channel": world.channel}
    check_set_notifications(world.bob, **target, level="all" if where == "guild" else "", mute="1h")
    mention(world)
    drain()
    assert push_service.received == []
    # The badge agrees: a muted channel shows no mention count and no unread mark.
    state = readstates.read_states(world.bob, [world.channel])[0]
    assert state["mention_count"] == 0 and state["unread"] is False and state["muted"] is True

    check_set_notifications(
        world.bob, **target, level="all" if where == "guild" else "", mute="off"
    )
    state = readstates.read_states(world.bob, [world.channel])[0]
    assert state["mention_count"] == 1
    mention(world, "again")
    drain()
    assert len(push_service.received) == 1


def test_nothing_level_silences_the_channel(world, push_service):
    subscribe(world.bob, push_service)
    check_set_notifications(world.bob, channel=world.channel, level="nothing")
    mention(world)
    drain()
    assert push_service.received == []


def test_a_410_removes_the_subscription(world, push_service):
    subscribe(world.bob, push_service)
    push_service.status = 410
    mention(world)
    drain()
    assert len(push_service.received) == 1
    assert not PushSubscription.objects.filter(user=world.bob).exists()


def test_a_5xx_is_retried(world, push_service):
    from jobs.models import Job

    subscribe(world.bob, push_service)
    push_service.status = 503
    mention(world)
    drain()
    retry = Job.objects.get(name="push.send")
    assert retry.state == "queued" and retry.attempts == 1 and "503" in retry.last_error
    push_service.status = 201
    Job.objects.filter(id=retry.id).update(run_at=retry.created_at)
    drain()
    assert len(push_service.received) == 2
    assert PushSubscription.objects.get(user=world.bob).last_sent_at is not None


def test_an_endpoint_on_a_private_address_is_never_contacted(world, push_service, settings):
    subscribe(world.bob, push_service)
    settings.PUSH_ALLOW_PRIVATE = []  # the node's default: loopback is not a push service
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]  # federation's list does not count
    mention(world)
    drain()
    assert push_service.received == []
    assert not PushSubscription.objects.filter(user=world.bob).exists()


def test_sign_out_and_password_change_remove_subscriptions(world, push_service, make_user):
    _, _, browser = subscribe(world.bob, push_service, "one")
    subscribe(world.bob, push_service, "two")
    assert PushSubscription.objects.filter(user=world.bob).count() == 2
    browser.post("/logout/")
    assert list(
        PushSubscription.objects.filter(user=world.bob).values_list("endpoint", flat=True)
    ) == [push_service.endpoint("two")]
    passwords.check_change_password(
        None, world.bob, current=PASSWORD, new="another long passphrase 42"
    )
    assert not PushSubscription.objects.filter(user=world.bob).exists()


def test_revoking_a_session_removes_its_subscription(world, push_service):
    subscribe(world.bob, push_service)
    session = PushSubscription.objects.get(user=world.bob).auth_session
    tokens.do_revoke_session(session)
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"endpoint": "ftp://127.0.0.1/x"}, "endpoint"),
        ({"endpoint": "https://user:pw@push.example/x"}, "endpoint"),
        ({"endpoint": "https://push.example/" + "x" * 3000}, "endpoint"),
        (
            {"endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}},
            "keys.p256dh",
        ),
        ({"endpoint": "https://push.example/x", "keys": "nope"}, "keys"),
        ([1, 2], "endpoint"),
    ],
)
def test_bad_subscriptions_are_400_in_the_error_shape(world, body, field):
    api, browser = signed_in(world.bob)
    answer = api.post(
        "/api/v1/users/@me/push-subscriptions",
        body,
        format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert answer.status_code == 400
    assert field in answer.json()["errors"]


def test_plain_http_endpoints_need_the_push_allowlist(world, settings):
    settings.PUSH_ALLOW_PRIVATE = []
    api, browser = signed_in(world.bob)
    answer = api.post(
        "/api/v1/users/@me/push-subscriptions",
        {"endpoint": "http://push.example/x", "keys": Browser().keys()},
        format="json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert answer.status_code == 400


def test_at_most_ten_devices_and_only_your_own_can_be_removed(world, push_service, make_user):
    for n in range(push_services.MAX_SUBSCRIPTIONS):
        push_services.do_subscribe(world.bob, None, push_service.endpoint(f"d{n}"), "k", "a")
    api, browser = signed_in(world.bob)
    csrf = browser.cookies["csrftoken"].value
    answer = api.post(
        "/api/v1/users/@me/push-subscriptions",
        {"endpoint": push_service.endpoint("eleventh"), "keys": Browser().keys()},
        format="json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert answer.status_code == 400
    alices = push_services.do_subscribe(world.alice, None, push_service.endpoint("a"), "k", "a")[0]
    assert (
        api.delete(
            f"/api/v1/users/@me/push-subscriptions/{alices.id}", HTTP_X_CSRFTOKEN=csrf
        ).status_code
        == 404
    )
    assert PushSubscription.objects.filter(id=alices.id).exists()


def test_the_preview_is_what_the_service_worker_shows(world, make_user):
    mention(world)
    api, _ = signed_in(world.bob)
    shown = api.get(f"/api/v1/push/channels/{world.channel.id}/preview").json()
    assert shown["title"] == f"#general · {world.guild.name}"
    assert shown["body"] == f"Agent Alice: @bob {SECRET_TEXT}"
    assert shown["encrypted"] is False
    assert shown["url"] == f"/app/guilds/{world.guild.id}/channels/{world.channel.id}/"

    stranger = make_user("mallory")
    api, _ = signed_in(stranger)
    answer = api.get(f"/api/v1/push/channels/{world.channel.id}/preview")
    assert answer.status_code == 404 and answer.json()["code"] == 10003


def test_a_dm_preview_says_only_that_it_is_encrypted(world):
    from messaging.services.dms import check_open_dm

    dm = check_open_dm(world.alice, world.bob.id)[0]
    api, _ = signed_in(world.bob)
    shown = api.get(f"/api/v1/push/channels/{dm.id}/preview").json()
    assert shown["encrypted"] is True and shown["body"] == "New encrypted message"
    assert shown["title"] == "Agent Alice"


def test_settings_refuse_unknown_levels_and_mutes(world):
    from united.errors import Invalid

    with pytest.raises(Invalid):
        check_set_notifications(world.bob, guild=world.guild, level="loud")
    with pytest.raises(Invalid):
        check_set_notifications(world.bob, guild=world.guild, level="", mute=None)
    with pytest.raises(Invalid):
        check_set_notifications(world.bob, channel=world.channel, level="all", mute="2h")


@pytest.mark.django_db(transaction=True)
async def test_no_push_while_a_tab_has_the_gateway_open(world, push_service):
    from tests.messaging.test_gateway import identify

    await sync_to_async(subscribe)(world.bob, push_service)
    client = Client()
    await sync_to_async(client.force_login)(world.bob)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    ws, _ready = await identify(cookie)
    try:
        await sync_to_async(mention)(world)
        await sync_to_async(drain)()
        assert push_service.received == []
    finally:
        await ws.disconnect()
    await sync_to_async(mention)(world, "now the tab is closed")
    await sync_to_async(drain)()
    assert len(push_service.received) == 1


def test_an_e2e_dm_envelope_pushes_its_channel_and_count(world, push_service):
    from accounts.services.keys import do_register_device
    from e2e.services import do_store_envelope
    from messaging.services.dms import check_open_dm

    signed = {"key_id": 1, "public_key": "S" * 43 + "=", "signature": "G" * 86 + "=="}
    devices = {
        u.username: do_register_device(u, "laptop", "I" * 43 + "=", signed, [])
        for u in (world.alice, world.bob)
    }
    dm = check_open_dm(world.alice, world.bob.id)[0]
    device, _, _ = subscribe(world.bob, push_service)
    copy = {
        "user_id": world.bob.id,
        "device_id": devices["bob"].id,
        "header": {"dh": "x", "n": 0, "pn": 0},
        "x3dh": None,
        "ciphertext": "OPAQUE-CIPHERTEXT",
    }
    do_store_envelope(dm, world.alice, devices["alice"].id, [copy])
    drain()
    assert len(push_service.received) == 1
    plain = device.decrypt(push_service.received[0].body)
    assert json.loads(plain) == {"channel_id": str(dm.id), "guild_id": None, "count": 1}
    assert b"OPAQUE" not in plain and b"Alice" not in plain

    # All or nothing in a DM: "nothing" silences it.
    check_set_notifications(world.bob, channel=dm, level="nothing")
    do_store_envelope(dm, world.alice, devices["alice"].id, [copy])
    drain()
    assert len(push_service.received) == 1
