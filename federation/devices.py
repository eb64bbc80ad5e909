"""What end-to-end encryption needs from federation, without knowing anything about it.

- Key bundles across nodes: a member asks their own node for `user@node`'s bundles; their
  node fetches `GET /users/<name>/keys` from the user's home node, signed under the member's
  actor id, and the home node answers with `accounts.services.keys.fetch_key_bundle` for that
  requester (one-time prekeys are handed out once, as locally).
- A relay for opaque objects: `DeviceMessage` carries a JSON object (`payload`, at most
  MAX_PAYLOAD bytes) from a member to some devices of a user on another node, through the
  delivery engine (ordered, retried, idempotent by activity id). The home node stores it for
  the recipient (RelayedEnvelope), tells their sessions (`DEVICE_MESSAGE_CREATE`), and hands
  it out until a device acknowledges it. Neither node parses the payload.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from federation import activities, actors, delivery, http
from federation.models import InboxItem, InboxState, RelayedEnvelope, RemoteActor
from federation.services import access_remote_actor, local_user_for_uri
from united.errors import Invalid, NotFound

MAX_PAYLOAD = 64 * 1024
MAX_DEVICES = 50


def check_fetch_remote_keys(user: User, acct: Any) -> dict[str, Any]:
    actor = access_remote_actor(acct)
    try:
        bundle, _ = http.get_json(
            f"{actor.uri}/keys",
            sign=True,
            sign_as=actors.user_uri(user.username),
            accept="application/json",
        )
    except http.FetchError as exc:
        if exc.reason == "status":
            raise NotFound("That account publishes no key bundles") from None
        raise Invalid(f"Could not reach {actor.node.domain}: {exc.reason}") from None
    devices = bundle.get("devices")
    if not isinstance(devices, list):
        raise Invalid("The remote node answered no key bundles")
    return {"acct": actor.acct, "actor": actor.uri, "devices": devices}


def serve_keys(requester_uri: str, username: str) -> dict[str, Any]:
    """The bundles of a local user for a signed request from another node's member."""
    from accounts.services.keys import fetch_key_bundle
    from federation.people import user_for_actor

    owner = local_user_for_uri(actors.user_uri(username))
    if owner is None:
        raise NotFound("Unknown user")
    requester = user_for_actor(requester_uri)
    return fetch_key_bundle(requester, owner.id)


def _validate(devices: Any, payload: Any) -> tuple[list[str], dict[str, Any]]:
    if (
        not isinstance(devices, list)
        or not 1 <= len(devices) <= MAX_DEVICES
        or not all(isinstance(d, str) and d.isdigit() and len(d) <= 20 for d in devices)
    ):
        raise Invalid(errors={"devices": [f"1 to {MAX_DEVICES} device ids."]})
    if not isinstance(payload, dict):
        raise Invalid(errors={"payload": ["A JSON object."]})
    if len(json.dumps(payload)) > MAX_PAYLOAD:
        raise Invalid(errors={"payload": [f"At most {MAX_PAYLOAD} bytes."]})
    return devices, payload


def check_relay(user: User, acct: Any, devices: Any, payload: Any) -> dict[str, Any]:
    devices, payload = _validate(devices, payload)
    actor = access_remote_actor(acct)
    with transaction.atomic():
        activity = activities.minimal(
            {
                "@context": [activities.AS2_CONTEXT, actors.DEVICE_CONTEXT],
                "id": activities.new_activity_uri(),
                "type": "DeviceMessage",
                "actor": actors.user_uri(user.username),
                "to": [actor.uri],
                "devices": devices,
                "payload": payload,
            }
        )
        delivery.fan_out(activity, [actor])
    return {"id": activity["id"], "to": actor.acct, "devices": devices}


def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Any:
    if activity["type"] != "DeviceMessage":
        return None
    targets = activity.get("to") or []
    recipient = local_user_for_uri(targets[0]) if isinstance(targets, list) and targets else None
    if recipient is None:
        return InboxState.IGNORED, "not addressed to a user of this node"
    from federation import e2e_relay

    if e2e_relay.is_envelope(activity.get("payload")):  # a cross-node E2E DM (e2e_relay.py)
        return e2e_relay.handle_envelope(item, activity, actor, recipient)
    try:
        devices, payload = _validate(activity.get("devices"), activity.get("payload"))
    except Invalid as exc:
        return InboxState.FAILED, f"invalid device message: {exc.message}"
    try:
        with transaction.atomic():
            row = RelayedEnvelope.objects.create(
                recipient=recipient,
                sender_uri=actor.uri,
                devices=devices,
                payload=payload,
                activity_uri=item.activity_uri,
            )
    except IntegrityError:
        return InboxState.PROCESSED, "already stored"
    from united import events

    events.broadcast(events.user_group(recipient.id), "DEVICE_MESSAGE_CREATE", serialize(row))
    return InboxState.PROCESSED, f"device message for {recipient.username}"


def serialize(row: RelayedEnvelope) -> dict[str, Any]:
    sender = RemoteActor.objects.filter(uri=row.sender_uri).first()
    return {
        "id": str(row.id),
        "from": sender.acct if sender else row.sender_uri,
        "from_actor": row.sender_uri,
        "devices": row.devices,
        "payload": row.payload,
        "received_at": row.received_at.isoformat(),
    }


def pending(user: User, device_id: Any = None) -> list[dict[str, Any]]:
    rows = RelayedEnvelope.objects.filter(recipient=user).order_by("id")
    out = [serialize(r) for r in rows]
    if device_id is not None:
        out = [r for r in out if str(device_id) in r["devices"]]
    return out


def check_ack(user: User, envelope_id: Any) -> None:
    try:
        deleted, _ = RelayedEnvelope.objects.filter(recipient=user, id=int(envelope_id)).delete()
    except (TypeError, ValueError):
        deleted = 0
    if not deleted:
        raise NotFound("Unknown envelope")
