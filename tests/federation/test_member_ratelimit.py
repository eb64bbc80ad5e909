"""A remote member's messages spend the same per-member allowance on the guild's host as a
local member's (united/ratelimit.py): the Create over the limit is refused with a Reject that
says so, and is not stored."""

from __future__ import annotations

import pytest

from federation.guildwire import group_uri
from messaging.models import Message
from tests.federation import test_guilds
from tests.federation.test_guilds import activity, deliver, join, note, sent
from united import ratelimit

pytestmark = pytest.mark.django_db
# The remote member `eve` of remote.example and the guild `hosted` here, as in test_guilds.
_local_base, eve, hosted = test_guilds._local_base, test_guilds.eve, test_guilds.hosted


def test_federated_creates_count_against_the_remote_members_bucket(
    client, eve, hosted, settings, monkeypatch
):
    alice, guild, channel, invite = hosted
    join(client, eve, guild, invite.code)
    settings.UNITED_RATE_LIMITS = {**settings.UNITED_RATE_LIMITS, "message.channel": (3, 5)}
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_200_000.0)

    def create(message_id: int):
        obj = note(channel, message_id, f"m{message_id}")
        return deliver(client, eve, activity("Create", obj, to=[group_uri(guild.id)]))

    for message_id in (5001, 5002, 5003):
        assert create(message_id).state == "processed"
    assert Message.objects.filter(id__in=[5001, 5002, 5003]).count() == 3
    create(5004)
    assert not Message.objects.filter(id=5004).exists()
    reject = sent("Reject")[-1]
    assert reject["object"]["type"] == "Create"
    assert "rate limited" in reject["content"]
    # The owner, a local member, has an allowance of her own in the same channel.
    from messaging.services.messages import check_send_message

    check_send_message(alice, channel.id, content="still fine")
    # The next window takes the remote member's messages again.
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_200_005.0)
    assert create(5005).state == "processed"
    assert Message.objects.filter(id=5005).exists()
