"""Storing and delivering E2E envelopes, and publishing signed device lists.

The node never sees plaintext: it checks an envelope's shape and addressing (the sender is the
caller's own active device, every copy goes to an active device of a channel recipient), stores
one row per recipient device, and dispatches `E2E_ENVELOPE_CREATE` to each recipient's gateway
group with only that user's copies. Nothing here is indexed for search, previewed, pushed or
logged. `do_store_envelope()` is the one function other doors (federation) call to store and
fan out an envelope that was already validated (`do_add_copies()` adds the copies of a group
message that reach this node in more than one piece).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Device, User
from accounts.services import crypto
from accounts.services.moves import check_not_moved
from e2e.models import Envelope, EnvelopeCopy, HistoryChunk, KeyBackup, SignedDeviceList
from e2e.ports import remote_devices
from guilds.models import Channel
from guilds.services.access import unknown_channel
from messaging.services.dms import DM_TYPES, access_dm, e2e_required
from united import events, ratelimit
from united.errors import Invalid, NotFound
from united.hlc import clock

VERSION = 1
MAX_COPIES = 200
MAX_CIPHERTEXT = 65_536  # base64 characters per copy
MAX_NONCE = 64
MAX_PAGE = 100
ENVELOPE_KEYS = {"v", "channel_id", "sender", "copies", "nonce"}
COPY_KEYS = {"user_id", "device_id", "header", "x3dh", "ciphertext"}


def access_dm_channel(user: User, channel_id: Any) -> Channel:
    try:
        channel = Channel.objects.get(id=int(channel_id))
    except (Channel.DoesNotExist, TypeError, ValueError):
        raise unknown_channel() from None
    if channel.type not in DM_TYPES:
        raise unknown_channel()
    access_dm(user, channel)
    return channel


def _b64(value: Any, field: str, size: int | None = None, limit: int = 200) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Invalid(errors={field: ["Expected base64 text."]})
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(errors={field: ["Not valid base64."]}) from None
    if size is not None and len(raw) != size:
        raise Invalid(errors={field: [f"Expected {size} bytes."]})
    return value


def _uint(value: Any, field: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        raise Invalid(errors={field: ["Expected an integer from 0 to 2^32-1."]})
    return value


def _check_copy(item: Any, n: int) -> dict[str, Any]:
    f = f"copies[{n}]"
    if not isinstance(item, dict) or set(item) - COPY_KEYS:
        raise Invalid(errors={f: [f"An object with only {sorted(COPY_KEYS)}."]})
    header = item.get("header")
    if not isinstance(header, dict) or set(header) != {"dh", "pn", "n"}:
        raise Invalid(errors={f"{f}.header": ["Expected {dh, pn, n}."]})
    _b64(header["dh"], f"{f}.header.dh", 32)
    _uint(header["pn"], f"{f}.header.pn")
    _uint(header["n"], f"{f}.header.n")
    x3dh = item.get("x3dh")
    if x3dh is not None:
        if not isinstance(x3dh, dict) or set(x3dh) != {"ik", "ek", "spk_id", "opk_id"}:
            raise Invalid(errors={f"{f}.x3dh": ["Expected {ik, ek, spk_id, opk_id} or null."]})
        _b64(x3dh["ik"], f"{f}.x3dh.ik", 32)
        _b64(x3dh["ek"], f"{f}.x3dh.ek", 32)
        _uint(x3dh["spk_id"], f"{f}.x3dh.spk_id")
        _uint(x3dh["opk_id"], f"{f}.x3dh.opk_id", nullable=True)
    _b64(item.get("ciphertext"), f"{f}.ciphertext", limit=MAX_CIPHERTEXT)
    try:
        return {
            "user_id": int(item["user_id"]),
            "device_id": int(item["device_id"]),
            "header": header,
            "x3dh": x3dh,
            "ciphertext": item["ciphertext"],
        }
    except (KeyError, TypeError, ValueError):
        raise Invalid(errors={f: ["user_id and device_id are ids."]}) from None


def check_store_envelope(user: User, channel_id: Any, data: Any) -> tuple[Envelope, bool]:
    """Validate a client's envelope and store it. (envelope, created); a repeated nonce
    returns the first one."""
    check_not_moved(user)
    channel = access_dm_channel(user, channel_id)
    if not isinstance(data, dict):
        raise Invalid(errors={"_errors": ["Expected an envelope object."]})
    if "content" in data:
        raise e2e_required(channel.id)
    if set(data) - ENVELOPE_KEYS:
        raise Invalid(errors={"_errors": [f"Unknown fields {sorted(set(data) - ENVELOPE_KEYS)}."]})
    if data.get("v") != VERSION:
        raise Invalid(errors={"v": [f"Only version {VERSION} is understood."]})
    if str(data.get("channel_id")) != str(channel.id):
        raise Invalid(errors={"channel_id": ["Does not match the channel in the path."]})
    sender = data.get("sender")
    if not isinstance(sender, dict) or str(sender.get("user_id")) != str(user.id):
        raise Invalid(errors={"sender.user_id": ["Must be your own user id."]})
    try:
        # int(None) raises TypeError, which the except below turns into a 4xx.
        device = Device.objects.active().get(user=user, pk=int(sender.get("device_id")))  # type: ignore[arg-type]
    except (Device.DoesNotExist, TypeError, ValueError):
        raise Invalid(errors={"sender.device_id": ["Not one of your active devices."]}) from None
    nonce = data.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE):
        raise Invalid(errors={"nonce": [f"1 to {MAX_NONCE} characters."]})
    copies = data.get("copies")
    if not isinstance(copies, list) or not 0 < len(copies) <= MAX_COPIES:
        raise Invalid(errors={"copies": [f"A list of 1 to {MAX_COPIES} per-device copies."]})
    checked = [_check_copy(item, n) for n, item in enumerate(copies)]
    recipients = set(channel.recipients.values_list("id", flat=True))
    wanted = {c["device_id"] for c in checked}
    if len(wanted) != len(checked):
        raise Invalid(errors={"copies": ["One copy per device."]})
    if device.pk in wanted:
        raise Invalid(errors={"copies": ["No copy for the sending device itself."]})
    remote = remote_devices()
    far: dict[int, list[dict[str, Any]]] = {}
    if remote is not None:  # without federation every copy is for a device of this node
        checked, far = remote.split_copies(channel, checked)
        remote.check_remote_copies(channel, user, far)
    devices = {d.pk: d for d in Device.objects.filter(pk__in=wanted)}
    for n, item in enumerate(checked):
        if item["user_id"] not in recipients:  # e.g. someone who left the group
            raise Invalid(errors={f"copies[{n}].user_id": ["Not a recipient of this channel."]})
        target = devices.get(item["device_id"])
        if target is None or target.user_id != item["user_id"]:
            raise Invalid(errors={f"copies[{n}].device_id": ["Unknown device of that user."]})
        if target.revoked_at is not None:
            raise Invalid(
                "Message to a revoked device",
                errors={f"copies[{n}].device_id": ["This device was revoked."]},
            )
        if target.user_id not in recipients:
            raise Invalid(errors={f"copies[{n}].user_id": ["Not a recipient of this channel."]})
    if nonce is not None:
        existing = Envelope.objects.filter(channel=channel, sender=user, nonce=nonce).first()
        if existing is not None:
            return existing, False
    # An encrypted message is a message: it spends the sender's message allowance.
    ratelimit.limit_user("message", user.id, channel_id=channel.id)
    try:
        with transaction.atomic():
            envelope = do_store_envelope(channel, user, device.pk, checked, nonce=nonce)
            if remote is not None and far:  # copies for members of other nodes
                remote.relay(envelope, user, far)
            return envelope, True
    except IntegrityError:
        existing = Envelope.objects.filter(channel=channel, sender=user, nonce=nonce).first()
        if existing is None:
            raise
        return existing, False


def do_store_envelope(
    channel: Channel,
    sender: User,
    sender_device: int,
    copies: list[dict[str, Any]],
    *,
    nonce: str | None = None,
    hlc: int | None = None,
) -> Envelope:
    """Store an already validated envelope and dispatch it to every recipient's sessions."""
    with transaction.atomic():
        envelope = Envelope.objects.create(
            channel=channel,
            sender=sender,
            sender_device=sender_device,
            hlc=hlc if hlc is not None else clock().now().pack(),
            nonce=nonce,
            created_at=timezone.now(),
        )
        rows = EnvelopeCopy.objects.bulk_create(
            [
                EnvelopeCopy(
                    envelope=envelope,
                    user_id=c["user_id"],
                    device_id=c["device_id"],
                    header=c["header"],
                    x3dh=c["x3dh"],
                    ciphertext=c["ciphertext"],
                )
                for c in copies
            ]
        )
        for uid in {sender.pk, *(c["user_id"] for c in copies)}:
            mine = [r for r in rows if r.user_id == uid]
            events.broadcast(
                events.user_group(uid), "E2E_ENVELOPE_CREATE", serialize_envelope(envelope, mine)
            )
    return envelope


