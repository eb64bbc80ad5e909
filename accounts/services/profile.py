from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts import hooks
from accounts.models import User
from united import events, names
from united.errors import Invalid, NotFound

DISPLAY_NAME_MAX = 32


def serialize_user(user: User) -> dict[str, Any]:
    """The public user object (Discord's shape where it applies)."""
    return {
        "id": str(user.id),
        "username": user.username,
        "global_name": user.display_name or None,
        "avatar": user.avatar or None,
        "bot": user.is_bot,
    }


def operator_names(exclude: User | None = None) -> list[names.Protected]:
    """The node's operators (staff accounts), whose names nobody else may pass for."""
    staff = User.objects.filter(is_active=True).filter(is_staff=True) | User.objects.filter(
        is_active=True, is_superuser=True
    )
    if exclude is not None and exclude.pk:
        staff = staff.exclude(pk=exclude.pk)
    found: list[names.Protected] = []
    for username, display_name in staff.values_list("username", "display_name"):
        found += [names.Protected(n, "an operator's name") for n in (username, display_name) if n]
    return found


def check_display_name(user: User, value: Any, field: str = "global_name") -> str:
    """The display name as stored, or Invalid: hidden characters refused (united/names.py),
    and no passing for an operator, a reserved word, or the owner or a moderator of a guild
    the member is in (those come from accounts.hooks)."""
    display_name = names.clean_name(value, field, max_length=DISPLAY_NAME_MAX, min_length=0)
    protected = operator_names(exclude=user) + hooks.guarded_names(user)
    if not (user.is_staff or user.is_superuser):
        protected += names.reserved()
    names.refuse_look_alike(display_name, field, protected)
    return display_name


def check_update_profile(user: User, *, display_name: Any = None) -> User:
    if display_name is not None:
        display_name = check_display_name(user, display_name)
    return do_update_profile(user, display_name=display_name)


@transaction.atomic
def do_update_profile(user: User, *, display_name: str | None = None) -> User:
    if display_name is not None:
        user.display_name = display_name
    user.save(update_fields=["display_name"])
    events.broadcast(events.user_group(user.id), "USER_UPDATE", serialize_user(user))
    return user


# --- signed profiles --------------------------------------------------------------------------
# The member's device signs the canonical JSON of its profile with its Ed25519 identity key;
# the node stores the exact bytes and signature, so any other node can check them against the
# identity key from the key bundle. Canonical: keys sorted, no whitespace, UTF-8.
PROFILE_LIMITS = {"display_name": DISPLAY_NAME_MAX, "avatar": 200, "bio": 190, "pronouns": 40}
PROFILE_KEYS = {"user_id", "node", "updated_at", *PROFILE_LIMITS}


def canonical_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_profile_payload(user: User, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, str) or len(payload) > 4096:
        raise Invalid(errors={"payload": ["Expected the canonical profile JSON string."]})
    try:
        data = json.loads(payload)
    except ValueError:
        raise Invalid(errors={"payload": ["Not valid JSON."]}) from None
    if not isinstance(data, dict) or set(data) != PROFILE_KEYS:
        raise Invalid(errors={"payload": [f"Keys must be exactly {sorted(PROFILE_KEYS)}."]})
    if data["user_id"] != str(user.id) or data["node"] != settings.FEDERATION_DOMAIN:
        raise Invalid(errors={"payload": ["user_id and node must name this account."]})
    for key, limit in PROFILE_LIMITS.items():
        value = data[key]
        if not isinstance(value, str) or len(value) > limit or any(ord(c) < 32 for c in value):
            raise Invalid(errors={key: [f"A string of at most {limit} printable characters."]})
    # The payload is signed as it is: it cannot be normalised here, only refused if not normal.
    if (
        data["display_name"]
        and check_display_name(user, data["display_name"], "display_name") != (data["display_name"])
    ):
        raise Invalid(errors={"display_name": ["Not in normal form (NFC, single spaces)."]})
    if data["pronouns"] and (problem := names.hidden_character(data["pronouns"])):
        raise Invalid(errors={"pronouns": [problem]})
    names.check_marks(data["bio"], "bio", names.MESSAGE_MARKS_MAX)
    if not isinstance(data["updated_at"], str):
        raise Invalid(errors={"updated_at": ["An ISO 8601 timestamp string."]})
    if canonical_json(data) != payload:
        raise Invalid(errors={"payload": ["Not in canonical form (sorted keys, no spaces)."]})
    return data


def check_publish_signed_profile(
    user: User, *, payload: Any, signature: Any, device_id: Any
) -> User:
    from accounts.services import crypto, keys

    device = keys.access_own_device(user, device_id)
    data = _check_profile_payload(user, payload)
    sig = crypto.decode_key(signature, "signature", crypto.SIGNATURE_BYTES)
    identity = crypto.decode_key(device.identity_key, "identity_key")
    if not crypto.verify(identity, payload.encode(), sig):
        raise Invalid(
            "Bad signature",
            errors={"signature": ["Does not verify with the device's identity key."]},
        )
    return do_publish_signed_profile(user, data, payload, crypto.encode(sig), device)


@transaction.atomic
def do_publish_signed_profile(
    user: User, data: dict[str, Any], payload: str, signature: str, device: Any
) -> User:
    for key in PROFILE_LIMITS:
        setattr(user, key, data[key])
    user.profile_payload, user.profile_signature, user.profile_device = payload, signature, device
    user.save(
        update_fields=[*PROFILE_LIMITS, "profile_payload", "profile_signature", "profile_device"]
    )
    events.broadcast(events.user_group(user.id), "USER_UPDATE", serialize_user(user))
    return user


def signed_profile(user_id: Any) -> dict[str, Any]:
    try:
        user = User.objects.select_related("profile_device").get(pk=int(user_id), is_active=True)
    except (User.DoesNotExist, TypeError, ValueError):
        raise NotFound("Unknown user") from None
    device = user.profile_device
    signed = bool(user.profile_payload and device is not None and device.revoked_at is None)
    return {
        "user_id": str(user.id),
        "profile": {k: getattr(user, k) for k in PROFILE_LIMITS},
        "payload": user.profile_payload if signed else None,
        "signature": user.profile_signature if signed else None,
        # `signed` is only true with a device.
        "device_id": str(device.id) if signed else None,  # type: ignore[union-attr]
        # `signed` is only true with a device.
        "identity_key": device.identity_key if signed else None,  # type: ignore[union-attr]
    }
