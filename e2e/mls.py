"""The node as the MLS delivery service of end-to-end encrypted guild channels (RFC 9420).

The members' devices run MLS (ts-mls in the browser, static/src/e2e-mls/); the node never
holds a group secret and never opens an MLS message. What it does (docs/e2e.md, "Encrypted
channels (MLS)"):

- keeps one-time KeyPackages per device, so a member's device can be added while offline:
  uploaded in batches, each handed out at most once, its digest kept so it is never accepted
  again; the owner hears `MLS_KEY_PACKAGES_LOW` when few are left;
- keeps, per encrypted channel, an `MlsGroup` with its epoch and an ordered log (`MlsEntry`,
  numbered by `seq`) of commits, proposals, welcomes and application messages;
- accepts exactly one commit per epoch: the commit names the epoch it was made in and moves
  the group on with a compare-and-swap on that epoch, so a second commit for the same epoch
  gets 409 with the current epoch and its device re-bases (applies the winner, then commits
  again if there is still something to do). An application message or a proposal must be
  made in the current epoch for the same reason;
- checks permissions the way plaintext channels do: VIEW_CHANNEL to read the log and take
  part in handshakes, SEND_MESSAGES to post an application message, MANAGE_CHANNELS to turn
  encryption on (irreversible: the channel never accepts plaintext again).

Who should be in the group is decided by the guild (VIEW_CHANNEL); `group_state()` lists those
members and their devices, and whichever member's device commits first adds and removes. The
node cannot enforce a removal cryptographically; it stops serving the log to whoever lost
VIEW_CHANNEL at once, and the next commit of any member removes their leaves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from accounts.models import Device, User
from e2e.models import MlsEntry, MlsGroup, MlsKeyPackage
from guilds import permissions as perms
from guilds.models import Channel, ChannelType
from guilds.services.access import ChannelAccess, access_channel, guild_visibility
from united import events, ratelimit
from united.errors import APIError, Invalid, NotFound
from united.hlc import clock

CIPHER_SUITE = 1  # MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, the only one offered
MAX_KEY_PACKAGE = 4096  # base64 characters of one KeyPackage (a suite-1 one is ~400)
MAX_UPLOAD = 50  # KeyPackages in one upload
MAX_UNCLAIMED = 100  # unclaimed KeyPackages one device may hold
LOW_WATER = 10  # fewer unclaimed than this: the owner is told to top up
MAX_CLAIM = 100  # devices in one claim
MAX_HANDSHAKE = 262_144  # base64 characters of a commit or a proposal
MAX_WELCOME = 1_048_576  # base64 characters of a welcome (it carries the ratchet tree)
MAX_WELCOME_DEVICES = 100
MAX_MESSAGE = 65_536  # base64 characters of an application message
MAX_NONCE = 64
MAX_PAGE = 200
ENCRYPTABLE_TYPES = frozenset({ChannelType.GUILD_TEXT})
THREAD_TYPES = frozenset({ChannelType.PUBLIC_THREAD})
STALE_EPOCH = 40911  # ours: the message was made in an epoch that is no longer current
NOT_ENCRYPTED = 40912
MLS_REQUIRED = 50056


def group_id_of(channel_id: int) -> str:
    """The MLS group id of a channel's group (base64): fixed, so every device derives it."""
    return base64.b64encode(f"united:channel:{channel_id}".encode()).decode()


def stale_epoch(current: int) -> APIError:
    return APIError(
        "The group has moved to a newer epoch: apply the log from your last position, then "
        "send again.",
        code=STALE_EPOCH,
        status=409,
        errors={"epoch": [str(current)]},
    )


def mls_required(channel_id: int) -> APIError:
    return APIError(
        "This channel is end-to-end encrypted: the node accepts no plaintext here. Encrypt on "
        f"your device and POST to /api/v1/channels/{channel_id}/mls/messages (docs/e2e.md).",
        code=MLS_REQUIRED,
        status=400,
    )


# --- is a channel encrypted? ---------------------------------------------------------------
# Asked on every plaintext send and every search indexing of a guild message, so the answer is
# kept in the cache (in-process embedded, Redis in production): a group is never deleted while
# its channel lives, so a cached "yes" cannot go stale; a "no" is dropped by `do_enable()` and
# replaced by "yes" once it commits, in the cache every process shares.
def _cache_key(channel_id: int) -> str:
    return f"e2e:mls:{channel_id}"


