"""The one call messaging makes before accepting a message: is this member allowed to say
this, here, now? Timeouts first, then the guild's automod rules."""

from __future__ import annotations

from typing import Any

from moderation.services.timeouts import check_not_timed_out


def check_message_allowed(access: Any, user: Any, content: str) -> None:
    check_not_timed_out(user, access.channel)