def do_add_copies(envelope: Envelope, copies: list[dict[str, Any]]) -> bool:
    """Add already validated copies for more devices to a stored envelope (a group message
    relayed from another node arrives once per member here) and dispatch them to their
    users. False if every one of those devices already had its copy."""
    with transaction.atomic():
        have = set(
            EnvelopeCopy.objects.filter(envelope=envelope).values_list("device_id", flat=True)
        )
        rows = EnvelopeCopy.objects.bulk_create(
            [
                EnvelopeCopy(
                    envelope=envelope,
                    user_id=c["user_id"],
                    device_id=c["device_id"],
                    header=c["header"],
                    x3dh=c["x3dh"],
                    ciphertext=c["ciphertext"],
                )
                for c in copies
                if c["device_id"] not in have
            ]
        )
        for uid in {r.user_id for r in rows}:
            mine = [r for r in rows if r.user_id == uid]
            events.broadcast(
                events.user_group(uid), "E2E_ENVELOPE_CREATE", serialize_envelope(envelope, mine)
            )
    return bool(rows)


def serialize_copy(row: EnvelopeCopy) -> dict[str, Any]:
    return {
        "user_id": str(row.user_id),
        "device_id": str(row.device_id),
        "header": row.header,
        "x3dh": row.x3dh,
        "ciphertext": row.ciphertext,
    }


