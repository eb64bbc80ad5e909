"""Incoming webhooks (docs/bots.md, "Webhooks"): made per channel by members (or bots) with
MANAGE_WEBHOOKS there, executed by anyone holding the URL.

- The URL is `/api/webhooks/<id>/<token>`. Only the token's SHA-256 digest is stored, so the
  URL is shown once, when the webhook is made or its token regenerated (the old one stops
  working at once). A wrong token for a known id answers Discord's 401 50027; an unknown id,
  or a webhook whose channel was deleted (its webhooks go with it), 404 10015.
- A post has no author: `Message.webhook_id` and a persona (the webhook's name and avatar,
  or the per-post `username` / `avatar_url` overrides). A name may not pass for one of the
  node's operators or a reserved word (united/names.py), whichever door set it.
- Each webhook has its own rate limit (`webhook`, 5 posts per 2 s) and each channel one over
  all its webhooks (`webhook.channel`, 30 per 60 s), in Discord's headers and 429 body.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.services.profile import operator_names
from bots import embeds as embed_rules
from bots.models import Webhook
from guilds import permissions as perms
from guilds.models import TEXT_TYPES, Channel
from guilds.services.access import (
    GuildContext,
    access_channel,
    guild_context,
    overwrites_by_channel,
)
from united import names
from united.errors import APIError, Invalid, NotFound

UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027
NAME_MAX = 80
# Discord's ceiling per channel; a guild's channels together hold at most a thousand.
MAX_PER_CHANNEL = 15
AVATAR_URL_MAX = 2048
WEBHOOK_TYPE_INCOMING = 1


def unknown_webhook() -> NotFound:
    return NotFound("Unknown Webhook", code=UNKNOWN_WEBHOOK)


def invalid_token() -> APIError:
    return APIError("Invalid Webhook Token", code=INVALID_WEBHOOK_TOKEN, status=401)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(51)  # 68 characters, as long as Discord's


def url_path(webhook: Webhook, token: str) -> str:
    return f"/api/webhooks/{webhook.id}/{token}"


# --- names ------------------------------------------------------------------------------


def check_name(value: Any, field: str = "name") -> str:
    """A webhook's name or a post's `username`: visible characters, 1 to 80, and nothing
    that passes for an operator of this node or a reserved word ("admin", "system" …)."""
    clean = names.clean_name(value, field, max_length=NAME_MAX, min_length=1)
    names.refuse_look_alike(clean, field, operator_names() + names.reserved())
    return clean


def check_avatar_url(value: Any, field: str = "avatar_url") -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > AVATAR_URL_MAX:
        raise Invalid(errors={field: [f"An http(s) URL of at most {AVATAR_URL_MAX} characters."]})
    try:
        embed_rules._url(value, [field])
    except embed_rules._Bad:
        raise Invalid(errors={field: ["Must be an http or https URL."]}) from None
    return value


# --- managing (members and bots with MANAGE_WEBHOOKS in the channel) ----------------------


def _manageable_channel(actor: User, channel_id: Any) -> Channel:
    try:
        channel_id = int(channel_id)
    except (TypeError, ValueError):
        raise NotFound("Unknown Channel", code=10003) from None
    access = access_channel(actor, channel_id)
    if access.channel.type not in TEXT_TYPES:
        raise Invalid(errors={"channel_id": ["Webhooks post in text and announcement channels."]})
    access.require(perms.P.MANAGE_WEBHOOKS)
    return access.channel


def access_webhook(actor: User, webhook_id: Any) -> Webhook:
    """The webhook, if `actor` has MANAGE_WEBHOOKS in its channel; else 404 (or 403 when they
    can see the channel but not manage its webhooks)."""
    try:
        webhook = Webhook.objects.select_related("channel", "creator").get(id=int(webhook_id))
    except (Webhook.DoesNotExist, ValueError, TypeError, OverflowError):
        raise unknown_webhook() from None
    try:
        _manageable_channel(actor, webhook.channel_id)
    except NotFound:
        raise unknown_webhook() from None
    return webhook


def list_channel_webhooks(actor: User, channel_id: Any) -> list[Webhook]:
    channel = _manageable_channel(actor, channel_id)
    return list(
        Webhook.objects.filter(channel=channel).select_related("creator", "channel").order_by("id")
    )


def list_guild_webhooks(actor: User, guild_id: int) -> list[Webhook]:
    """Those of the guild's channels where `actor` has MANAGE_WEBHOOKS (Discord asks for it
    guild-wide; a channel overwrite granting it here shows that channel's)."""
    ctx = guild_context(actor, guild_id)
    allowed = [channel.id for channel in manageable_channels(ctx)]
    return list(
        Webhook.objects.filter(channel_id__in=allowed)
        .select_related("creator", "channel")
        .order_by("channel__position", "id")
    )


def manageable_channels(ctx: GuildContext) -> list[Channel]:
    """The guild's text channels where the context's member may manage webhooks, in order."""
    table = overwrites_by_channel(ctx.guild.id)
    return [
        channel
        for channel in Channel.objects.filter(guild=ctx.guild, type__in=TEXT_TYPES).order_by(
            "position", "id"
        )
        if perms.has(
            ctx.channel_permissions(channel, table),
            perms.P.VIEW_CHANNEL | perms.P.MANAGE_WEBHOOKS,
        )
    ]


