"""WebAuthn passkeys (py_webauthn): several per member, named, removable; usable as a second
factor after a password and for passwordless sign-in (discoverable credentials).

Ceremony state (the challenge and whom it is for) lives in the cache under a random `state`
id the client echoes back, so the API needs no server session; each state is taken (deleted)
when it is answered, so a challenge is answered at most once. The relying party id is the
host name the member reached the node at; ALLOWED_HOSTS already limits which those are.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts.models import Passkey, User
from accounts.services import audit, ratelimit, tokens
from united.errors import Invalid, NotFound

STATE_TTL = timedelta(minutes=5)
MAX_PASSKEYS = 20


def relying_party(request: HttpRequest) -> tuple[str, str]:
    host = request.get_host()
    rp_id = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return rp_id.strip("[]"), f"{request.scheme}://{host}"


def _put_state(kind: str, data: dict[str, Any]) -> str:
    state = secrets.token_urlsafe(24)
    cache.set(f"webauthn:{kind}:{state}", data, int(STATE_TTL.total_seconds()))
    return state


def _take_state(kind: str, state: Any) -> dict[str, Any] | None:
    # Only what _put_state makes (token_urlsafe): no client text of any shape in cache keys.
    if not isinstance(state, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", state):
        return None
    key = f"webauthn:{kind}:{state}"
    data = cache.get(key)
    cache.delete(key)
    return data


def begin_registration(request: HttpRequest, user: User) -> dict[str, Any]:
    ratelimit.limit("passkey", request, user.id)
    rp_id, _ = relying_party(request)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name="UNITED",
        user_name=user.username,
        user_id=str(user.id).encode(),
        user_display_name=user.shown_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in Passkey.objects.filter(user=user)
        ],
    )
    state = _put_state("reg", {"user": user.id, "challenge": bytes_to_base64url(options.challenge)})
    return {"state": state, "options": json.loads(options_to_json(options))}


def finish_registration(
    request: HttpRequest, user: User, *, state: Any, credential: Any, name: Any
) -> Passkey:
    ratelimit.limit("passkey", request, user.id)
    name = (name or "Passkey") if isinstance(name, str | type(None)) else None
    if name is None or len(name) > 64:
        raise Invalid(errors={"name": ["At most 64 characters."]})
    data = _take_state("reg", state)
    if data is None or data["user"] != user.id:
        raise Invalid(errors={"state": ["Unknown or expired; start again."]})
    if Passkey.objects.filter(user=user).count() >= MAX_PASSKEYS:
        raise Invalid(errors={"_errors": [f"At most {MAX_PASSKEYS} passkeys."]})
    rp_id, origin = relying_party(request)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(data["challenge"]),
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (InvalidRegistrationResponse, ValueError, TypeError, KeyError) as exc:
        audit.record("passkey_added", user=user, success=False, request=request)
        raise Invalid(errors={"credential": [f"Not accepted: {exc}"[:200]]}) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if Passkey.objects.filter(credential_id=credential_id).exists():
        raise Invalid(errors={"credential": ["This passkey is registered already."]})
    transports = (
        credential.get("response", {}).get("transports", []) if isinstance(credential, dict) else []
    )
    passkey = Passkey.objects.create(
        user=user,
        name=name.strip() or "Passkey",
        credential_id=credential_id,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=[t for t in transports if isinstance(t, str)][:8],
    )
    audit.record("passkey_added", user=user, request=request, passkey=str(passkey.id))
    return passkey


def begin_authentication(request: HttpRequest, user: User | None = None) -> dict[str, Any]:
    """Options for navigator.credentials.get(): limited to `user`'s passkeys when this is a
    second factor, open (discoverable credentials) for passwordless sign-in."""
    ratelimit.limit("passkey", request, user.id if user else None)
    rp_id, _ = relying_party(request)
    allow = (
        [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in Passkey.objects.filter(user=user)
        ]
        if user
        else []
    )
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=allow,
        user_verification=(
            UserVerificationRequirement.PREFERRED if user else UserVerificationRequirement.REQUIRED
        ),
    )
    state = _put_state(
        "auth",
        {"user": user.id if user else None, "challenge": bytes_to_base64url(options.challenge)},
    )
    return {"state": state, "options": json.loads(options_to_json(options))}


def finish_authentication(request: HttpRequest, *, state: Any, credential: Any) -> User:
    ratelimit.limit("passkey", request)
    data = _take_state("auth", state)
    raw_id = (
        credential.get("rawId") or credential.get("id") if isinstance(credential, dict) else None
    )
    passkey = (
        Passkey.objects.select_related("user").filter(credential_id=raw_id).first()
        if isinstance(raw_id, str)
        else None
    )
    if (
        data is None
        or passkey is None
        or not passkey.user.is_active
        or (data["user"] is not None and data["user"] != passkey.user_id)
    ):
        audit.record("passkey_sign_in", success=False, request=request)
        raise tokens.unauthorized("Passkey not accepted")
    rp_id, origin = relying_party(request)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(data["challenge"]),
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=data["user"] is None,
        )
    except (InvalidAuthenticationResponse, ValueError, TypeError, KeyError):
        audit.record("passkey_sign_in", user=passkey.user, success=False, request=request)
        raise tokens.unauthorized("Passkey not accepted") from None
    with transaction.atomic():
        Passkey.objects.filter(pk=passkey.pk).update(
            sign_count=verified.new_sign_count, last_used_at=timezone.now()
        )
    audit.record("passkey_sign_in", user=passkey.user, request=request, passkey=str(passkey.id))
    return passkey.user


def list_passkeys(user: User) -> list[dict[str, Any]]:
    return [
        {
            "id": str(p.id),
            "name": p.name,
            "created_at": p.created_at.isoformat(),
            "last_used_at": p.last_used_at.isoformat() if p.last_used_at else None,
        }
        for p in Passkey.objects.filter(user=user).order_by("created_at")
    ]


def access_passkey(user: User, passkey_id: Any) -> Passkey:
    try:
        return Passkey.objects.get(pk=int(passkey_id), user=user)
    except (Passkey.DoesNotExist, TypeError, ValueError):
        raise NotFound("Unknown passkey") from None


def check_rename_passkey(user: User, passkey_id: Any, name: Any) -> Passkey:
    passkey = access_passkey(user, passkey_id)
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise Invalid(errors={"name": ["1-64 characters."]})
    passkey.name = name.strip()
    passkey.save(update_fields=["name"])
    return passkey


def do_remove_passkey(user: User, passkey: Passkey, request: HttpRequest | None = None) -> None:
    passkey.delete()
    audit.record("passkey_removed", user=user, request=request, passkey=str(passkey.id))
