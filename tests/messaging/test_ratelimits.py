"""Per-member rate limits (united/ratelimit.py) as a client sees them: Discord's 429 body and
headers, an exact Retry-After, and one allowance shared by REST, the web client and the
member's own node.

The limiter's clock is stepped by the test (`clock` below), so "exactly at Retry-After" and
"a little before" are exact instants rather than sleeps on a loaded machine.
"""

from __future__ import annotations

import pytest
from django.test import Client

from guilds.models import Channel
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import invites as invite_services
from guilds.services import members as member_services
from messaging.models import Message, MessageEdit, Reaction
from united import ratelimit

pytestmark = pytest.mark.django_db

START = 1_200_000.0  # a multiple of every window below (600 s): windows open at START


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit, "clock", fake)
    return fake


@pytest.fixture
def limits(settings):
    """Lower some limits for one test; the others stay out of the way."""

    def set_(**specs: tuple[int, float]) -> None:
        settings.UNITED_RATE_LIMITS = {
            **settings.UNITED_RATE_LIMITS,
            **{name.replace("__", "."): spec for name, spec in specs.items()},
        }

    return set_


def send(client, channel, content="hi"):
    return client.post(f"/api/v1/channels/{channel.id}/messages", {"content": content}, "json")


def assert_rate_limited(response, *, retry_after: float, limit: int, is_global: bool) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == 20028
    assert body["message"] == "You are being rate limited."
    # Rounded up to the millisecond: never below the real wait, at most 1 ms above it.
    assert retry_after <= body["retry_after"] <= retry_after + 0.001
    assert body["global"] is is_global
    assert response["Retry-After"] == str(max(1, -int(-retry_after // 1)))  # whole s, up
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == "0"
    assert float(response["X-RateLimit-Reset-After"]) == body["retry_after"]
    assert float(response["X-RateLimit-Reset"]) >= START + retry_after
    assert len(response["X-RateLimit-Bucket"]) == 16
    assert (response.get("X-RateLimit-Global") == "true") is is_global


def test_a_burst_of_sends_gets_a_429_and_the_retry_at_retry_after_succeeds(
    world, api, clock, limits
):
    limits(message__channel=(3, 5), message__user=(100, 10))
    bob = api(world.bob)
    clock.now = START + 0.5
    assert [send(bob, world.channel).status_code for _ in range(3)] == [200, 200, 200]
    refused = send(bob, world.channel, "fourth")
    assert_rate_limited(refused, retry_after=4.5, limit=3, is_global=False)
    # Hammering while refused costs nothing and stores nothing.
    for _ in range(20):
        assert send(bob, world.channel, "again").status_code == 429
    assert not Message.objects.filter(content__in=["fourth", "again"]).exists()
    # Slightly before the announced wait: still refused, with the remaining wait.
    clock.now = START + 0.5 + 4.5 - 0.01
    early = send(bob, world.channel, "early")
    assert_rate_limited(early, retry_after=0.01, limit=3, is_global=False)
    # Exactly at it: accepted.
    clock.now = START + 0.5 + 4.5
    assert send(bob, world.channel, "on time").status_code == 200
    # Another member of the same channel was never affected.
    clock.now = START + 0.5
    assert send(api(world.alice), world.channel).status_code == 200


def test_the_node_wide_bucket_spans_channels_and_is_reported_global(world, api, clock, limits):
    limits(message__channel=(3, 5), message__user=(4, 10))
    other = channel_services.check_create_channel(
        world.owner, world.guild.id, {"name": "second", "type": 0}
    )
    bob = api(world.bob)
    clock.now = START + 2
    assert [send(bob, world.channel).status_code for _ in range(3)] == [200] * 3
    assert send(bob, other).status_code == 200  # a new channel: its own per-channel bucket
    assert_rate_limited(send(bob, other), retry_after=8.0, limit=4, is_global=True)
    clock.now = START + 10
    assert send(bob, other).status_code == 200


def test_the_web_client_and_the_api_spend_one_allowance(world, api, clock, limits):
    limits(message__channel=(2, 5))
    clock.now = START
    assert send(api(world.bob), world.channel).status_code == 200
    browser = Client()
    browser.force_login(world.bob)
    url = f"/app/channels/{world.channel.id}/messages/send/"
    assert browser.post(url, {"content": "from the web"}).status_code == 201
    refused = browser.post(url, {"content": "one too many"})
    assert refused.status_code == 429
    assert refused["Retry-After"] == "5" and refused["X-RateLimit-Limit"] == "2"
    assert send(api(world.bob), world.channel).status_code == 429
    assert not Message.objects.filter(content="one too many").exists()


def test_edits_and_reactions_have_their_own_buckets(world, api, clock, limits):
    limits(edit__channel=(2, 5), reaction__channel=(2, 5))
    bob = api(world.bob)
    clock.now = START
    message_id = send(bob, world.channel).json()["id"]
    url = f"/api/v1/channels/{world.channel.id}/messages/{message_id}"
    assert bob.patch(url, {"content": "one"}, "json").status_code == 200
    assert bob.patch(url, {"content": "two"}, "json").status_code == 200
    refused = bob.patch(url, {"content": "three"}, "json")
    assert_rate_limited(refused, retry_after=5.0, limit=2, is_global=False)
    assert Message.objects.get(id=message_id).content == "two"
    assert MessageEdit.objects.filter(message_id=message_id).count() == 2
    assert send(bob, world.channel).status_code == 200  # sends are another bucket

    react = f"{url}/reactions/{{}}/@me"
    assert bob.put(react.format("👍")).status_code == 204
    assert bob.put(react.format("👍")).status_code == 204  # already there: free
    assert bob.put(react.format("🎉")).status_code == 204
    assert_rate_limited(bob.put(react.format("🔥")), retry_after=5.0, limit=2, is_global=False)
    assert set(Reaction.objects.values_list("emoji", flat=True)) == {"👍", "🎉"}
    clock.now = START + 5
    assert bob.put(react.format("🔥")).status_code == 204


def test_dms_to_new_people_are_limited_but_reopening_one_is_free(
    world, api, clock, limits, make_user
):
    limits(dm__new=(2, 600))
    dave = make_user("dave")
    member_services.do_add_member(world.guild, dave)
    bob = api(world.bob)
    clock.now = START
    opened = [
        bob.post("/api/v1/users/@me/channels", {"recipient_id": str(u.id)}, "json")
        for u in (world.alice, world.carol)
    ]
    assert [r.status_code for r in opened] == [200, 200], [r.content for r in opened]
    refused = bob.post("/api/v1/users/@me/channels", {"recipient_id": str(dave.id)}, "json")
    assert_rate_limited(refused, retry_after=600.0, limit=2, is_global=False)
    assert not Channel.objects.filter(recipients=dave).exists()
    again = bob.post("/api/v1/users/@me/channels", {"recipient_id": str(world.alice.id)}, "json")
    assert again.status_code == 200 and again.json()["id"] == opened[0].json()["id"]


def test_joins_and_invites_created_are_limited(world, api, clock, limits, make_user):
    codes = []
    for name in ("One", "Two", "Three"):
        guild = guild_services.check_create_guild(world.alice, name=name, description="")
        general = Channel.objects.get(guild=guild, name="general")
        codes.append(invite_services.check_create_invite(world.alice, general.id, {}).code)
    limits(join=(2, 600), invite=(2, 600))
    clock.now = START
    alice = api(world.alice)
    url = f"/api/v1/channels/{world.channel.id}/invites"
    assert [alice.post(url, {}, "json").status_code for _ in range(2)] == [201, 201]
    assert_rate_limited(alice.post(url, {}, "json"), retry_after=600.0, limit=2, is_global=False)

    dave = make_user("dave")
    joiner = api(dave)
    assert [joiner.post(f"/api/v1/invites/{c}").status_code for c in codes[:2]] == [200, 200]
    refused = joiner.post(f"/api/v1/invites/{codes[2]}")
    assert_rate_limited(refused, retry_after=600.0, limit=2, is_global=False)
    assert dave.memberships.count() == 2


def test_reports_are_limited(world, api, clock, limits):
    limits(report=(2, 600))
    clock.now = START
    ids = [send(api(world.alice), world.channel, f"m{n}").json()["id"] for n in range(3)]
    bob = api(world.bob)

    def report(message_id):
        data = {
            "type": "message",
            "category": "spam",
            "channel_id": str(world.channel.id),
            "message_id": message_id,
        }
        return bob.post("/api/v1/reports", data, "json")

    assert [report(i).status_code for i in ids[:2]] == [201, 201]
    assert report(ids[0]).status_code == 201  # the same report again is no new report
    assert_rate_limited(report(ids[2]), retry_after=600.0, limit=2, is_global=False)