def check_create_webhook(
    actor: User, channel_id: Any, *, name: Any, avatar_url: Any = None
) -> tuple[Webhook, str]:
    clean = check_name(name)
    avatar = check_avatar_url(avatar_url)
    with transaction.atomic():
        channel = _manageable_channel(actor, channel_id)
        from federation.models import GuildLink

        if GuildLink.objects.filter(guild_id=channel.guild_id or 0).exists():
            raise Invalid(
                errors={"channel_id": ["Make webhooks on the node that hosts this guild."]}
            )
        if Webhook.objects.filter(channel=channel).count() >= MAX_PER_CHANNEL:
            raise APIError(f"Maximum number of webhooks reached ({MAX_PER_CHANNEL})", code=30007)
        return do_create_webhook(channel, actor, clean, avatar)


def do_create_webhook(
    channel: Channel, creator: User | None, name: str, avatar_url: str
) -> tuple[Webhook, str]:
    """The webhook and its token, the only time the token is known in the clear."""
    token = _new_token()
    webhook = Webhook.objects.create(
        # Only guild text channels reach here (_manageable_channel): guild_id is set.
        guild_id=channel.guild_id,  # type: ignore[misc]
        channel=channel,
        creator=creator,
        name=name,
        avatar_url=avatar_url,
        token_digest=digest(token),
    )
    return webhook, token


def check_modify_webhook(actor: User, webhook_id: Any, changes: dict[str, Any]) -> Webhook:
    webhook = access_webhook(actor, webhook_id)
    return _modify(webhook, changes, actor=actor)


def _modify(webhook: Webhook, changes: dict[str, Any], *, actor: User | None) -> Webhook:
    fields: dict[str, Any] = {}
    if "name" in changes:
        fields["name"] = check_name(changes["name"])
    if "avatar_url" in changes:
        fields["avatar_url"] = check_avatar_url(changes["avatar_url"])
    if "avatar" in changes:
        # Discord's `avatar` is image data; here an avatar is a URL (avatar_url), and only
        # clearing it through `avatar` is understood.
        if changes["avatar"] is not None:
            raise Invalid(errors={"avatar": ["Set the avatar with avatar_url (an http(s) URL)."]})
        fields["avatar_url"] = ""
    if "channel_id" in changes and changes["channel_id"] is not None:
        if actor is None:
            raise Invalid(errors={"channel_id": ["Moving needs MANAGE_WEBHOOKS, not the token."]})
        target = _manageable_channel(actor, changes["channel_id"])
        if target.guild_id != webhook.guild_id:
            raise Invalid(errors={"channel_id": ["A channel of the same guild."]})
        fields["channel"] = target
    return do_modify_webhook(webhook, **fields)


def do_modify_webhook(webhook: Webhook, **fields: Any) -> Webhook:
    for key, value in fields.items():
        setattr(webhook, key, value)
    if fields:
        webhook.save(update_fields=list(fields))
    return webhook


def check_regenerate_token(actor: User, webhook_id: Any) -> tuple[Webhook, str]:
    return do_regenerate_token(access_webhook(actor, webhook_id))


def do_regenerate_token(webhook: Webhook) -> tuple[Webhook, str]:
    """A new token; the old URL answers 401 from now on."""
    token = _new_token()
    webhook.token_digest = digest(token)
    webhook.save(update_fields=["token_digest"])
    return webhook, token


def check_delete_webhook(actor: User, webhook_id: Any) -> None:
    do_delete_webhook(access_webhook(actor, webhook_id))


def do_delete_webhook(webhook: Webhook) -> None:
    webhook.delete()


# --- the token's doors (no account) -------------------------------------------------------


def authenticate(webhook_id: Any, token: Any) -> Webhook:
    try:
        webhook = Webhook.objects.select_related("channel", "guild").get(id=int(webhook_id))
    except (Webhook.DoesNotExist, ValueError, TypeError, OverflowError):
        raise unknown_webhook() from None
    if not isinstance(token, str) or not secrets.compare_digest(
        digest(token), webhook.token_digest
    ):
        raise invalid_token()
    return webhook


def check_modify_with_token(webhook_id: Any, token: Any, changes: dict[str, Any]) -> Webhook:
    webhook = authenticate(webhook_id, token)
    if "channel_id" in changes:
        raise Invalid(errors={"channel_id": ["Moving a webhook needs MANAGE_WEBHOOKS."]})
    return _modify(webhook, changes, actor=None)


def check_delete_with_token(webhook_id: Any, token: Any) -> None:
    do_delete_webhook(authenticate(webhook_id, token))


# --- Discord's webhook object ----------------------------------------------------------------


def serialize_webhook(webhook: Webhook, token: str | None = None) -> dict[str, Any]:
    from accounts.services import serialize_user
    from bots import shapes

    data: dict[str, Any] = {
        "id": str(webhook.id),
        "type": WEBHOOK_TYPE_INCOMING,
        "guild_id": str(webhook.guild_id),
        "channel_id": str(webhook.channel_id),
        "name": webhook.name,
        "avatar": None,
        "avatar_url": webhook.avatar_url or None,
        "application_id": None,
    }
    if webhook.creator is not None:
        data["user"] = shapes.user(serialize_user(webhook.creator))
    if token is not None:
        # Only when it is made or regenerated: the node keeps no copy to show later.
        data["token"] = token
        data["url"] = url_path(webhook, token)
    return data
