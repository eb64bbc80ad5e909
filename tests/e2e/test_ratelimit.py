"""Encrypted DM messages spend the sender's message allowance like plaintext ones
(united/ratelimit.py): the envelope over the limit gets Discord's 429 and is not stored."""

from __future__ import annotations

import pytest

from e2e.models import Envelope
from united import ratelimit
from united_client.e2e.errors import E2EError

pytestmark = pytest.mark.django_db


def test_envelopes_over_the_channel_limit_are_refused(world, e2e, settings, monkeypatch):
    alice, bob = e2e(world.alice), e2e(world.bob)
    channel = alice.open_dm(bob.user_id)
    settings.UNITED_RATE_LIMITS = {**settings.UNITED_RATE_LIMITS, "message.channel": (2, 5)}
    now = [1_200_000.0]
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    alice.send(channel, [bob.user_id], "one")
    alice.send(channel, [bob.user_id], "two")
    with pytest.raises(E2EError, match="429") as refused:
        alice.send(channel, [bob.user_id], "three")
    assert "'retry_after': 5.0" in str(refused.value) and "'global': False" in str(refused.value)
    assert Envelope.objects.filter(channel_id=int(channel)).count() == 2
    now[0] += 5
    alice.send(channel, [bob.user_id], "four")
    assert bob.read(channel) == ["one", "two", "four"]
