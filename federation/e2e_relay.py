"""End-to-end encrypted DMs between members of different nodes.

A cross-node 1:1 DM is the same channel on both nodes: its id is derived from the two
members' actor ids (`dm_channel_id`), so each node makes it on its own and the id bound into
every ciphertext (docs/e2e.md, "Context") is the same on both sides. Device ids are the home
node's snowflakes on every node. User ids are node-local, so clients bind the **home** user
id named in each member's signed device list (the context uses `pins[user].user_id`).

- Device lists and key bundles of a remote member (`name@node`, a RemoteUser row) are fetched
  from their home node by a signed request (`GET /users/<name>/device-list` and `…/keys`,
  signed under the asking member's actor id). The signed device list is checked here as the
  local path checks a PUT (a v1 list, signed by a device on it or the recovery key it names,
  the version never going back) and kept as the shadow's SignedDeviceList, so the node can
  tell which device ids a copy may address, and still serve it when the home node is down.
- Sending: the member posts an envelope to their own node exactly as for a local DM. The node
  stores it (its own members' copies in EnvelopeCopy) and, in the same transaction, puts the
  remote member's copies into one `DeviceMessage` activity (payload `{"e2e": 1, …}`, below)
  for the delivery engine: signed, retried, ordered, idempotent by activity id.
- Receiving (`handle_envelope`): the home node checks the activity's actor (the inbox already
  verified the signature and the origin), that the payload names the channel derived from
  the two actors, every device an active device of the addressed member, the copies' shape and
  size; then stores it with `e2e.services.do_store_envelope` under the sender's `name@node`
  account, so the recipient's client reads it like any envelope (E2E_ENVELOPE_CREATE, history).
  The payload carries the sender node's envelope id as `id`: the same envelope relayed twice
  (a new activity id, same `id`) is stored once.

Only ciphertext crosses: the payload has the per-device header, the X3DH header, the
ciphertext and ids; no node can read a message.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Device, User
from accounts.services import crypto
from federation import activities, actors, delivery, groupdms, http, people, policy, remote
from federation.models import FederatedGroup, InboxItem, InboxState, RemoteActor, RemoteUser
from guilds.models import Channel, ChannelType
from united.errors import Forbidden, Invalid, NotFound

PAYLOAD_VERSION = 1
MAX_RELAY = 192 * 1024  # bytes of JSON per relayed envelope (the inbox takes 256 KiB)
E2E_KEYS = {"e2e", "id", "channel_id", "sender_device", "hlc", "copies"}


def dm_channel_id(uri_a: str, uri_b: str) -> int:
    """The id both nodes give the DM between two actors: 63 bits of a SHA-256 over both ids."""
    digest = hashlib.sha256(("UNITED_DM_v1\n" + "\n".join(sorted((uri_a, uri_b)))).encode())
    return int.from_bytes(digest.digest()[:8], "big") >> 1 or 1


def identity(user: User) -> RemoteUser | None:
    return RemoteUser.objects.filter(user_id=user.id).first()


def remote_user(user_id: Any) -> User | None:
    """The `name@node` account with this id, or None (a local user or no user)."""
    try:
        found = RemoteUser.objects.select_related("user").filter(user_id=int(user_id)).first()
    except (TypeError, ValueError):
        return None
    return found.user if found else None


def remote_user_ids() -> list[int]:
    """Every `name@node` account here (messaging.ports.RemoteDMs: a group DM with one of them
    is a federated group)."""
    return people.remote_user_ids()


create_group = groupdms.create_group
leave_group = groupdms.leave_group
remove_from_group = groupdms.remove_from_group


def _actor(found: RemoteUser) -> RemoteActor:
    """The remote member's actor, refused when we do not federate with them."""
    if policy.refusal(found.domain):
        raise Forbidden(f"This node does not federate with {found.domain}")
    try:
        actor = remote.fetch_actor(found.actor_uri)
    except remote.RemoteError as exc:
        raise Invalid(f"Could not reach {found.domain}: {exc.reason}") from None
    if actor.blocked:
        raise Forbidden("That account is blocked on this node")
    return actor


# --- opening a DM ---------------------------------------------------------------------------
def resolve_handle(handle: str) -> User:
    """`name@node` (or `@name@node`) → the local row: our own user or a remote member's."""
    from federation.services import access_remote_actor

    handle = handle.strip().lstrip("@")
    name, _, domain = handle.partition("@")
    if domain.lower() == settings.FEDERATION_DOMAIN.lower():
        user = User.objects.filter(
            username__iexact=name, is_active=True, remote_identity__isnull=True
        ).first()
        if user is None:
            raise NotFound("Unknown user", code=10013)
        return user
    if policy.refusal(domain):
        raise Forbidden(f"This node does not federate with {domain}")
    actor = access_remote_actor(handle)
    return people.user_for_actor(actor.uri, actor.username)


