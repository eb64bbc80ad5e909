"""The one call messaging makes before accepting a message: may this member say this, here,
now? Timeouts first, then the guild's automod rules.

It runs before messaging opens its write transaction, so what a refusal records (a modlog
entry, a flagged case, an automatic timeout) survives the refused send. A retry of a message
already accepted (same nonce) is not judged again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from moderation.models import AutomodRule, MemberTimeout
from moderation.services.timeouts import check_not_timed_out, timed_out

# A held gate is read again after this long even if no event dropped it: what drops it early
# (GUILD_MEMBER_UPDATE for a timeout, the internal guild-changed message for a rule) can be
# lost in a Redis blip, and a gate must not stay wrong for longer than this.
GATE_MAX_AGE = 30.0


@dataclass(eq=False)
class GuildGate:
    """A guild's timeouts and enabled automod rules, read once (two queries) and held by the
    gateway's hub for the sends that come in on its sockets. The hub drops it when a member
    changes (a timeout publishes GUILD_MEMBER_UPDATE) or the rules do (`guild_changed`), and
    after GATE_MAX_AGE; a timeout's end needs no event, it is compared with the clock."""

    guild_id: int
    timeouts: dict[int, list[tuple[int | None, datetime]]]  # user → (channel or None, until)
    rules: list[AutomodRule]
    loaded_at: float

    def fresh(self) -> bool:
        return time.monotonic() - self.loaded_at < GATE_MAX_AGE

    def timed_out_until(self, user_id: int, channel: Any) -> datetime | None:
        """As timeouts.timed_out_until, from memory."""
        now = timezone.now()
        scopes = {None, channel.id, channel.parent_id}
        ends = [u for c, u in self.timeouts.get(user_id, ()) if c in scopes and u > now]
        return max(ends, default=None)


def guild_gate(guild_id: int) -> GuildGate:
    timeouts: dict[int, list[tuple[int | None, datetime]]] = {}
    rows = MemberTimeout.objects.filter(guild_id=guild_id, until__gt=timezone.now())
    for user_id, channel_id, until in rows.values_list("user_id", "channel_id", "until"):
        timeouts.setdefault(user_id, []).append((channel_id, until))
    rules = list(AutomodRule.objects.filter(guild_id=guild_id, enabled=True))
    return GuildGate(guild_id, timeouts, rules, time.monotonic())


def check_message_allowed(
    user: Any,
    channel_id: int,
    content: str,
    *,
    nonce: Any = None,
    access: Any = None,
    gate: GuildGate | None = None,
) -> None:
    """`access` is the caller's ChannelAccess when it has one (the send path computes it once
    for both this check and the write). `gate` is the guild's GuildGate when the caller holds
    one (the gateway's send door): the same decision without reading timeouts and rules."""
    from guilds.permissions import Permissions as P
    from messaging.models import Message
    from messaging.services.access import access_text_channel
    from moderation.services.automod import check_automod

    if access is None:
        access = access_text_channel(user, channel_id)
    access.require(P.SEND_MESSAGES)
    if (
        nonce is not None
        and Message.objects.filter(channel=access.channel, author=user, nonce=nonce).exists()
    ):
        return
    if gate is not None and gate.guild_id == access.channel.guild_id:
        until = gate.timed_out_until(user.id, access.channel)
        if until is not None:
            raise timed_out(until)
        check_automod(access, user, content, rules=gate.rules)
        return
    check_not_timed_out(user, access.channel)
    if access.channel.guild_id is not None:  # guild rules do not reach into DMs
        check_automod(access, user, content)