def serialize_envelope(envelope: Envelope, copies: list[EnvelopeCopy]) -> dict[str, Any]:
    return {
        "id": str(envelope.id),
        "v": VERSION,
        "channel_id": str(envelope.channel_id),
        "sender": {
            "user_id": str(envelope.sender_id) if envelope.sender_id else None,
            "device_id": str(envelope.sender_device),
        },
        "copies": [serialize_copy(r) for r in copies],
        "nonce": envelope.nonce,
        "hlc": str(envelope.hlc),
        "created_at": envelope.created_at.isoformat(),
    }


def list_envelopes(
    user: User, channel_id: Any, device_id: Any, *, after: Any = None, limit: Any = 50
) -> list[dict[str, Any]]:
    """History for one of the caller's devices: envelopes with a copy for it, oldest first."""
    channel = access_dm_channel(user, channel_id)
    try:
        device = Device.objects.get(user=user, pk=int(device_id))
    except (Device.DoesNotExist, TypeError, ValueError):
        raise Invalid(errors={"device_id": ["One of your devices."]}) from None
    try:
        limit = max(1, min(MAX_PAGE, int(limit)))
        after_id = int(after) if after else 0
    except (TypeError, ValueError):
        raise Invalid(errors={"after": ["An envelope id."], "limit": ["1 to 100."]}) from None
    rows = (
        EnvelopeCopy.objects.filter(device=device, envelope__channel=channel)
        .filter(envelope_id__gt=after_id)
        .select_related("envelope")
        .order_by("envelope__hlc", "envelope_id")[:limit]
    )
    return [serialize_envelope(r.envelope, [r]) for r in rows]


