"""What other apps do when something ends in accounts.

`accounts` sits below the apps that keep state about a member (guilds keep memberships), so it
does not import them: they register a function here from their `AppConfig.ready()`, and the
accounts services call every registered function, explicitly and in the same transaction as
the change (no Django signal, so the order and the transaction are visible at the call site).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import User

LastSessionEnded = Callable[["User"], None]
_last_session_ended: list[LastSessionEnded] = []


def on_last_session_ended(hook: LastSessionEnded) -> LastSessionEnded:
    """Call `hook(user)` whenever a member's last live session ends (sign-out, revocation or
    expiry). Registering the same function twice registers it once."""
    if hook not in _last_session_ended:
        _last_session_ended.append(hook)
    return hook


def last_session_ended(user: User) -> None:
    for hook in list(_last_session_ended):
        hook(user)
