"""Messages posted by an incoming webhook: no author row, a persona instead.

A webhook is not a member, so the member send path (permissions, slow mode, read marker,
nonces) does not apply; the adapter that owns webhooks (bots/webhooks.py) has decided the
post may happen (its token, its rate limit, its channel) and validated the embeds. What a
post shares with every message is here: the row with its HLC stamp, mentions, attachments,
the guild's activity mark, thread following, and one MESSAGE_CREATE / MESSAGE_UPDATE /
MESSAGE_DELETE event, which the gateway, search, push and federation hear like any other.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from guilds.models import Channel, ChannelType
from guilds.permissions import Permissions as P
from guilds.services.access import ChannelAccess, node_context
from messaging import markdown
from messaging.models import Message, MessageEdit
from messaging.services.dms import broadcast_to_channel
from messaging.services.serialize import prefetched, serialize_message
from united.hlc import clock

# Discord's allowed_mentions `parse` values.
PARSE_ALL = frozenset({"users", "roles", "everyone"})


def _access(channel: Channel) -> ChannelAccess:
    # The node acts for the webhook: it may mention anyone, as a webhook may on Discord;
    # `allowed_mentions` narrows that per post.
    # Webhooks live in guild channels only: `guild` is set.
    return ChannelAccess(node_context(channel.guild), channel, int(P.MENTION_EVERYONE))  # type: ignore[arg-type]


def _mentions(
    channel: Channel, content: str, allowed: dict[str, Any] | None, *, mirrored: bool = False
) -> tuple[list[int], list[int], bool]:
    from messaging.services.messages import _mentions as parse

    users, roles, everyone = parse(_access(channel), content, mirrored=mirrored)
    if allowed is None:
        return users, roles, everyone
    parse_kinds = set(allowed.get("parse") or ())
    only_users = {int(u) for u in allowed.get("users") or ()}
    only_roles = {int(r) for r in allowed.get("roles") or ()}
    users = [u for u in users if "users" in parse_kinds or u in only_users]
    roles = [r for r in roles if "roles" in parse_kinds or r in only_roles]
    return users, roles, everyone and "everyone" in parse_kinds


@transaction.atomic
def do_post_webhook_message(
    channel: Channel,
    *,
    webhook_id: int,
    persona: dict[str, Any],
    content: str,
    embeds: list[dict[str, Any]],
    allowed_mentions: dict[str, Any] | None = None,
    attachments: list | None = None,
    message_id: int | None = None,
    stamp: Any = None,
    mirrored: bool = False,
) -> Message:
    """`channel` is the webhook's channel or one of its threads; `content` and `embeds` are
    validated already, `allowed_mentions` is None (Discord's default: everything parsed) or
    a dict with `parse`, `users` and `roles` of known shapes. `message_id`, `stamp` and
    `mirrored`: a webhook post of a guild hosted elsewhere, applied here as the host has it
    (federation.mirror), whose `<@id>` are the host's ids."""
    users, roles, everyone = _mentions(channel, content, allowed_mentions, mirrored=mirrored)
    stamp = stamp or clock().now()
    extra = {"id": message_id} if message_id is not None else {}
    message = Message.objects.create(
        **extra,
        channel=channel,
        author=None,
        webhook_id=webhook_id,
        persona=persona,
        content=content,
        content_html=markdown.render(content),
        embeds=embeds,
        hlc=stamp.pack(),
        hlc_node=stamp.node,
        mention_everyone=everyone,
        type=Message.DEFAULT,
    )
    if users:
        message.mentions.set(users)
    if roles:
        message.mention_roles.set(roles)
    if attachments:
        from media.models import Attachment

        Attachment.objects.filter(id__in=[a.id for a in attachments]).update(
            scope=f"channel:{channel.id}"
        )
        message.attachments.set(attachments)
    from guilds.services.guilds import note_activity

    if channel.guild_id:
        note_activity(channel.guild_id)
    if channel.type == ChannelType.PUBLIC_THREAD:
        from messaging.services.threads import follow_on_send

        follow_on_send(channel, None, users)
    message = prefetched(Message.objects.filter(id=message.id)).get()
    broadcast_to_channel(channel, "MESSAGE_CREATE", serialize_message(message), actor=None)
    return message


@transaction.atomic
def do_edit_webhook_message(
    message: Message,
    *,
    content: str | None,
    embeds: list[dict[str, Any]] | None,
    allowed_mentions: dict[str, Any] | None = None,
    edited_at: Any = None,
    mirrored: bool = False,
) -> Message:
    """None leaves that part as it was (Discord's PATCH)."""
    fields = []
    if content is not None and content != message.content:
        MessageEdit.objects.create(message=message, content=message.content)
        users, roles, everyone = _mentions(
            message.channel, content, allowed_mentions, mirrored=mirrored
        )
        message.content = content
        message.content_html = markdown.render(content)
        message.mention_everyone = everyone
        fields += ["content", "content_html", "mention_everyone"]
        message.mentions.set(users)
        message.mention_roles.set(roles)
    if embeds is not None and embeds != message.embeds:
        message.embeds = embeds
        fields.append("embeds")
    if not fields:
        return message
    message.edited_at = edited_at or timezone.now()
    message.save(update_fields=[*fields, "edited_at"])
    message = prefetched(Message.objects.filter(id=message.id)).get()
    broadcast_to_channel(message.channel, "MESSAGE_UPDATE", serialize_message(message), actor=None)
    return message
