"""Moving an account to another node: the account's own side (docs/accounts.md "Moving").

The protocol (WebFinger, actor documents, the signed `Move`) is federation's; what belongs to
the account lives here: the aliases it declares (`alsoKnownAs`), the re-authentication a move
needs, and the read-only state of an account that has moved away. Other apps call
`check_not_moved` where a member posts, joins or opens a DM, so a moved account can still
sign in and export its data but can no longer act as the person who left.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Passkey, User
from accounts.services import audit, passkeys, passwords, ratelimit, twofactor
from united.errors import APIError, Forbidden, Invalid

# Mastodon's: an account that moved may not move again for 30 days, and a node that saw one
# move of an account refuses another one within that time.
MOVE_COOLDOWN = timedelta(days=30)
MAX_ALIASES = 5
MOVED_CODE = 50013


class AccountMoved(Forbidden):
    """A moved account tried to act: 403 naming where the person went."""


def moved_notice(user: User) -> str:
    return (
        f"This account moved to {user.moved_to_handle or user.moved_to}. It is read-only: "
        "you can sign in and export your data, but not post, join or send messages."
    )


def check_not_moved(user: Any) -> None:
    """Raise 403 when `user` (a local account) has moved to another node."""
    if getattr(user, "moved_to", ""):
        raise AccountMoved(moved_notice(user), code=MOVED_CODE)


def aliases(user: User) -> list[str]:
    return [a for a in user.also_known_as or [] if isinstance(a, str)]


def do_add_alias(user: User, actor_uri: str) -> list[str]:
    """Declare that `actor_uri` (an account elsewhere) is this person too."""
    current = aliases(user)
    if actor_uri in current:
        return current
    if len(current) >= MAX_ALIASES:
        raise Invalid(errors={"handle": [f"At most {MAX_ALIASES} aliases; remove one first."]})
    user.also_known_as = [*current, actor_uri]
    user.save(update_fields=["also_known_as"])
    audit.record("alias_added", user=user, alias=actor_uri)
    return user.also_known_as


def do_remove_alias(user: User, actor_uri: str) -> bool:
    current = aliases(user)
    if actor_uri not in current:
        return False
    user.also_known_as = [a for a in current if a != actor_uri]
    user.save(update_fields=["also_known_as"])
    audit.record("alias_removed", user=user, alias=actor_uri)
    return True


def cooldown_left(user: User, now: datetime | None = None) -> timedelta | None:
    if user.moved_at is None:
        return None
    left = user.moved_at + MOVE_COOLDOWN - (now or timezone.now())
    return left if left > timedelta(0) else None


def reauth_methods(user: User) -> list[str]:
    """What a move asks for besides the password: 'code' (TOTP or a backup code) and/or
    'passkey'; either one is enough when the account has both."""
    methods = []
    if twofactor.totp_enabled(user):
        methods.append("code")
    if Passkey.objects.filter(user=user).exists():
        methods.append("passkey")
    return methods


def check_reauthenticate(
    request: HttpRequest | None,
    user: User,
    *,
    password: Any,
    code: Any = None,
    passkey_state: Any = None,
    passkey_credential: Any = None,
) -> None:
    """The password, then the account's second factor, as for turning 2FA off."""
    passwords.require_password(request, user, password)
    methods = reauth_methods(user)
    if not methods:
        return
    if "code" in methods and code:
        ratelimit.limit("second_factor", None, user.id)
        if twofactor.verify_code(user, code) is None:
            audit.record("reauth", user=user, success=False, request=request, factor="code")
            raise Invalid(errors={"code": ["Wrong or already used code."]})
        return
    if "passkey" in methods and passkey_state and request is not None:
        try:
            who = passkeys.finish_authentication(
                request, state=passkey_state, credential=passkey_credential
            )
        except APIError:
            raise Invalid(errors={"passkey": ["Passkey not accepted."]}) from None
        if who.id != user.id:
            raise Invalid(errors={"passkey": ["Passkey not accepted."]})
        return
    field = "code" if "code" in methods else "passkey"
    raise Invalid(errors={field: ["Confirm with your second factor."]})


def do_mark_moved(user: User, target_uri: str, handle: str) -> User:
    user.moved_to = target_uri
    user.moved_to_handle = handle[:300]
    user.moved_at = timezone.now()
    user.save(update_fields=["moved_to", "moved_to_handle", "moved_at"])
    audit.record("account_moved", user=user, target=target_uri)
    return user


def serialize_move(user: User) -> dict[str, Any]:
    return {
        "also_known_as": aliases(user),
        "moved_to": user.moved_to or None,
        "moved_to_handle": user.moved_to_handle or None,
        "moved_at": user.moved_at.isoformat() if user.moved_at else None,
    }
