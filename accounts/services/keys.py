"""Device key bundles for end-to-end encryption (X3DH-style).

A device uploads its Ed25519 identity key, an X25519 signed prekey with the identity key's
Ed25519 signature over the prekey's 32 raw bytes, and a batch of X25519 one-time prekeys (all
base64). The node checks the signature on upload. A key bundle fetch returns, per device, the
identity key, the signed prekey with its signature, and at most one one-time prekey, which is
deleted as it is handed out so no two fetchers ever get the same one.

Claiming a one-time prekey has to be safe under concurrent fetches on both databases.
PostgreSQL locks the oldest unlocked row with `SELECT … FOR UPDATE SKIP LOCKED` so racing
fetchers take different rows without waiting. SQLite has no row locks (and Django ignores
select_for_update there), so the claim is a conditional DELETE by primary key: only the caller
whose DELETE removed the row owns it; a loser retries with the next row. The DELETE check runs
on PostgreSQL too, so correctness never rests on the lock alone. When every remaining key is
locked by concurrent fetchers, a fetch gets no one-time prekey rather than waiting: X3DH works
without one, and those keys are on their way to someone else.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from accounts.models import AuthSession, Device, KeyContact, OneTimePrekey, User
from accounts.services import audit, crypto
from accounts.services.tokens import do_revoke_session
from united import events
from united.errors import Invalid, NotFound

MAX_PREKEYS_PER_UPLOAD = 100
MAX_PREKEYS_STORED = 500
LOW_PREKEY_THRESHOLD = 10
MAX_DEVICES = 20


def check_signed_prekey(identity_key: bytes, data: Any, field: str = "signed_prekey") -> dict:
    if not isinstance(data, dict):
        raise Invalid(errors={field: ["Expected {key_id, public_key, signature}."]})
    key_id = data.get("key_id")
    if not isinstance(key_id, int) or isinstance(key_id, bool) or not 0 <= key_id < 2**31:
        raise Invalid(errors={field: ["key_id must be a non-negative integer."]})
    public = crypto.decode_key(data.get("public_key"), f"{field}.public_key")
    signature = crypto.decode_key(
        data.get("signature"), f"{field}.signature", crypto.SIGNATURE_BYTES
    )
    if not crypto.verify(identity_key, public, signature):
        raise Invalid(
            "Bad signature",
            errors={f"{field}.signature": ["Does not verify with the identity key."]},
        )
    return {
        "key_id": key_id,
        "public_key": crypto.encode(public),
        "signature": crypto.encode(signature),
    }


def check_one_time_prekeys(items: Any) -> list[tuple[int, str]]:
    if not isinstance(items, list) or len(items) > MAX_PREKEYS_PER_UPLOAD:
        raise Invalid(
            errors={
                "one_time_prekeys": [f"Expected a list of at most {MAX_PREKEYS_PER_UPLOAD} keys."]
            }
        )
    out, seen = [], set()
    for item in items:
        key_id = item.get("key_id") if isinstance(item, dict) else None
        if not isinstance(key_id, int) or isinstance(key_id, bool) or not 0 <= key_id < 2**31:
            raise Invalid(errors={"one_time_prekeys": ["key_id must be a non-negative integer."]})
        if key_id in seen:
            raise Invalid(errors={"one_time_prekeys": ["Duplicate key_id."]})
        seen.add(key_id)
        raw = crypto.decode_key(item.get("public_key"), "one_time_prekeys.public_key")
        out.append((key_id, crypto.encode(raw)))
    return out


def check_register_device(user: User, data: Any, *, session: Any = None) -> Device:
    if not isinstance(data, dict):
        raise Invalid(errors={"_errors": ["Expected an object."]})
    identity = crypto.decode_key(data.get("identity_key"), "identity_key")
    signed = check_signed_prekey(identity, data.get("signed_prekey"))
    prekeys = check_one_time_prekeys(data.get("one_time_prekeys", []))
    name = data.get("name", "")
    if not isinstance(name, str) or len(name) > 64:
        raise Invalid(errors={"name": ["At most 64 characters."]})
    if Device.objects.active().filter(user=user).count() >= MAX_DEVICES:
        raise Invalid(errors={"_errors": [f"At most {MAX_DEVICES} devices; remove one first."]})
    return do_register_device(
        user, name.strip(), crypto.encode(identity), signed, prekeys, session=session
    )


@transaction.atomic
def do_register_device(
    user: User,
    name: str,
    identity_key: str,
    signed: dict,
    prekeys: list[tuple[int, str]],
    *,
    session: Any = None,
) -> Device:
    device = Device.objects.create(
        user=user,
        name=name,
        identity_key=identity_key,
        signed_prekey_id=signed["key_id"],
        signed_prekey=signed["public_key"],
        signed_prekey_signature=signed["signature"],
    )
    OneTimePrekey.objects.bulk_create(
        [OneTimePrekey(device=device, key_id=k, public_key=v) for k, v in prekeys]
    )
    if session is not None and session.device_id is None:
        session.device = device
        session.save(update_fields=["device"])
    audit.record("device_registered", user=user, device=str(device.id))
    # The account's other browsers offer to approve it (docs/e2e.md, "A new device").
    events.broadcast(
        events.user_group(user.id),
        "DEVICE_CREATE",
        {"device_id": str(device.id), "name": device.name, "identity_key": device.identity_key},
    )
    return device


def access_own_device(user: User, device_id: Any) -> Device:
    try:
        return Device.objects.active().get(pk=int(device_id), user=user)
    except (Device.DoesNotExist, TypeError, ValueError):
        raise NotFound("Unknown device") from None


def check_upload_prekeys(user: User, device_id: Any, data: Any) -> int:
    device = access_own_device(user, device_id)
    items = data.get("one_time_prekeys") if isinstance(data, dict) else None
    prekeys = check_one_time_prekeys(items)
    signed = None
    if isinstance(data, dict) and data.get("signed_prekey") is not None:
        identity = crypto.decode_key(device.identity_key, "identity_key")
        signed = check_signed_prekey(identity, data["signed_prekey"])
    with transaction.atomic():
        existing = set(OneTimePrekey.objects.filter(device=device).values_list("key_id", flat=True))
        if existing & {k for k, _ in prekeys}:
            raise Invalid(errors={"one_time_prekeys": ["A key_id is already uploaded."]})
        if len(existing) + len(prekeys) > MAX_PREKEYS_STORED:
            raise Invalid(
                errors={
                    "one_time_prekeys": [f"At most {MAX_PREKEYS_STORED} stored prekeys per device."]
                }
            )
        OneTimePrekey.objects.bulk_create(
            [OneTimePrekey(device=device, key_id=k, public_key=v) for k, v in prekeys]
        )
        if signed is not None:
            device.signed_prekey_id = signed["key_id"]
            device.signed_prekey = signed["public_key"]
            device.signed_prekey_signature = signed["signature"]
            device.save(
                update_fields=["signed_prekey_id", "signed_prekey", "signed_prekey_signature"]
            )
    return len(existing) + len(prekeys)


def claim_one_time_prekey(device: Device) -> OneTimePrekey | None:
    """Take one of the device's one-time prekeys for good; None when it has run out."""
    skip_locked = connection.features.has_select_for_update_skip_locked
    for _ in range(50):
        with transaction.atomic():
            candidates = OneTimePrekey.objects.filter(device=device).order_by("id")
            if skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            candidate = candidates.first()
            if candidate is None:
                return None
            deleted, _ = OneTimePrekey.objects.filter(pk=candidate.pk).delete()
            if deleted:
                return candidate
    return None


