"""Server-rendered account pages. Each view parses the form, calls the same service the API
uses and renders; an `APIError` from a service becomes an inline error, never a crash."""

from accounts.views.auth import (
    login,
    login_second_factor,
    logout,
    passkey_login,
    recover,
    register,
)
from accounts.views.settings import (
    account,
    backup_codes,
    cancel_rotation,
    change_password,
    export,
    passkey_edit,
    recovery_key,
    revoke_device,
    revoke_session,
    security,
    totp_disable,
    totp_setup,
)

__all__ = [
    "account",
    "backup_codes",
    "cancel_rotation",
    "change_password",
    "export",
    "login",
    "login_second_factor",
    "logout",
    "passkey_edit",
    "passkey_login",
    "recover",
    "recovery_key",
    "register",
    "revoke_device",
    "revoke_session",
    "security",
    "totp_disable",
    "totp_setup",
]
