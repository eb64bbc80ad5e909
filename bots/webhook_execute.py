"""Posting through an incoming webhook, and its own messages (docs/bots.md, "Webhooks").

The token in the URL is the only credential (bots/webhooks.py `authenticate`). What a post may
carry is checked here before anything is spent: content, embeds (bots/embeds.py), the persona
overrides (the same name rules as the webhook's own), `allowed_mentions`, files (counted and
sized before the rate limit is spent, stored through media's upload path after). Then one
transaction spends the webhook's and the channel's rate limit and writes the message through
messaging (messaging/services/webhook_posts.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from bots import embeds as embed_rules
from bots import uploads
from bots.models import Webhook
from bots.webhooks import authenticate, check_avatar_url, check_name
from guilds.models import Channel, ChannelType
from messaging.models import Message
from messaging.services import webhook_posts
from messaging.services.messages import MAX_LENGTH, do_delete_message
from united import names, ratelimit
from united.errors import APIError, Invalid, NotFound

ALLOWED_MENTION_KINDS = frozenset({"users", "roles", "everyone"})


def _buckets(webhook: Webhook, channel_id: int) -> list[ratelimit.Bucket]:
    limits = getattr(settings, "UNITED_RATE_LIMITS", {})
    found = []
    if spec := limits.get("webhook"):
        found.append(
            ratelimit.Bucket(
                "webhook", f"webhook:{webhook.id}", int(spec[0]), float(spec[1]), False
            )
        )
    if spec := limits.get("webhook.channel"):
        found.append(
            ratelimit.Bucket(
                "webhook.channel", f"webhook.c:{channel_id}", int(spec[0]), float(spec[1]), False
            )
        )
    return found


def standing(webhook: Webhook) -> ratelimit.Standing | None:
    return ratelimit.standing_of(_buckets(webhook, webhook.channel_id))


def _target_channel(webhook: Webhook, thread_id: Any) -> Channel:
    if thread_id in (None, ""):
        return webhook.channel
    try:
        thread = Channel.objects.get(
            id=int(thread_id), parent_id=webhook.channel_id, type=ChannelType.PUBLIC_THREAD
        )
    except (Channel.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound("Unknown Channel", code=10003) from None
    return thread


def clean_allowed_mentions(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Invalid(errors={"allowed_mentions": ["Must be an object."]})
    parse = raw.get("parse", [])
    if not isinstance(parse, list) or not all(
        isinstance(kind, str) and kind in ALLOWED_MENTION_KINDS for kind in parse
    ):
        raise Invalid(errors={"allowed_mentions": ["parse: users, roles and/or everyone."]})
    out: dict[str, Any] = {"parse": list(dict.fromkeys(parse))}
    for key in ("users", "roles"):
        ids = raw.get(key, [])
        if not isinstance(ids, list) or len(ids) > 100:
            raise Invalid(errors={"allowed_mentions": [f"{key}: at most 100 ids."]})
        try:
            out[key] = [int(i) for i in ids]
        except (TypeError, ValueError):
            raise Invalid(errors={"allowed_mentions": [f"{key}: ids only."]}) from None
        if out[key] and key in out["parse"]:
            raise Invalid(errors={"allowed_mentions": [f"{key} is in parse and listed too."]})
    return out


def _content(value: Any, *, required: bool) -> str | None:
    if value is None:
        return "" if required else None
    if not isinstance(value, str):
        raise Invalid(errors={"content": ["Must be a string."]})
    if len(value) > MAX_LENGTH:
        raise Invalid(errors={"content": [f"Must be {MAX_LENGTH} or fewer in length."]})
    names.check_marks(value, "content", names.MESSAGE_MARKS_MAX)
    return value


def _embeds_of(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "embeds" in data:
        return embed_rules.clean_embeds(data["embeds"])
    if "embed" in data:  # the singular form older libraries send
        return embed_rules.clean_embeds([data["embed"]] if data["embed"] is not None else [])
    return None


def _check_files(webhook: Webhook, files: list[Any]) -> None:
    uploads.check_files(files)
    creator = webhook.creator
    if files and (creator is None or not creator.is_active):
        raise Invalid(errors={"files": ["Whoever made this webhook is gone: it posts no files."]})


def _store_files(webhook: Webhook, channel: Channel, files: list[Any]) -> list[Any]:
    """A webhook has no storage of its own: the files count against the quota of the member
    who made it."""
    return uploads.store_files(webhook.creator, channel.id, files)


def check_execute(
    webhook_id: Any,
    token: Any,
    data: dict[str, Any],
    *,
    thread_id: Any = None,
    files: list[Any] | None = None,
) -> tuple[Webhook, Message]:
    """Post through the webhook: content, embeds and/or files (Discord's multipart form),
    with the persona overridable."""
    webhook = authenticate(webhook_id, token)
    content = _content(data.get("content"), required=True) or ""
    embeds = _embeds_of(data) or []
    if not content.strip() and not embeds and not files:
        raise APIError("Cannot send an empty message", code=50006)
    username = data.get("username")
    persona = {
        "username": check_name(username, "username")
        if username not in (None, "")
        else webhook.name,
        "avatar_url": check_avatar_url(data.get("avatar_url"))
        if data.get("avatar_url") not in (None, "")
        else webhook.avatar_url or None,
    }
    allowed = clean_allowed_mentions(data.get("allowed_mentions"))
    if data.get("tts"):
        raise Invalid(errors={"tts": ["Text-to-speech is not supported."]})
    _check_files(webhook, files or [])
    with transaction.atomic():
        channel = _target_channel(webhook, thread_id)
        ratelimit.consume(_buckets(webhook, webhook.channel_id))
        attachments = _store_files(webhook, channel, files or [])
        message = webhook_posts.do_post_webhook_message(
            channel,
            webhook_id=webhook.id,
            persona=persona,
            content=content,
            embeds=embeds,
            allowed_mentions=allowed,
            attachments=attachments,
        )
    return webhook, message


def _own_message(webhook: Webhook, message_id: Any, thread_id: Any) -> Message:
    channel = _target_channel(webhook, thread_id)
    try:
        return Message.objects.select_related("channel").get(
            id=int(message_id), channel=channel, webhook_id=webhook.id, deleted_at__isnull=True
        )
    except (Message.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound("Unknown Message", code=10008) from None


def get_webhook_message(
    webhook_id: Any, token: Any, message_id: Any, thread_id: Any = None
) -> Message:
    return _own_message(authenticate(webhook_id, token), message_id, thread_id)


def check_edit_webhook_message(
    webhook_id: Any, token: Any, message_id: Any, data: dict[str, Any], *, thread_id: Any = None
) -> Message:
    webhook = authenticate(webhook_id, token)
    content = _content(data.get("content"), required=False)
    embeds = _embeds_of(data)
    allowed = clean_allowed_mentions(data.get("allowed_mentions"))
    with transaction.atomic():
        message = _own_message(webhook, message_id, thread_id)
        after_content = message.content if content is None else content
        after_embeds = message.embeds if embeds is None else embeds
        if not after_content.strip() and not after_embeds and not message.attachments.exists():
            raise APIError("Cannot send an empty message", code=50006)
        ratelimit.consume(_buckets(webhook, webhook.channel_id))
        return webhook_posts.do_edit_webhook_message(
            message, content=content, embeds=embeds, allowed_mentions=allowed
        )


def check_delete_webhook_message(
    webhook_id: Any, token: Any, message_id: Any, *, thread_id: Any = None
) -> None:
    webhook = authenticate(webhook_id, token)
    with transaction.atomic():
        do_delete_message(_own_message(webhook, message_id, thread_id), actor=None)