# --- signed device lists ------------------------------------------------------------------
CONTEXT = b"UNITED_DEVICE_LIST_v1\n"


def last_activity(channel_ids: list[int]) -> dict[int, int]:
    """The newest envelope id of each of these DM channels (those with one), so a DM list can
    put the most recent conversation first without reading anything of what was said."""
    rows = (
        Envelope.objects.filter(channel_id__in=channel_ids)
        .values("channel_id")
        .annotate(last=Max("id"))
        .values_list("channel_id", "last")
    )
    return dict(rows)


def check_publish_device_list(user: User, data: Any) -> SignedDeviceList:
    """Store a newer device list if it is signed by one of the account's active devices on
    the list (or its recovery key). Clients check the signature chain themselves; this only
    keeps a node from serving garbage."""
    if not isinstance(data, dict):
        raise Invalid(errors={"_errors": ["Expected {payload, signature, signer}."]})
    payload, signer = data.get("payload"), data.get("signer")
    if not isinstance(payload, str) or len(payload) > 16_384:
        raise Invalid(errors={"payload": ["The signed JSON text."]})
    signature = crypto.decode_key(data.get("signature"), "signature", crypto.SIGNATURE_BYTES)
    try:
        parsed = json.loads(payload)
        version = parsed["version"]
        listed = {str(d["device_id"]): d["identity_key"] for d in parsed["devices"]}
        if parsed.get("v") != 1 or not isinstance(version, int) or version < 1:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise Invalid(errors={"payload": ["Not a v1 device list."]}) from None
    if str(parsed.get("user_id")) != str(user.id):
        raise Invalid(errors={"payload": ["The list must name your own user id."]})
    if signer == "recovery":
        key = user.recovery_public_key
        if not key or parsed.get("recovery_key") != key:
            raise Invalid(errors={"signer": ["No recovery key on this account or the list."]})
    else:
        try:
            # int(None) raises TypeError, which the except below turns into a 4xx.
            device = Device.objects.active().get(user=user, pk=int(signer))  # type: ignore[arg-type]
        except (Device.DoesNotExist, TypeError, ValueError):
            raise Invalid(errors={"signer": ["One of your active devices."]}) from None
        if listed.get(str(device.pk)) != device.identity_key:
            raise Invalid(errors={"signer": ["The signing device must be on the list."]})
        key = device.identity_key
    raw_key = crypto.decode_key(key, "signer")
    if not crypto.verify(raw_key, CONTEXT + payload.encode(), signature):
        raise Invalid("Bad signature", errors={"signature": ["Does not verify."]})
    with transaction.atomic():
        current = SignedDeviceList.objects.select_for_update().filter(user=user).first()
        if current is not None and version <= current.version:
            raise Invalid(errors={"payload": [f"version must be above {current.version}."]})
        row, _ = SignedDeviceList.objects.update_or_create(
            user=user,
            defaults={
                "version": version,
                "payload": payload,
                "signature": data["signature"],
                "signer": str(signer),
                "updated_at": timezone.now(),
            },
        )
        _announce_device_list(user, version)
    return row


def _announce_device_list(user: User, version: int) -> None:
    """Tell the account's own sessions and everyone it shares a DM with that its signed list
    changed: a device just approved starts receiving, and a message waiting on a contact's
    device (docs/e2e.md, "A first message to someone with no device") is sent at once.
    DM partners are few, so one event per partner is fine here."""
    # Two steps: filtering on recipients and reading them in one query reuses the one join
    # and yields only `user`.
    dms = Channel.objects.filter(type__in=DM_TYPES, recipients=user).values("id")
    partners = set(
        Channel.objects.filter(id__in=dms).values_list("recipients", flat=True).distinct()
    )
    payload = {"user_id": str(user.id), "version": version}
    for uid in sorted(partners | {user.pk}):
        events.broadcast(events.user_group(uid), "E2E_DEVICE_LIST_UPDATE", payload)