def _has_group(channel_id: int) -> bool:
    known = cache.get(_cache_key(channel_id))
    if known is None:
        known = MlsGroup.objects.filter(channel_id=channel_id).exists()
        if known:
            cache.set(_cache_key(channel_id), True, None)
        else:
            # `add`, never `set`: a "no" read before a concurrent `do_enable()` committed must
            # not overwrite the "yes" it writes once committed.
            cache.add(_cache_key(channel_id), False, 300)
    return bool(known)


def is_mls_channel(channel: Channel) -> bool:
    """An encrypted channel, or a thread of one (threads inside the encryption are not
    offered yet, so a thread there takes no plaintext either)."""
    if channel.guild_id is None:
        return False
    if _has_group(channel.id):
        return True
    return bool(
        channel.type in THREAD_TYPES and channel.parent_id and _has_group(channel.parent_id)
    )


# --- small validators ----------------------------------------------------------------------
def _b64(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid(errors={field: ["Expected base64 text."]})
    if len(value) > limit:
        raise APIError(
            f"{field} is larger than {limit} base64 characters.",
            status=413,
            code=40005,
            errors={field: [f"At most {limit} base64 characters."]},
        )
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(errors={field: ["Not valid base64."]}) from None
    return value


def _object(data: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    unknown = set(data) - allowed
    if unknown:
        raise Invalid(errors={"_errors": [f"Unknown fields {sorted(unknown)}."]})
    return data


def _epoch(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise Invalid(errors={"epoch": ["The epoch the message was made in (an integer)."]})
    return value


def _id(value: Any, field: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise Invalid(errors={field: ["An id."]}) from None
    if not 0 < n < 2**63:
        raise Invalid(errors={field: ["An id."]})
    return n


def _own_device(user: User, value: Any) -> Device:
    device_id = _id(value, "device_id")
    device = Device.objects.active().filter(user=user, pk=device_id).first()
    if device is None:
        raise Invalid(errors={"device_id": ["Not one of your active devices."]})
    return device


def _nonce(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_NONCE):
        raise Invalid(errors={"nonce": [f"1 to {MAX_NONCE} characters."]})
    return value


# --- turning encryption on -----------------------------------------------------------------
def access_group(user: User, channel_id: int) -> tuple[ChannelAccess, MlsGroup]:
    """The channel (404 unless the user sees it) and its MLS group (404 if it has none)."""
    access = access_channel(user, channel_id)
    group = MlsGroup.objects.filter(channel_id=access.channel.id).first()
    if group is None:
        raise NotFound("This channel is not end-to-end encrypted", code=NOT_ENCRYPTED)
    return access, group


def check_enable(user: User, channel_id: int, data: Any) -> tuple[MlsGroup, bool]:
    """Turn a guild text channel end-to-end encrypted. (group, created); asking again answers
    with the existing group."""
    data = _object(data if data is not None else {}, {"cipher_suite"})
    access = access_channel(user, channel_id)
    access.require(perms.P.MANAGE_CHANNELS)
    if access.channel.type not in ENCRYPTABLE_TYPES:
        raise Invalid(errors={"channel_id": ["Only text channels can be end-to-end encrypted."]})
    suite = data.get("cipher_suite", CIPHER_SUITE)
    if suite != CIPHER_SUITE:
        raise Invalid(errors={"cipher_suite": [f"Only cipher suite {CIPHER_SUITE} is offered."]})
    existing = MlsGroup.objects.filter(channel_id=access.channel.id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return do_enable(access.channel, user), True
    except IntegrityError:  # enabled concurrently: one group, whoever won
        return MlsGroup.objects.get(channel_id=access.channel.id), False


def do_enable(channel: Channel, actor: User | None) -> MlsGroup:
    with transaction.atomic():
        group = MlsGroup.objects.create(
            channel=channel, cipher_suite=CIPHER_SUITE, created_by=actor
        )
        events.broadcast(
            events.guild_group(channel.guild_id),  # type: ignore[arg-type]
            "MLS_GROUP_CREATE",
            serialize_group(group),
            actor=actor,
        )
        # A cached "no" goes now (readers then ask the table); "yes" is written once committed.
        cache.delete(_cache_key(channel.id))
        transaction.on_commit(lambda: cache.set(_cache_key(channel.id), True, None))
    return group


def serialize_group(group: MlsGroup) -> dict[str, Any]:
    return {
        "channel_id": str(group.channel_id),
        "guild_id": str(group.channel.guild_id),
        "group_id": group_id_of(group.channel_id),
        "cipher_suite": group.cipher_suite,
        "epoch": group.epoch,
        "seq": group.seq,
        "created_at": group.created_at.isoformat(),
    }


def group_state(user: User, channel_id: int) -> dict[str, Any]:
    """The group's position, and who should be in it: every member who may see the channel,
    with their active devices and how many KeyPackages each has left (0: cannot be added
    until it uploads some)."""
    access, group = access_group(user, channel_id)
    channel = access.channel
    seeing = [
        uid
        for uid, channels in guild_visibility(channel.guild_id).items()  # type: ignore[arg-type]
        if channel.id in channels
    ]
    users = {u.id: u for u in User.objects.filter(id__in=seeing)}
    devices = Device.objects.active().filter(user_id__in=seeing).order_by("user_id", "id")
    free = dict(
        MlsKeyPackage.objects.filter(user_id__in=seeing, claimed_at__isnull=True)
        .values("device_id")
        .annotate(n=Count("id"))
        .values_list("device_id", "n")
    )
    members: dict[int, dict[str, Any]] = {}
    for uid in sorted(seeing):
        if uid in users:
            members[uid] = {
                "user_id": str(uid),
                "username": users[uid].username,
                "devices": [],
            }
    for device in devices:
        if device.user_id in members:
            members[device.user_id]["devices"].append(
                {
                    "id": str(device.id),
                    "name": device.name,
                    "identity_key": device.identity_key,
                    "key_packages": free.get(device.id, 0),
                }
            )
    return {**serialize_group(group), "members": list(members.values())}


# --- key packages ----------------------------------------------------------------------------
def key_package_count(device: Device) -> int:
    return MlsKeyPackage.objects.filter(device=device, claimed_at__isnull=True).count()


def check_upload_key_packages(user: User, data: Any) -> dict[str, Any]:
    data = _object(data, {"device_id", "key_packages"})
    device = _own_device(user, data.get("device_id"))
    batch = data.get("key_packages")
    if not isinstance(batch, list) or not 0 < len(batch) <= MAX_UPLOAD:
        raise Invalid(errors={"key_packages": [f"A list of 1 to {MAX_UPLOAD} KeyPackages."]})
    items = [_b64(kp, f"key_packages[{n}]", MAX_KEY_PACKAGE) for n, kp in enumerate(batch)]
    digests = [hashlib.sha256(base64.b64decode(kp)).hexdigest() for kp in items]
    if len(set(digests)) != len(digests):
        raise Invalid(errors={"key_packages": ["The same KeyPackage twice."]})
    ratelimit.limit_user("mls.keys", user.id)
    with transaction.atomic():
        have = key_package_count(device)
        if have + len(items) > MAX_UNCLAIMED:
            raise Invalid(
                errors={
                    "key_packages": [
                        f"A device holds at most {MAX_UNCLAIMED} unclaimed KeyPackages "
                        f"({have} now)."
                    ]
                }
            )
        seen = set(
            MlsKeyPackage.objects.filter(digest__in=digests).values_list("digest", flat=True)
        )
        if seen:
            raise APIError(
                "A KeyPackage was uploaded before: each is used once, make new ones.",
                status=409,
                errors={"key_packages": [f"{len(seen)} already uploaded."]},
            )
        try:
            with transaction.atomic():
                MlsKeyPackage.objects.bulk_create(
                    [
                        MlsKeyPackage(user=user, device=device, digest=d, data=kp)
                        for kp, d in zip(items, digests, strict=True)
                    ]
                )
        except IntegrityError:
            raise APIError(
                "A KeyPackage was uploaded before: each is used once, make new ones.",
                status=409,
            ) from None
    return {"device_id": str(device.id), "count": key_package_count(device)}


def own_key_package_count(user: User, device_id: Any) -> dict[str, Any]:
    device = _own_device(user, device_id)
    return {"device_id": str(device.id), "count": key_package_count(device)}


def check_claim_key_packages(user: User, channel_id: int, data: Any) -> dict[str, Any]:
    """One KeyPackage for each asked device, each handed out once. Only for adding to this
    channel's group: the caller and every device's owner must see the channel."""
    access, _group = access_group(user, channel_id)
    data = _object(data, {"device_ids"})
    wanted = data.get("device_ids")
    if not isinstance(wanted, list) or not 0 < len(wanted) <= MAX_CLAIM:
        raise Invalid(errors={"device_ids": [f"A list of 1 to {MAX_CLAIM} device ids."]})
    ids = list(dict.fromkeys(_id(d, "device_ids") for d in wanted))
    devices = {d.pk: d for d in Device.objects.active().filter(pk__in=ids)}
    channel = access.channel
    visible = guild_visibility(
        channel.guild_id,  # type: ignore[arg-type]
        {d.user_id for d in devices.values()},
    )
    for n, device_id in enumerate(ids):
        device = devices.get(device_id)
        if device is None:
            raise Invalid(errors={f"device_ids[{n}]": ["Unknown or revoked device."]})
        if channel.id not in visible.get(device.user_id, frozenset()):
            raise Invalid(errors={f"device_ids[{n}]": ["Its owner cannot see this channel."]})
    ratelimit.limit_user("mls.claim", user.id, channel_id=channel.id)
    claimed: list[dict[str, Any]] = []
    missing: list[str] = []
    low: list[tuple[int, int, int]] = []
    with transaction.atomic():
        for device_id in ids:
            row = _claim_one(device_id, user)
            if row is None:
                missing.append(str(device_id))
                continue
            claimed.append(
                {"device_id": str(device_id), "user_id": str(row.user_id), "key_package": row.data}
            )
            left = key_package_count(devices[device_id])
            if left < LOW_WATER:
                low.append((row.user_id, device_id, left))
            MlsKeyPackage.objects.filter(pk=row.pk).update(data="")
        for owner, device_id, left in low:
            events.broadcast(
                events.user_group(owner),
                "MLS_KEY_PACKAGES_LOW",
                {"device_id": str(device_id), "count": left},
            )
    return {"key_packages": claimed, "missing": missing}


def _claim_one(device_id: int, claimer: User) -> MlsKeyPackage | None:
    # A compare-and-set per candidate: two claimers racing for the same package both read it,
    # only one UPDATE matches `claimed_at IS NULL`, the other moves to the next package.
    for row in MlsKeyPackage.objects.filter(device_id=device_id, claimed_at__isnull=True).order_by(
        "id"
    )[:5]:
        won = MlsKeyPackage.objects.filter(pk=row.pk, claimed_at__isnull=True).update(
            claimed_at=timezone.now(), claimed_by=claimer
        )
        if won:
            return row
    return None


# --- the log ---------------------------------------------------------------------------------
def _append(
    group: MlsGroup,
    entries: list[dict[str, Any]],
    *,
    commit_epoch: int | None = None,
    require_epoch: int | None = None,
) -> list[MlsEntry]:
    """Append entries to the log in one transaction. `commit_epoch`: the first entry is the
    commit of that epoch; it is accepted only if the group is still in it (then the group moves
    to the next). `require_epoch`: the group must be in that epoch."""
    n = len(entries)
    moved = MlsGroup.objects.filter(pk=group.pk)
    if commit_epoch is not None:
        changed = moved.filter(epoch=commit_epoch).update(epoch=F("epoch") + 1, seq=F("seq") + n)
    elif require_epoch is not None:
        changed = moved.filter(epoch=require_epoch).update(seq=F("seq") + n)
    else:
        changed = moved.update(seq=F("seq") + n)
    fresh = MlsGroup.objects.get(pk=group.pk)
    if not changed:
        raise stale_epoch(fresh.epoch)
    first = fresh.seq - n + 1
    hlc = clock().now().pack()
    return MlsEntry.objects.bulk_create(
        [MlsEntry(group=group, seq=first + i, hlc=hlc, **e) for i, e in enumerate(entries)]
    )


def _dispatch(group: MlsGroup, row: MlsEntry, actor: User) -> None:
    d = serialize_entry(row, group.channel)
    if row.kind == MlsEntry.Kind.WELCOME:
        # Only the added devices can open a welcome; their owners' sessions get it.
        owners = set(
            Device.objects.filter(pk__in=[int(x) for x in row.recipients]).values_list(
                "user_id", flat=True
            )
        )
        for uid in owners:
            events.broadcast(events.user_group(uid), "MLS_WELCOME", d, actor=actor)
        return
    t = "MLS_MESSAGE_CREATE" if row.kind == MlsEntry.Kind.APPLICATION else "MLS_HANDSHAKE"
    events.broadcast(events.guild_group(group.channel.guild_id), t, d, actor=actor)  # type: ignore[arg-type]


def check_post_commit(user: User, channel_id: int, data: Any) -> list[MlsEntry]:
    """Store a commit made in `epoch` (and the welcome for the devices it adds) if nobody
    committed in that epoch yet; else 409 with the current epoch."""
    access, group = access_group(user, channel_id)
    data = _object(data, {"device_id", "epoch", "commit", "welcome", "welcome_devices"})
    device = _own_device(user, data.get("device_id"))
    epoch = _epoch(data.get("epoch"))
    commit = _b64(data.get("commit"), "commit", MAX_HANDSHAKE)
    entries = [
        {
            "kind": MlsEntry.Kind.COMMIT,
            "epoch": epoch,
            "sender": user,
            "sender_device": device.pk,
            "data": commit,
        }
    ]
    welcome = data.get("welcome")
    if welcome is not None:
        _b64(welcome, "welcome", MAX_WELCOME)
        targets = data.get("welcome_devices")
        if not isinstance(targets, list) or not 0 < len(targets) <= MAX_WELCOME_DEVICES:
            raise Invalid(
                errors={
                    "welcome_devices": [f"The 1 to {MAX_WELCOME_DEVICES} devices the welcome adds."]
                }
            )
        ids = sorted({_id(t, "welcome_devices") for t in targets})
        found = Device.objects.active().filter(pk__in=ids)
        owners = {d.pk: d.user_id for d in found}
        channel = access.channel
        visible = guild_visibility(channel.guild_id, set(owners.values()))  # type: ignore[arg-type]
        for device_id in ids:
            if device_id not in owners:
                raise Invalid(errors={"welcome_devices": [f"{device_id}: unknown device."]})
            if channel.id not in visible.get(owners[device_id], frozenset()):
                raise Invalid(
                    errors={"welcome_devices": [f"{device_id}: its owner cannot see the channel."]}
                )
        entries.append(
            {
                "kind": MlsEntry.Kind.WELCOME,
                "epoch": epoch + 1,
                "sender": user,
                "sender_device": device.pk,
                "data": welcome,
                "recipients": [str(i) for i in ids],
            }
        )
    elif data.get("welcome_devices"):
        raise Invalid(errors={"welcome_devices": ["Given without a welcome."]})
    ratelimit.limit_user("mls.handshake", user.id, channel_id=access.channel.id)
    with transaction.atomic():
        rows = _append(group, entries, commit_epoch=epoch)
        for row in rows:
            _dispatch(group, row, user)
    return rows


def check_post_proposal(user: User, channel_id: int, data: Any) -> MlsEntry:
    """A proposal (e.g. a member's device asking to be removed when it leaves) for the
    current epoch; the next commit may include it."""
    access, group = access_group(user, channel_id)
    data = _object(data, {"device_id", "epoch", "proposal"})
    device = _own_device(user, data.get("device_id"))
    epoch = _epoch(data.get("epoch"))
    proposal = _b64(data.get("proposal"), "proposal", MAX_HANDSHAKE)
    ratelimit.limit_user("mls.handshake", user.id, channel_id=access.channel.id)
    with transaction.atomic():
        [row] = _append(
            group,
            [
                {
                    "kind": MlsEntry.Kind.PROPOSAL,
                    "epoch": epoch,
                    "sender": user,
                    "sender_device": device.pk,
                    "data": proposal,
                }
            ],
            require_epoch=epoch,
        )
        _dispatch(group, row, user)
    return row


def check_post_message(user: User, channel_id: int, data: Any) -> tuple[MlsEntry, bool]:
    """An application message (ciphertext) made in the current epoch. (entry, created); a
    repeated nonce answers with the first."""
    access, group = access_group(user, channel_id)
    access.require(perms.P.SEND_MESSAGES)
    data = _object(data, {"device_id", "epoch", "ciphertext", "nonce"})
    device = _own_device(user, data.get("device_id"))
    epoch = _epoch(data.get("epoch"))
    ciphertext = _b64(data.get("ciphertext"), "ciphertext", MAX_MESSAGE)
    nonce = _nonce(data.get("nonce"))
    if nonce is not None:
        existing = MlsEntry.objects.filter(group=group, sender=user, nonce=nonce).first()
        if existing is not None:
            return existing, False
    # An encrypted message is a message: it spends the sender's message allowance.
    ratelimit.limit_user("message", user.id, channel_id=access.channel.id)
    try:
        with transaction.atomic():
            [row] = _append(
                group,
                [
                    {
                        "kind": MlsEntry.Kind.APPLICATION,
                        "epoch": epoch,
                        "sender": user,
                        "sender_device": device.pk,
                        "data": ciphertext,
                        "nonce": nonce,
                    }
                ],
                require_epoch=epoch,
            )
            _dispatch(group, row, user)
            return row, True
    except IntegrityError:
        existing = MlsEntry.objects.filter(group=group, sender=user, nonce=nonce).first()
        if existing is None:
            raise
        return existing, False


def check_knock(user: User, channel_id: int, data: Any) -> None:
    """A device that is not in the group yet (new, or its member just got the channel) asks
    the members' devices online to add it now rather than at their next periodic check. Not
    stored: a device that knocks while nobody is online is added by the next one to come."""
    access, _group = access_group(user, channel_id)
    data = _object(data, {"device_id"})
    device = _own_device(user, data.get("device_id"))
    ratelimit.limit_user("mls.handshake", user.id, channel_id=access.channel.id)
    events.broadcast_ephemeral(
        events.guild_group(access.channel.guild_id),  # type: ignore[arg-type]
        "MLS_KNOCK",
        {
            "channel_id": str(access.channel.id),
            "guild_id": str(access.channel.guild_id),
            "user_id": str(user.id),
            "device_id": str(device.pk),
        },
    )


def serialize_entry(row: MlsEntry, channel: Channel) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "seq": row.seq,
        "channel_id": str(channel.id),
        "guild_id": str(channel.guild_id),
        "kind": row.kind,
        "epoch": row.epoch,
        "sender": {
            "user_id": str(row.sender_id) if row.sender_id else None,
            "device_id": str(row.sender_device),
        },
        "data": row.data,
        "recipients": row.recipients,
        "nonce": row.nonce,
        "created_at": row.created_at.isoformat(),
    }


def list_entries(
    user: User, channel_id: int, *, device_id: Any, after: Any = None, limit: Any = None
) -> dict[str, Any]:
    """The log after position `after`, oldest first. Welcomes appear only to the devices they
    add (device_id: one of the caller's devices)."""
    access, group = access_group(user, channel_id)
    device = _own_device(user, device_id)
    try:
        after_seq = int(after) if after not in (None, "") else 0
        size = max(1, min(MAX_PAGE, int(limit))) if limit not in (None, "") else MAX_PAGE
    except (TypeError, ValueError):
        raise Invalid(
            errors={"after": ["A log position."], "limit": [f"1 to {MAX_PAGE}."]}
        ) from None
    rows = list(MlsEntry.objects.filter(group=group, seq__gt=after_seq).order_by("seq")[:size])
    mine = str(device.pk)
    out = [
        serialize_entry(r, access.channel)
        for r in rows
        if r.kind != MlsEntry.Kind.WELCOME or mine in r.recipients
    ]
    return {
        "entries": out,
        "next": rows[-1].seq if rows else after_seq,
        "epoch": group.epoch,
        "seq": group.seq,
    }