@transaction.atomic
def open_dm(user: User, other: User) -> tuple[Channel, bool]:
    """The cross-node DM with `other` (a remote member), made if new, with the shared id."""
    found = identity(other)
    if found is None:
        raise Invalid(errors={"recipient_id": ["Not a member of another node."]})
    if policy.refusal(found.domain):
        raise Forbidden(f"This node does not federate with {found.domain}")
    return ensure_dm(user, other, dm_channel_id(people.actor_uri(user), found.actor_uri))


def ensure_dm(local: User, other: User, channel_id: int) -> tuple[Channel, bool]:
    from messaging.services.dms import serialize_dm
    from united import events

    existing = Channel.objects.filter(id=channel_id).first()
    if existing is not None:
        if existing.type != ChannelType.DM or set(
            existing.recipients.values_list("id", flat=True)
        ) != {local.id, other.id}:
            raise Invalid(errors={"channel_id": ["That id belongs to another conversation."]})
        return existing, False
    key = f"{min(local.id, other.id)}:{max(local.id, other.id)}"
    # A DM opened before cross-node DMs existed has a node-local id: it keeps its history
    # but gives up its key to the shared one.
    Channel.objects.filter(dm_key=key).update(dm_key=None)
    channel = Channel.objects.create(id=channel_id, type=ChannelType.DM, name="", dm_key=key)
    channel.recipients.set([local, other])
    payload = serialize_dm(channel)
    for uid in (local.id, other.id):
        events.broadcast(events.user_group(uid), "CHANNEL_CREATE", payload)
    return channel, True


# --- device lists and key bundles -----------------------------------------------------------
def _home_path(found: RemoteUser, what: str) -> str:
    return f"{found.actor_uri}/{what}"


def _check_list(wire: Any, found: RemoteUser, shadow: User) -> dict[str, Any]:
    """A remote member's signed device list, checked as a local PUT is checked."""
    from e2e.models import SignedDeviceList
    from e2e.services import CONTEXT

    if not isinstance(wire, dict):
        raise Invalid(f"{found.domain} answered no device list")
    payload, signer = wire.get("payload"), str(wire.get("signer", ""))
    try:
        if not isinstance(payload, str) or len(payload) > 16_384:
            raise ValueError
        parsed = json.loads(payload)
        listed = {str(d["device_id"]): d["identity_key"] for d in parsed["devices"]}
        version = parsed["version"]
        if parsed.get("v") != 1 or not isinstance(version, int) or version < 1:
            raise ValueError
        if not str(parsed.get("user_id", "")).isdigit():
            raise ValueError
        signature = crypto.decode_key(wire.get("signature"), "signature", crypto.SIGNATURE_BYTES)
        key = parsed.get("recovery_key") if signer == "recovery" else listed.get(signer)
        raw_key = crypto.decode_key(key, "signer")
    except (ValueError, KeyError, TypeError, Invalid):
        raise Invalid(f"{found.domain} answered a malformed device list") from None
    if not crypto.verify(raw_key, CONTEXT + payload.encode(), signature):
        raise Invalid(f"The device list {found.domain} answered is not signed by its owner")
    current = SignedDeviceList.objects.filter(user=shadow).first()
    if current is not None and version < current.version:
        raise Invalid(f"{found.domain} answered an older device list than it did before")
    SignedDeviceList.objects.update_or_create(
        user=shadow,
        defaults={
            "version": version,
            "payload": payload,
            "signature": wire["signature"],
            "signer": signer,
            "updated_at": timezone.now(),
        },
    )
    return {"payload": payload, "signature": wire["signature"], "signer": signer}


def device_list(requester: User, shadow: User) -> dict[str, Any]:
    """GET /users/{shadow}/device-list on this node: fetched from the home node and checked;
    the last good one when the home node cannot be reached."""
    found = identity(shadow)
    if found is None:
        raise NotFound("Unknown user")
    acct = shadow.username
    try:
        _actor(found)
        wire, _ = http.get_json(
            _home_path(found, "device-list"),
            sign=True,
            sign_as=actors.user_uri(requester.username),
            accept="application/json",
        )
    except (http.FetchError, Invalid) as exc:
        cached = _cached(shadow)
        if cached is None:
            if isinstance(exc, http.FetchError) and exc.reason == "status":
                raise NotFound("This account has published no device list") from None
            raise Invalid(f"Could not reach {found.domain}") from None
        return {**cached, "acct": acct}
    with transaction.atomic():
        checked = _check_list(wire, found, shadow)
    return {**checked, "acct": acct}


def _cached(shadow: User) -> dict[str, Any] | None:
    from e2e.services import get_device_list

    try:
        return get_device_list(shadow.id)
    except NotFound:
        return None


