"""TOTP second factor and one-time backup codes (django-otp), and the sign-in ticket.

A password (or key-challenge) sign-in for a member with a second factor does not open a
session: it returns a short-lived signed *ticket* naming the user, and the session opens only
when a TOTP code, a backup code or a passkey assertion is presented with it. django-otp records
the last accepted time step, so a TOTP code cannot be replayed; a backup code is deleted when
used. Verification locks the device row so two concurrent uses of one code cannot both pass.
"""

from __future__ import annotations

import hashlib
import secrets
from base64 import b32encode
from typing import Any

import segno
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Passkey, User
from accounts.services import audit, ratelimit
from accounts.services.tokens import unauthorized
from united.errors import Invalid

TICKET_SALT = "accounts.second-factor"
TICKET_MAX_AGE = 300
BACKUP_CODE_COUNT = 10


def totp_enabled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def has_second_factor(user: User) -> bool:
    return totp_enabled(user) or Passkey.objects.filter(user=user).exists()


def second_factor_methods(user: User) -> list[str]:
    methods = []
    if totp_enabled(user):
        methods += ["totp", "backup_code"]
    if Passkey.objects.filter(user=user).exists():
        methods.append("webauthn")
    return methods


def make_ticket(user: User, method: str) -> str:
    # The nonce makes every ticket distinct, so using one up never blocks another.
    data = {"u": str(user.id), "m": method, "n": secrets.token_urlsafe(9)}
    return signing.dumps(data, salt=TICKET_SALT)


def read_ticket(ticket: Any) -> tuple[User, str]:
    if not isinstance(ticket, str):
        raise unauthorized("Invalid or expired sign-in ticket")
    try:
        data = signing.loads(ticket, salt=TICKET_SALT, max_age=TICKET_MAX_AGE)
        user = User.objects.get(pk=int(data["u"]), is_active=True)
    except (signing.BadSignature, User.DoesNotExist, KeyError, ValueError):
        raise unauthorized("Invalid or expired sign-in ticket") from None
    return user, data.get("m", "password")


def _ticket_key(ticket: str) -> str:
    return "auth:ticket-used:" + hashlib.sha256(ticket.encode()).hexdigest()


def consume_ticket(ticket: str) -> None:
    """A ticket opens one session: the first successful second factor uses it up."""
    if not cache.add(_ticket_key(ticket), 1, TICKET_MAX_AGE + 5):
        raise unauthorized("This sign-in ticket was already used")


def _normalise(code: Any) -> str:
    if not isinstance(code, str | int):
        return ""
    return str(code).replace(" ", "").replace("-", "").strip().lower()


def verify_code(user: User, code: Any) -> str | None:
    """'totp' or 'backup_code' when `code` is a valid, unused factor for `user`, else None."""
    code = _normalise(code)
    if not code:
        return None
    # A code is checked against one kind of device only, so a mistyped TOTP code does not
    # count as a failed backup code (django-otp throttles each device after a miss).
    with transaction.atomic():
        if code.isdigit() and len(code) in (6, 8):
            for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True):
                if device.verify_token(code):
                    return "totp"
            return None
        for device in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(code):
                return "backup_code"
    return None


def check_second_factor(request: HttpRequest | None, ticket: Any, code: Any) -> tuple[User, str]:
    ratelimit.limit("second_factor", request)
    user, method = read_ticket(ticket)
    if cache.get(_ticket_key(ticket)) is not None:
        raise unauthorized("This sign-in ticket was already used")
    ratelimit.check_lockout(user.username)  # first: see passwords.check_credentials
    ratelimit.limit("second_factor", None, user.id)
    used = verify_code(user, code)
    if used is None:
        ratelimit.record_failure(user.username)
        audit.record("second_factor", user=user, success=False, request=request)
        raise unauthorized("Wrong or already used code")
    consume_ticket(ticket)
    ratelimit.record_success(user.username)
    audit.record("second_factor", user=user, request=request, factor=used)
    return user, f"{method}+{used}"


def _qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, dark="#000", light="#fff")


@transaction.atomic
def do_begin_totp(user: User, request: HttpRequest | None = None) -> dict[str, Any]:
    """A fresh, unconfirmed TOTP device: its secret, otpauth URI and QR code (SVG data URI)."""
    ratelimit.limit("two_factor_setup", request, user.id)
    if totp_enabled(user):
        raise Invalid(
            "Two-factor authentication is already on",
            errors={"totp": ["Already enabled; disable it first."]},
        )
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return _describe(device)


def _describe(device: TOTPDevice) -> dict[str, Any]:
    secret = b32encode(device.bin_key).decode().rstrip("=")
    uri = device.config_url
    return {"secret": secret, "otpauth_uri": uri, "qr_svg": _qr_svg(uri)}


def pending_totp(user: User) -> dict[str, Any] | None:
    """The setup in progress (secret, URI, QR), for showing it again before confirmation."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return _describe(device) if device is not None else None


def _new_backup_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    codes = [secrets.token_hex(5) for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def check_confirm_totp(user: User, code: Any, request: HttpRequest | None = None) -> list[str]:
    """Turn TOTP on once the member proves their app produces codes; returns backup codes."""
    ratelimit.limit("two_factor_setup", request, user.id)
    code = _normalise(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise Invalid(errors={"code": ["Start the setup first."]})
        if not code.isdigit() or not device.verify_token(code):
            audit.record("totp_enable", user=user, success=False, request=request)
            raise Invalid(errors={"code": ["Wrong code."]})
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_backup_codes(user)
    audit.record("totp_enable", user=user, request=request)
    return codes


def check_disable_totp(user: User, code: Any, request: HttpRequest | None = None) -> None:
    ratelimit.limit("two_factor_setup", request, user.id)
    if not totp_enabled(user):
        raise Invalid(errors={"code": ["Two-factor authentication is not on."]})
    if verify_code(user, code) is None:
        audit.record("totp_disable", user=user, success=False, request=request)
        raise Invalid(errors={"code": ["Wrong or already used code."]})
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    audit.record("totp_disable", user=user, request=request)


def check_regenerate_backup_codes(
    user: User, code: Any, request: HttpRequest | None = None
) -> list[str]:
    ratelimit.limit("two_factor_setup", request, user.id)
    if not totp_enabled(user) or verify_code(user, code) is None:
        raise Invalid(errors={"code": ["Wrong or already used code."]})
    with transaction.atomic():
        codes = _new_backup_codes(user)
    audit.record("backup_codes_regenerated", user=user, request=request)
    return codes


def remaining_backup_codes(user: User) -> int:
    return StaticToken.objects.filter(device__user=user).count()


def do_remove_all_factors(user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    Passkey.objects.filter(user=user).delete()
