"""Delivery state of what our members send to remote guilds (`sending`, `delivered`,
`failed`), sending a failed message again, and the notice a replica shows when its host is
defederated or unreachable."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from federation import activities, delivery
from federation.models import (
    DeliveryState,
    GuildLink,
    MessageDelivery,
    MessageDeliveryState,
    RemoteActor,
)
from federation.people import actor_uri
from messaging.models import Message
from united.errors import Forbidden, Invalid, NotFound


def delivery_states(message_ids: list[int]) -> dict[int, MessageDelivery]:
    """Delivery state of messages our members sent to remote guilds: a message whose
    activity the engine gave up on (dead) shows as failed."""
    rows = MessageDelivery.objects.filter(message_id__in=message_ids).select_related("activity")
    found = {row.message_id: row for row in rows}
    sending = [
        r.activity_id
        for r in found.values()
        if r.state == MessageDeliveryState.SENDING and r.activity_id is not None
    ]
    if sending:
        from federation.models import Delivery

        dead = set(
            Delivery.objects.filter(activity_id__in=sending, state=DeliveryState.DEAD).values_list(
                "activity_id", flat=True
            )
        )
        for row in found.values():
            if row.activity_id in dead and row.state == MessageDeliveryState.SENDING:
                row.state = MessageDeliveryState.FAILED
                row.detail = "The guild's node could not be reached."
    return found


def check_retry(user: User, message_id: int) -> MessageDelivery:
    """Send a failed message again (a new activity; the host ignores a message it has)."""
    message = Message.objects.select_related("channel").filter(id=message_id, author=user).first()
    guild_id = message.channel.guild_id if message else None
    link = GuildLink.objects.filter(guild_id=guild_id).first() if guild_id else None
    row = delivery_states([message_id]).get(message_id)
    if message is None or link is None or row is None or message.deleted:
        raise NotFound("Unknown Message", code=10008)
    if row.state != MessageDeliveryState.FAILED:
        raise Invalid(errors={"_errors": ["Only a failed message can be sent again."]})
    group = RemoteActor.objects.filter(uri=link.group_uri).first()
    if group is None:
        raise Forbidden("This node no longer federates with the guild's node")
    from federation.guildwire import note

    with transaction.atomic():
        activity = delivery.fan_out(
            activities.build("Create", actor_uri(user), note(message), to=[link.group_uri]),
            [group],
        )
        MessageDelivery.objects.filter(message_id=message_id).update(
            activity=activity,
            state=MessageDeliveryState.SENDING,
            detail="",
            updated_at=timezone.now(),
        )
        row = MessageDelivery.objects.get(message_id=message_id)
        delivery_event(row)
    return row


def annotate_delivery(messages: list[dict[str, Any]]) -> None:
    """Add `delivery` (state, detail) to the viewer's own messages in remote guilds."""
    mine = [int(m["id"]) for m in messages if m.get("mine")]
    if not mine:
        return
    states = delivery_states(mine)
    for message in messages:
        row = states.get(int(message["id"]))
        if row is not None:
            message["delivery"] = {"state": row.state, "detail": row.detail}


def guild_notice(guild_id: int) -> dict[str, Any] | None:
    """For a replica: is its host defederated by our operator, or unreachable?"""
    from federation.models import NodeStatus, RemoteNode

    link = GuildLink.objects.filter(guild_id=guild_id).first()
    if link is None:
        return None
    node = RemoteNode.objects.filter(domain=link.domain).first()
    if node is None:
        return None
    if node.blocked:
        return {"kind": "defederated", "domain": node.domain}
    if node.status == NodeStatus.UNREACHABLE:
        return {"kind": "offline", "domain": node.domain, "since": node.unreachable_since}
    return None


def confirm(message_id: int) -> None:
    updated = MessageDelivery.objects.filter(
        message_id=message_id, state=MessageDeliveryState.SENDING
    ).update(state=MessageDeliveryState.DELIVERED, updated_at=timezone.now())
    if updated:
        delivery_event(MessageDelivery.objects.get(message_id=message_id))


def delivery_event(row: MessageDelivery) -> None:
    from united import events

    message = Message.objects.select_related("channel").filter(id=row.message_id).first()
    if message is None or message.author_id is None:
        return
    events.broadcast(
        events.user_group(message.author_id),
        "MESSAGE_DELIVERY_UPDATE",
        {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "guild_id": str(message.channel.guild_id),
            "state": row.state,
            "detail": row.detail,
        },
    )