def get_device_list(user_id: Any) -> dict[str, Any]:
    try:
        row = SignedDeviceList.objects.get(user_id=int(user_id))
    except (SignedDeviceList.DoesNotExist, TypeError, ValueError):
        raise NotFound("This account has published no device list") from None
    return {"payload": row.payload, "signature": row.signature, "signer": row.signer}


# --- key backup ---------------------------------------------------------------------------
MAX_BACKUP = 16_384  # base64 characters


def check_put_backup(user: User, data: Any) -> KeyBackup:
    if not isinstance(data, dict) or data.get("v") != 1:
        raise Invalid(errors={"v": ["Expected a version 1 backup object."]})
    nonce = _b64(data.get("nonce"), "nonce", 24)
    ciphertext = _b64(data.get("ciphertext"), "ciphertext", limit=MAX_BACKUP)
    row, _ = KeyBackup.objects.update_or_create(
        user=user,
        defaults={"nonce": nonce, "ciphertext": ciphertext, "updated_at": timezone.now()},
    )
    return row


def get_backup(user: User) -> dict[str, Any]:
    row = KeyBackup.objects.filter(user=user).first()
    if row is None:
        raise NotFound("No key backup")
    return {"v": 1, "nonce": row.nonce, "ciphertext": row.ciphertext}


# --- history backup -----------------------------------------------------------------------
MAX_HISTORY_CHUNK = 262_144  # base64 characters of one sealed chunk
MAX_HISTORY_CHUNKS = 4_000  # chunks per account
MAX_HISTORY_PAGE = 50
CHUNK_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _chunk_name(name: Any) -> str:
    if not isinstance(name, str) or not CHUNK_NAME.match(name):
        raise Invalid(errors={"name": ["1 to 64 letters, digits, '-' or '_'."]})
    return name


def check_put_history_chunk(user: User, name: Any, data: Any) -> HistoryChunk:
    """Store (or replace) one sealed chunk of the account's history backup. The node cannot
    open it; it only bounds its size and the number of chunks."""
    name = _chunk_name(name)
    if not isinstance(data, dict) or data.get("v") != 1:
        raise Invalid(errors={"v": ["Expected a version 1 history chunk."]})
    nonce = _b64(data.get("nonce"), "nonce", 24)
    ciphertext = _b64(data.get("ciphertext"), "ciphertext", limit=MAX_HISTORY_CHUNK)
    with transaction.atomic():
        exists = HistoryChunk.objects.filter(user=user, name=name).exists()
        if not exists and HistoryChunk.objects.filter(user=user).count() >= MAX_HISTORY_CHUNKS:
            raise Invalid(
                "History backup full",
                errors={"name": [f"At most {MAX_HISTORY_CHUNKS} history chunks per account."]},
            )
        row, _ = HistoryChunk.objects.update_or_create(
            user=user,
            name=name,
            defaults={"nonce": nonce, "ciphertext": ciphertext, "updated_at": timezone.now()},
        )
    return row


def do_delete_history_chunk(user: User, name: Any) -> None:
    HistoryChunk.objects.filter(user=user, name=_chunk_name(name)).delete()


def serialize_chunk(row: HistoryChunk) -> dict[str, Any]:
    return {
        "v": 1,
        "name": row.name,
        "nonce": row.nonce,
        "ciphertext": row.ciphertext,
        "updated_at": row.updated_at.isoformat(),
    }


def list_history_chunks(user: User, *, after: Any = None, limit: Any = None) -> list[dict]:
    """The account's sealed history chunks in name order, a page at a time."""
    try:
        size = max(1, min(MAX_HISTORY_PAGE, int(limit or MAX_HISTORY_PAGE)))
    except (TypeError, ValueError):
        raise Invalid(errors={"limit": [f"1 to {MAX_HISTORY_PAGE}."]}) from None
    rows = HistoryChunk.objects.filter(user=user)
    if after:
        rows = rows.filter(name__gt=_chunk_name(after))
    return [serialize_chunk(r) for r in rows.order_by("name")[:size]]