def _warn_if_low(device: Device) -> None:
    remaining = OneTimePrekey.objects.filter(device=device).count()
    if remaining < LOW_PREKEY_THRESHOLD:
        events.broadcast(
            events.user_group(device.user_id),
            "PREKEYS_LOW",
            {"device_id": str(device.id), "remaining": remaining},
        )


def serialize_device_keys(device: Device, prekey: OneTimePrekey | None) -> dict[str, Any]:
    return {
        "device_id": str(device.id),
        "identity_key": device.identity_key,
        "signed_prekey": {
            "key_id": device.signed_prekey_id,
            "public_key": device.signed_prekey,
            "signature": device.signed_prekey_signature,
        },
        "one_time_prekey": (
            {"key_id": prekey.key_id, "public_key": prekey.public_key} if prekey else None
        ),
    }


def fetch_key_bundle(requester: User, user_id: Any) -> dict[str, Any]:
    """Every active device's bundle for `user_id`; consumes one one-time prekey per device."""
    try:
        owner = User.objects.get(pk=int(user_id), is_active=True)
    except (User.DoesNotExist, TypeError, ValueError):
        raise NotFound("Unknown user") from None
    devices = []
    for device in Device.objects.active().filter(user=owner).order_by("id"):
        prekey = claim_one_time_prekey(device)
        devices.append(serialize_device_keys(device, prekey))
        with transaction.atomic():
            _warn_if_low(device)
    if requester.pk != owner.pk:
        KeyContact.objects.get_or_create(owner=owner, contact=requester)
    return {"user_id": str(owner.id), "devices": devices}


def list_devices(user: User) -> list[dict[str, Any]]:
    rows = (
        Device.objects.active()
        .filter(user=user)
        .annotate(prekeys=Count("one_time_prekeys"))
        .annotate(
            # A subquery, not a second join: joining sessions would multiply the prekey count.
            last_seen=Subquery(
                AuthSession.objects.filter(device=OuterRef("pk"))
                .order_by("-last_used_at")
                .values("last_used_at")[:1]
            )
        )
        .order_by("created_at")
    )
    return [
        {
            "id": str(d.id),
            "name": d.name,
            "identity_key": d.identity_key,
            "one_time_prekeys": d.prekeys,
            "created_at": d.created_at.isoformat(),
            "last_seen_at": (d.last_seen or d.created_at).isoformat(),
        }
        for d in rows
    ]


@transaction.atomic
def do_revoke_device(user: User, device: Device) -> None:
    Device.objects.filter(pk=device.pk).update(revoked_at=timezone.now())
    OneTimePrekey.objects.filter(device=device).delete()
    for session in AuthSession.objects.filter(device=device, revoked_at__isnull=True):
        do_revoke_session(session)
    audit.record("device_revoked", user=user, device=str(device.id))
    events.broadcast(events.user_group(user.id), "DEVICE_REVOKED", {"device_id": str(device.id)})
