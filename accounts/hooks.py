"""What other apps do when something ends in accounts.

`accounts` sits below the apps that keep state about a member (guilds keep memberships), so it
does not import them: they register a function here from their `AppConfig.ready()`, and the
accounts services call every registered function, explicitly and in the same transaction as
the change (no Django signal, so the order and the transaction are visible at the call site).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import AuthSession, User
    from united.names import Protected

LastSessionEnded = Callable[["User"], object]  # what a hook returns is ignored
_last_session_ended: list[LastSessionEnded] = []
GuardedNames = Callable[["User"], Iterable["Protected"]]
_guarded_names: list[GuardedNames] = []


def on_last_session_ended(hook: LastSessionEnded) -> LastSessionEnded:
    """Call `hook(user)` whenever a member's last live session ends (sign-out, revocation or
    expiry). Registering the same function twice registers it once."""
    if hook not in _last_session_ended:
        _last_session_ended.append(hook)
    return hook


def last_session_ended(user: User) -> None:
    for hook in list(_last_session_ended):
        hook(user)


def on_guarded_names(provider: GuardedNames) -> GuardedNames:
    """`provider(user)` names whom `user`'s display name must not pass for beyond the node's
    operators (guilds: the owners and moderators of the guilds the user is in)."""
    if provider not in _guarded_names:
        _guarded_names.append(provider)
    return provider


def guarded_names(user: User) -> list[Protected]:
    return [name for provider in list(_guarded_names) for name in provider(user)]


SessionEnded = Callable[["AuthSession"], object]
_session_ended: list[SessionEnded] = []
PasswordChanged = Callable[["User"], object]
_password_changed: list[PasswordChanged] = []


def on_session_ended(hook: SessionEnded) -> SessionEnded:
    """Call `hook(session)` when one session ends (sign-out, revocation, expiry), in the
    transaction that ends it: what belongs to that browser or client (its push subscription)
    goes with it."""
    if hook not in _session_ended:
        _session_ended.append(hook)
    return hook


def session_ended(session: AuthSession) -> None:
    for hook in list(_session_ended):
        hook(session)


def on_password_changed(hook: PasswordChanged) -> PasswordChanged:
    """Call `hook(user)` when the account's password is changed or reset."""
    if hook not in _password_changed:
        _password_changed.append(hook)
    return hook


def password_changed(user: User) -> None:
    for hook in list(_password_changed):
        hook(user)


ExportSection = Callable[["User"], Any]  # JSON-ready data about the member
_export_sections: dict[str, ExportSection] = {}


def on_export(section: str, provider: ExportSection) -> ExportSection:
    """Add `section: provider(user)` to the member's account export: the apps above accounts
    (guild memberships, messages) hold data about the member that accounts cannot read."""
    _export_sections[section] = provider
    return provider


def export_sections(user: User) -> dict[str, Any]:
    return {name: provider(user) for name, provider in sorted(_export_sections.items())}