def listed_devices(shadow: User) -> set[int]:
    from e2e.models import SignedDeviceList

    row = SignedDeviceList.objects.filter(user=shadow).first()
    if row is None:
        return set()
    return {int(d["device_id"]) for d in json.loads(row.payload)["devices"]}


def key_bundle(requester: User, shadow: User) -> dict[str, Any]:
    """GET /users/{shadow}/keys on this node: the home node's answer, asked as the member."""
    found = identity(shadow)
    if found is None:
        raise NotFound("Unknown user")
    _actor(found)
    try:
        bundle, _ = http.get_json(
            _home_path(found, "keys"),
            sign=True,
            sign_as=actors.user_uri(requester.username),
            accept="application/json",
        )
    except http.FetchError as exc:
        if exc.reason == "status":
            raise NotFound("That account publishes no key bundles") from None
        raise Invalid(f"Could not reach {found.domain}: {exc.reason}") from None
    devices = bundle.get("devices")
    if not isinstance(devices, list):
        raise Invalid(f"{found.domain} answered no key bundles")
    return {"user_id": str(shadow.id), "acct": shadow.username, "devices": devices}


def serve_device_list(username: str) -> dict[str, Any]:
    """A local member's signed device list for a signed request from another node."""
    from e2e.services import get_device_list
    from federation.services import local_user_for_uri

    owner = local_user_for_uri(actors.user_uri(username))
    if owner is None:
        raise NotFound("Unknown user")
    return get_device_list(owner.id)


# --- sending --------------------------------------------------------------------------------
def split_copies(
    channel: Channel, copies: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """(copies for this node's devices, {remote user id: their copies}); a copy for a device
    missing from a remote member's signed device list is refused (after one refetch)."""
    remote_ids = set(
        RemoteUser.objects.filter(
            user_id__in=channel.recipients.values_list("id", flat=True)
        ).values_list("user_id", flat=True)
    )
    local = [c for c in copies if c["user_id"] not in remote_ids]
    far: dict[int, list[dict[str, Any]]] = {}
    for c in copies:
        if c["user_id"] in remote_ids:
            far.setdefault(c["user_id"], []).append(c)
    return local, far


def check_remote_copies(
    channel: Channel, sender: User, far: dict[int, list[dict[str, Any]]]
) -> None:
    for user_id, copies in far.items():
        shadow = User.objects.get(id=user_id)
        found = identity(shadow)
        if found is None or policy.refusal(found.domain):
            raise Forbidden(f"This node does not federate with {found.domain if found else '?'}")
        if channel.type == ChannelType.GROUP_DM:
            groupdms.check_group_copies(channel, shadow)
        elif channel.id != dm_channel_id(people.actor_uri(sender), found.actor_uri):
            # A DM opened before cross-node DMs existed (or a group DM): the other node
            # cannot know it. Opening the DM again gives the shared one.
            raise Invalid(
                f"This conversation cannot reach {found.domain}: open the DM with "
                f"{shadow.username} again",
                errors={"channel_id": ["Not a cross-node DM."]},
            )
        known = listed_devices(shadow)
        if any(c["device_id"] not in known for c in copies):
            device_list(sender, shadow)  # maybe they added a device since
            known = listed_devices(shadow)
        for c in copies:
            if c["device_id"] not in known:
                raise Invalid(
                    errors={"copies": [f"Unknown device {c['device_id']} of {shadow.username}."]}
                )
        size = len(json.dumps(_wire_copies(copies)))
        if size > MAX_RELAY:
            raise Invalid(
                f"Too large to relay to {found.domain}",
                errors={"copies": [f"At most {MAX_RELAY} bytes for a member of another node."]},
            )


def _wire_copies(copies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "device_id": str(c["device_id"]),
            "header": c["header"],
            "x3dh": c["x3dh"],
            "ciphertext": c["ciphertext"],
        }
        for c in copies
    ]


def relay(envelope: Any, sender: User, far: dict[int, list[dict[str, Any]]]) -> None:
    """One DeviceMessage per remote member, in the caller's transaction."""
    for user_id, copies in far.items():
        found = RemoteUser.objects.get(user_id=user_id)
        actor = RemoteActor.objects.filter(uri=found.actor_uri).first() or _actor(found)
        payload = {
            "e2e": PAYLOAD_VERSION,
            "id": str(envelope.id),
            "channel_id": str(envelope.channel_id),
            "sender_device": str(envelope.sender_device),
            "hlc": str(envelope.hlc),
            "copies": _wire_copies(copies),
        }
        activity = activities.minimal(
            {
                "@context": [activities.AS2_CONTEXT, actors.DEVICE_CONTEXT],
                "id": activities.new_activity_uri(),
                "type": "DeviceMessage",
                "actor": actors.user_uri(sender.username),
                "to": [actor.uri],
                "devices": [str(c["device_id"]) for c in copies],
                "payload": payload,
            }
        )
        delivery.fan_out(activity, [actor])


