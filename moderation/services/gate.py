"""The one call messaging makes before accepting a message: may this member say this, here,
now? Timeouts first, then the guild's automod rules.

It runs before messaging opens its write transaction, so what a refusal records (a modlog
entry, a flagged case, an automatic timeout) survives the refused send. A retry of a message
already accepted (same nonce) is not judged again.
"""

from __future__ import annotations

from typing import Any

from moderation.services.timeouts import check_not_timed_out


def check_message_allowed(
    user: Any, channel_id: int, content: str, *, nonce: Any = None, access: Any = None
) -> None:
    """`access` is the caller's ChannelAccess when it has one (the send path computes it once
    for both this check and the write)."""
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
    check_not_timed_out(user, access.channel)
    if access.channel.guild_id is not None:  # guild rules do not reach into DMs
        check_automod(access, user, content)
