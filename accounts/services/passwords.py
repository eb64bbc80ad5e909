"""Registration and passwords: no email, Argon2id hashes, Django's strength validators."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from accounts import hooks
from accounts.models import RegistrationInvite, User
from accounts.services import audit, ratelimit
from accounts.services.tokens import do_revoke_all_sessions, unauthorized
from united import names
from united.errors import Forbidden, Invalid

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,32}$")
PASSWORD_MAX = 256

# Names that would impersonate the node, its staff or a UI concept (mentions, routes).
RESERVED_USERNAMES = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "api",
        "everyone",
        "here",
        "help",
        "hostmaster",
        "info",
        "login",
        "logout",
        "me",
        "mod",
        "moderator",
        "moderators",
        "noreply",
        "null",
        "official",
        "operator",
        "postmaster",
        "register",
        "root",
        "security",
        "settings",
        "staff",
        "support",
        "system",
        "undefined",
        "united",
        "webmaster",
        "www",
    }
)


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise Invalid(
            errors={"username": ["2-32 characters: letters, digits, dot, dash or underscore."]}
        )
    if username.lower() in RESERVED_USERNAMES or username.startswith("."):
        raise Invalid(errors={"username": ["This name is reserved."]})
    if User.objects.filter(username__iexact=username).exists():
        raise Invalid(errors={"username": ["This name is taken."]})
    # Usernames are ASCII, but `0perator`, `r00t` or an operator's `aIice` still pass for
    # someone: compare TR39 skeletons (united/names.py).
    from accounts.services.profile import operator_names

    names.refuse_look_alike(username, "username", names.reserved() + operator_names())
    return username


def check_password_strength(password: Any, user: User | None = None) -> str:
    if not isinstance(password, str) or not password:
        raise Invalid(errors={"password": ["A password is required."]})
    if len(password) > PASSWORD_MAX:
        raise Invalid(errors={"password": [f"At most {PASSWORD_MAX} characters."]})
    problems: list[str] = []
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        problems += exc.messages
    if user is not None and len(user.username) >= 3 and user.username.lower() in password.lower():
        problems.append("The password must not contain your username.")
    if len(set(password)) < 5:
        problems.append("The password repeats too few different characters.")
    if problems:
        raise Invalid(errors={"password": problems})
    return password


def _claim_invite(code: Any) -> None:
    if not isinstance(code, str) or not code:
        raise Forbidden(
            "Registration on this node needs an invite code",
            errors={"invite": ["An invite code is required."]},
        )
    now = timezone.now()
    claimed = (
        RegistrationInvite.objects.filter(code=code, uses__lt=F("max_uses"))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .update(uses=F("uses") + 1)
    )
    if not claimed:
        raise Forbidden("This invite code is not valid", errors={"invite": ["Unknown or used."]})


def check_register(
    request: HttpRequest | None,
    *,
    username: Any,
    password: Any,
    invite: Any = None,
    recovery_public_key: Any = None,
) -> User:
    ratelimit.limit("register", request)
    mode = getattr(settings, "UNITED_REGISTRATION", "open")
    if mode == "closed":
        raise Forbidden("Registration is closed on this node")
    username = check_username(username)
    check_password_strength(password, User(username=username))
    recovery_key = ""
    if recovery_public_key:
        from accounts.services.recovery import check_recovery_public_key

        recovery_key = check_recovery_public_key(recovery_public_key)
    return do_register(
        request,
        username=username,
        password=password,
        invite=invite if mode == "invite" else None,
        require_invite=mode == "invite",
        recovery_public_key=recovery_key,
    )


def do_register(
    request: HttpRequest | None,
    *,
    username: str,
    password: str,
    invite: Any = None,
    require_invite: bool = False,
    recovery_public_key: str = "",
) -> User:
    try:
        with transaction.atomic():
            if require_invite:
                _claim_invite(invite)
            user = User.objects.create_user(username=username, password=password)
            if recovery_public_key:
                user.recovery_public_key = recovery_public_key
                user.save(update_fields=["recovery_public_key"])
    except IntegrityError:
        raise Invalid(errors={"username": ["This name is taken."]}) from None
    audit.record("register", user=user, request=request)
    return user


def check_credentials(request: HttpRequest | None, username: Any, password: Any) -> User:
    """The user these credentials belong to; counts failures towards the lockout."""
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise Invalid(errors={"username": ["Username and password are required."]})
    # The lockout first: its wait is the longer one, and announcing the window's shorter wait
    # instead would send the member back while still locked out.
    ratelimit.check_lockout(username)
    ratelimit.limit("login", request, username.lower())
    user = User.objects.filter(username__iexact=username).first()
    if user is None:
        User().set_password(password)  # spend the same time as a real check
        ok = False
    else:
        ok = user.check_password(password) and user.is_active
    if not ok or user is None:  # no user is never ok; said again for the type checker
        ratelimit.record_failure(username)
        # An unknown name is not stored: people type passwords into the username field.
        audit.record("login", user=user, success=False, request=request, reason="password")
        raise unauthorized("Wrong username or password")
    return user


def check_change_password(
    request: HttpRequest | None, user: User, *, current: Any, new: Any, keep: Any = None
) -> User:
    """Change the password and sign out every other session (`keep` is the caller's)."""
    ratelimit.limit("password", request, user.id)
    if not isinstance(current, str) or not user.check_password(current):
        audit.record("password_change", user=user, success=False, request=request)
        raise Invalid(errors={"current_password": ["Wrong password."]})
    check_password_strength(new, user)
    with transaction.atomic():
        do_set_password(user, new, request=request, kind="password_change")
        do_revoke_all_sessions(user, keep=keep)
    return user


def do_set_password(
    user: User, new: str, *, request: HttpRequest | None = None, kind: str = "password_change"
) -> User:
    user.set_password(new)
    user.save(update_fields=["password"])
    audit.record(kind, user=user, request=request)
    hooks.password_changed(user)
    return user


def require_password(request: HttpRequest | None, user: User, password: Any) -> None:
    """Re-authentication for sensitive changes (2FA off, deletion)."""
    ratelimit.limit("password", request, user.id)
    if not isinstance(password, str) or not user.check_password(password):
        audit.record("reauth", user=user, success=False, request=request)
        raise Invalid(errors={"password": ["Wrong password."]})