# --- receiving ------------------------------------------------------------------------------
def _int(value: Any) -> int:
    from united.ids import parse_snowflake

    return parse_snowflake(value) or 0


def is_envelope(payload: Any) -> bool:
    return isinstance(payload, dict) and "e2e" in payload


def handle_envelope(
    item: InboxItem, activity: dict[str, Any], actor: RemoteActor, recipient: User
) -> tuple[str, str]:
    from e2e.models import Envelope
    from e2e.services import _check_copy, do_add_copies, do_store_envelope
    from messaging.services.dms import _shares_a_guild
    from united.hlc import ClockDriftError, Stamp, clock

    payload = activity.get("payload")
    if not isinstance(payload, dict) or payload.get("e2e") != PAYLOAD_VERSION:
        return InboxState.FAILED, "unknown E2E relay version"
    if set(payload) - E2E_KEYS:
        return InboxState.FAILED, f"unknown fields {sorted(set(payload) - E2E_KEYS)}"
    if len(json.dumps(payload)) > MAX_RELAY:
        return InboxState.FAILED, f"E2E relay over {MAX_RELAY} bytes"
    origin_id, device = str(payload.get("id", "")), str(payload.get("sender_device", ""))
    if not all(v.isdigit() and len(v) <= 20 for v in (origin_id, device)):
        return InboxState.FAILED, "E2E relay without its envelope id or sending device"
    expected = dm_channel_id(actor.uri, actors.user_uri(recipient.username))
    group: FederatedGroup | None = None
    if str(payload.get("channel_id")) != str(expected):
        group = FederatedGroup.objects.filter(channel_id=_int(payload.get("channel_id"))).first()
        if group is None:
            return InboxState.FAILED, "E2E relay names a channel other than the two members' DM"
        expected = group.channel_id
    copies = payload.get("copies")
    if not isinstance(copies, list) or not 0 < len(copies) <= 50:
        return InboxState.FAILED, "E2E relay without copies"
    try:
        checked = [
            _check_copy({**c, "user_id": str(recipient.id)}, n)
            for n, c in enumerate(copies)
            if isinstance(c, dict)
        ]
    except Invalid as exc:
        return InboxState.FAILED, f"malformed copy: {exc.errors or exc.message}"
    if len(checked) != len(copies):
        return InboxState.FAILED, "malformed copy"
    wanted = [c["device_id"] for c in checked]
    if len(set(wanted)) != len(wanted) or sorted(map(str, wanted)) != sorted(
        map(str, activity.get("devices") or [])
    ):
        return InboxState.FAILED, "the copies do not match the addressed devices"
    active = set(
        Device.objects.active().filter(user=recipient, pk__in=wanted).values_list("pk", flat=True)
    )
    if set(wanted) - active:
        return InboxState.FAILED, f"unknown or revoked devices {sorted(set(wanted) - active)}"
    sender = people.user_for_actor(actor.uri, actor.username)
    channel = Channel.objects.filter(id=expected).first()
    if group is not None:
        # Only between current members of this node's copy of the group: someone who left
        # gets nothing from now on, and sends nothing either.
        assert channel is not None
        members = set(channel.recipients.values_list("id", flat=True))
        if recipient.id not in members:
            return InboxState.FAILED, f"refused: {recipient.username} is not in that group"
        if sender.id not in members:
            return InboxState.FAILED, f"refused: {sender.username} is not in that group"
    elif channel is None and not _shares_a_guild(recipient, sender):
        return InboxState.FAILED, "refused: the sender shares no guild with the recipient"
    try:
        hlc = int(payload.get("hlc", ""))
        clock().update(Stamp.unpack(hlc))
    except (TypeError, ValueError, ClockDriftError):
        return InboxState.FAILED, "E2E relay with a bad or drifting HLC stamp"
    stored = Envelope.objects.filter(channel_id=expected, sender=sender, nonce=origin_id).first()
    if stored is not None and group is None:
        return InboxState.PROCESSED, "already stored"
    try:
        with transaction.atomic():
            if stored is not None:
                # A group message reaches a node once per member there (one DeviceMessage
                # each): the copies join the envelope the first one made.
                if not do_add_copies(stored, checked):
                    return InboxState.PROCESSED, "already stored"
            else:
                if group is None:
                    channel, _ = ensure_dm(recipient, sender, expected)
                assert channel is not None
                do_store_envelope(channel, sender, int(device), checked, nonce=origin_id, hlc=hlc)
    except IntegrityError:
        return InboxState.PROCESSED, "already stored"
    return InboxState.PROCESSED, f"E2E envelope for {recipient.username}"
