"""Identity-key rotation with a waiting period.

Replacing a device's identity key is what an attacker holding a stolen session would do, so it
does not take effect at once: the request waits `ROTATION_DELAY` (72 hours), is announced to
every session of the member (`IDENTITY_KEY_ROTATION_PENDING`), and can be cancelled from any
signed-in session meanwhile. A periodic job applies due rotations, drops the device's one-time
prekeys (they were published under the old identity) and tells the member's key contacts
(`SAFETY_NUMBER_CHANGED`) so their clients can warn before trusting the new key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import AuthSession, Device, KeyContact, KeyRotation, OneTimePrekey, User
from accounts.services import audit, crypto, keys
from united import events
from united.errors import Invalid, NotFound

ROTATION_DELAY = timedelta(hours=72)


def serialize_rotation(rotation: KeyRotation) -> dict[str, Any]:
    return {
        "id": str(rotation.id),
        "device_id": str(rotation.device_id),
        "new_identity_key": rotation.new_identity_key,
        "requested_by_session": (
            str(rotation.requested_by_id) if rotation.requested_by_id else None
        ),
        "created_at": rotation.created_at.isoformat(),
        "effective_at": rotation.effective_at.isoformat(),
    }


def pending_rotations(user: User) -> list[KeyRotation]:
    return list(
        KeyRotation.objects.filter(
            device__user=user, cancelled_at__isnull=True, applied_at__isnull=True
        ).order_by("effective_at")
    )


def check_request_rotation(
    user: User, device_id: Any, data: Any, *, session: AuthSession | None
) -> KeyRotation:
    device = keys.access_own_device(user, device_id)
    if not isinstance(data, dict):
        raise Invalid(errors={"_errors": ["Expected an object."]})
    identity = crypto.decode_key(data.get("identity_key"), "identity_key")
    if crypto.encode(identity) == device.identity_key:
        raise Invalid(errors={"identity_key": ["This is the current key."]})
    signed = keys.check_signed_prekey(identity, data.get("signed_prekey"))
    return do_request_rotation(user, device, crypto.encode(identity), signed, session)


@transaction.atomic
def do_request_rotation(
    user: User, device: Device, identity: str, signed: dict, session: AuthSession | None
) -> KeyRotation:
    # One pending rotation per device: a new request replaces (cancels) the previous one.
    KeyRotation.objects.filter(
        device=device, cancelled_at__isnull=True, applied_at__isnull=True
    ).update(cancelled_at=timezone.now())
    rotation = KeyRotation.objects.create(
        device=device,
        requested_by=session,
        new_identity_key=identity,
        new_signed_prekey_id=signed["key_id"],
        new_signed_prekey=signed["public_key"],
        new_signed_prekey_signature=signed["signature"],
        effective_at=timezone.now() + ROTATION_DELAY,
    )
    audit.record(
        "key_rotation_requested", user=user, device=str(device.id), rotation=str(rotation.id)
    )
    events.broadcast(
        events.user_group(user.id), "IDENTITY_KEY_ROTATION_PENDING", serialize_rotation(rotation)
    )
    return rotation


def check_cancel_rotation(user: User, rotation_id: Any) -> None:
    try:
        rotation = KeyRotation.objects.get(
            pk=int(rotation_id),
            device__user=user,
            cancelled_at__isnull=True,
            applied_at__isnull=True,
        )
    except (KeyRotation.DoesNotExist, TypeError, ValueError):
        raise NotFound("Unknown or finished key rotation") from None
    with transaction.atomic():
        done = KeyRotation.objects.filter(
            pk=rotation.pk, applied_at__isnull=True, cancelled_at__isnull=True
        ).update(cancelled_at=timezone.now())
        if not done:
            raise NotFound("Unknown or finished key rotation")
        audit.record("key_rotation_cancelled", user=user, rotation=str(rotation.id))
        events.broadcast(
            events.user_group(user.id),
            "IDENTITY_KEY_ROTATION_CANCELLED",
            {"id": str(rotation.id), "device_id": str(rotation.device_id)},
        )


def apply_due_rotations(now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = list(
        KeyRotation.objects.filter(
            effective_at__lte=now, cancelled_at__isnull=True, applied_at__isnull=True
        ).values_list("id", flat=True)
    )
    return sum(1 for rotation_id in due if do_apply_rotation(rotation_id, now))


@transaction.atomic
def do_apply_rotation(rotation_id: int, now: datetime) -> bool:
    # Claim first: a cancel racing with the job, or two job runs, leave one winner.
    if not KeyRotation.objects.filter(
        pk=rotation_id, applied_at__isnull=True, cancelled_at__isnull=True
    ).update(applied_at=now):
        return False
    rotation = KeyRotation.objects.select_related("device").get(pk=rotation_id)
    device = rotation.device
    if device.revoked_at is not None:
        return False
    Device.objects.filter(pk=device.pk).update(
        identity_key=rotation.new_identity_key,
        signed_prekey_id=rotation.new_signed_prekey_id,
        signed_prekey=rotation.new_signed_prekey,
        signed_prekey_signature=rotation.new_signed_prekey_signature,
    )
    OneTimePrekey.objects.filter(device=device).delete()
    payload = {
        "user_id": str(device.user_id),
        "device_id": str(device.id),
        "identity_key": rotation.new_identity_key,
    }
    recipients = {
        device.user_id,
        *KeyContact.objects.filter(owner_id=device.user_id).values_list("contact_id", flat=True),
    }
    for user_id in recipients:
        events.broadcast(events.user_group(user_id), "SAFETY_NUMBER_CHANGED", payload)
    audit.record(
        "key_rotation_applied", user=device.user, device=str(device.id), rotation=str(rotation.id)
    )
    return True
