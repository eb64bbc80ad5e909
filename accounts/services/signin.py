"""Sign-in flows that end in a session: password, key challenge, second factor.

Every first factor (password, Ed25519 challenge, recovery) ends in `finish_first_factor`, which
either opens the session or, when the member has a second factor, returns a ticket for it.

Challenge-response: the node issues a random single-use nonce (2 minutes); the client signs
`UNITED <purpose> <node domain> <nonce>` with the Ed25519 key and sends the signature back.
For `signin` the key is any of the member's active device identity keys; for `recovery` it is
the recovery key derived from the BIP39 phrase. An unknown username gets a nonce too (that is
never stored), so the endpoint does not reveal which names exist.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Device, SignInChallenge, User
from accounts.services import audit, crypto, ratelimit, tokens, twofactor
from united.errors import Invalid

CHALLENGE_LIFETIME = timedelta(minutes=2)
PURPOSES = ("signin", "recovery")


def finish_first_factor(
    request: HttpRequest, user: User, *, method: str, web: bool
) -> dict[str, Any]:
    if twofactor.has_second_factor(user):
        audit.record("first_factor", user=user, request=request, method=method)
        return {
            "mfa": True,
            "ticket": twofactor.make_ticket(user, method),
            "methods": twofactor.second_factor_methods(user),
        }
    return finish_sign_in(request, user, method=method, web=web)


def finish_sign_in(request: HttpRequest, user: User, *, method: str, web: bool) -> dict[str, Any]:
    ratelimit.record_success(user.username)
    if web:
        tokens.do_start_web_session(request, user, method=method)
        return {"mfa": False, "user_id": str(user.id)}
    return {"mfa": False, **tokens.do_start_api_session(user, request, method=method)}


def challenge_message(purpose: str, nonce: str) -> bytes:
    return f"UNITED {purpose} {settings.FEDERATION_DOMAIN} {nonce}".encode()


def do_issue_challenge(request: HttpRequest | None, username: Any, purpose: str) -> dict[str, Any]:
    if not isinstance(username, str) or not username:
        raise Invalid(errors={"username": ["Required."]})
    ratelimit.limit("challenge" if purpose == "signin" else "recovery", request, username.lower())
    nonce = secrets.token_urlsafe(32)
    expires = timezone.now() + CHALLENGE_LIFETIME
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is not None:
        SignInChallenge.objects.create(nonce=nonce, purpose=purpose, user=user, expires_at=expires)
    return {
        "nonce": nonce,
        "expires_at": expires.isoformat(),
        "message": challenge_message(purpose, nonce).decode(),
    }


def _claim(username: str, nonce: Any, purpose: str) -> User | None:
    if not isinstance(nonce, str) or not nonce:
        return None
    challenge = (
        SignInChallenge.objects.select_related("user")
        .filter(
            nonce=nonce,
            purpose=purpose,
            user__username__iexact=username,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    if challenge is None:
        return None
    won = SignInChallenge.objects.filter(pk=challenge.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    return challenge.user if won else None


def check_challenge_response(
    request: HttpRequest | None, *, username: Any, nonce: Any, signature: Any, purpose: str
) -> User:
    """The user whose key signed this single-use challenge; 401 otherwise."""
    if not isinstance(username, str) or not username:
        raise Invalid(errors={"username": ["Required."]})
    ratelimit.check_lockout(username)  # first: see passwords.check_credentials
    ratelimit.limit("challenge" if purpose == "signin" else "recovery", request, username.lower())
    sig = crypto.decode_key(signature, "signature", crypto.SIGNATURE_BYTES)
    user = _claim(username, nonce, purpose)
    ok = False
    if user is not None and user.is_active:
        message = challenge_message(purpose, nonce)
        if purpose == "recovery":
            keys = [user.recovery_public_key] if user.recovery_public_key else []
        else:
            keys = list(
                Device.objects.active().filter(user=user).values_list("identity_key", flat=True)
            )
        ok = any(crypto.verify(crypto.decode_key(k, "key"), message, sig) for k in keys)
    if not ok or user is None:  # no user is never ok; said again for the type checker
        ratelimit.record_failure(username)
        audit.record(f"{purpose}_challenge", user=user, success=False, request=request)
        raise tokens.unauthorized("The challenge or its signature is not valid")
    return user


def finish_passkey(request: HttpRequest, data: dict[str, Any], *, web: bool) -> dict[str, Any]:
    """A passkey assertion: the second factor when `ticket` is given, else a passwordless
    sign-in (the passkey verified the member itself, so no further factor is asked)."""
    from accounts.services import passkeys

    ticket = data.get("ticket")
    expected = twofactor.read_ticket(ticket)[0] if ticket else None
    user = passkeys.finish_authentication(
        request, state=data.get("state"), credential=data.get("credential")
    )
    if expected is not None and expected.pk != user.pk:
        raise tokens.unauthorized("Passkey not accepted")
    if expected is not None:
        # `expected` is set only when a ticket was given.
        twofactor.consume_ticket(ticket)  # type: ignore[arg-type]
    method = "password+passkey" if expected is not None else "passkey"
    return finish_sign_in(request, user, method=method, web=web)
