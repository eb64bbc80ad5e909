"""The channel list in guild settings and "view as role".

The list creates channels of every type and categories, renames them, moves them (a category
select, up/down buttons for the keyboard, drag and drop through the API in
static/src/channel-order.js), turns a text channel end-to-end encrypted (a ticked confirmation:
it cannot be undone, e2e/mls.py) and deletes them after a confirmation dialog. Each form posts an
`action`; the guild services check MANAGE_CHANNELS and validate, so a refusal reads the same
as on the API. A MANAGE_ROLES-only manager sees the list with the permission links alone.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from accounts.requests import AuthedHttpRequest
from e2e import mls
from e2e.models import MlsGroup
from guilds import permissions as perms
from guilds.models import TEXT_TYPES, ChannelType
from guilds.services import channels as channel_services
from guilds.services.access import guild_context, unknown_role, visible_channels
from guilds.services.preview import check_view_as_role
from united.errors import APIError, Invalid
from web import sidebar
from web.views.common import member_view
from web.views.settings import _messages, _page, allowed

P = perms.P
# What the create form offers, in the order shown (CREATABLE_TYPES less the category, which
# has its own form).
CHANNEL_TYPES = (
    (ChannelType.GUILD_TEXT, "Text"),
    (ChannelType.GUILD_VOICE, "Voice"),
    (ChannelType.GUILD_ANNOUNCEMENT, "Announcement"),
)


def _id(raw: str | None, field: str) -> int:
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise Invalid(errors={field: ["Choose a channel."]})
    return int(raw)


def _act(request: AuthedHttpRequest, guild_id: int) -> None:
    post = request.POST
    action = post.get("action")
    if action == "create":
        data: dict[str, Any] = {"name": post.get("name", ""), "type": ChannelType.GUILD_TEXT}
        kind = post.get("type", "0")
        data["type"] = int(kind) if kind.isascii() and kind.isdigit() and len(kind) < 3 else -1
        if post.get("parent_id") and data["type"] != ChannelType.GUILD_CATEGORY:
            data["parent_id"] = post["parent_id"]
        channel_services.check_create_channel(request.user, guild_id, data)
    elif action == "rename":
        channel_id = _id(post.get("channel_id"), "channel_id")
        changes: dict[str, Any] = {"name": post.get("name", "")}
        if "parent_id" in post:
            changes["parent_id"] = post["parent_id"] or None
        channel_services.check_update_channel(request.user, channel_id, changes)
    elif action in ("up", "down"):
        channel_id = _id(post.get("channel_id"), "channel_id")
        channel_services.check_move_channel(request.user, channel_id, -1 if action == "up" else 1)
    elif action == "delete":
        channel_services.check_delete_channel(request.user, _id(post.get("channel_id"), "id"))
    elif action == "encrypt":
        channel_id = _id(post.get("channel_id"), "channel_id")
        if post.get("confirm") != "yes":
            raise Invalid(
                errors={"confirm": ["Tick the box to confirm: encryption cannot be turned off."]}
            )
        mls.check_enable(request.user, channel_id, {})
    else:
        raise Invalid(errors={"action": ["Unknown action."]})


@require_http_methods(["GET", "POST"])
@member_view
def channels(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    if not allowed(ctx, P.MANAGE_CHANNELS | P.MANAGE_ROLES):
        ctx.require(P.MANAGE_CHANNELS)
    errors: list[str] = []
    if request.method == "POST":
        try:
            _act(request, guild_id)
        except APIError as exc:
            if exc.status != 400:
                raise
            errors = _messages(exc)
        else:
            return redirect(f"{request.path}?saved=1")
    items = [sidebar.ChannelItem(c) for c, _ in visible_channels(ctx)]
    tree = sidebar.channel_tree(items)
    return _page(
        request,
        ctx,
        "channels",
        "web/settings/channels.html",
        tree=tree,
        categories=[c.channel for c in tree if c.channel is not None],
        channel_types=CHANNEL_TYPES,
        can_manage_channels=sidebar.can(ctx, P.MANAGE_CHANNELS),
        can_manage_roles=sidebar.can(ctx, P.MANAGE_ROLES),
        can_manage_webhooks=sidebar.can(ctx, P.MANAGE_WEBHOOKS),
        text_types=TEXT_TYPES,
        encrypted_ids=set(
            MlsGroup.objects.filter(channel__guild_id=guild_id).values_list("channel_id", flat=True)
        ),
        errors=errors,
    )


@member_view
def view_as(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    ctx.require(P.MANAGE_ROLES)
    raw = request.GET.get("role") or str(guild_id)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise unknown_role()
    preview = check_view_as_role(request.user, guild_id, int(raw))
    by_id = {row.channel.id: row for row in preview.channels}
    items = [sidebar.ChannelItem(row.channel) for row in preview.channels]
    tree = [
        {
            "category": by_id[c.channel.id] if c.channel is not None else None,
            "rows": [by_id[i.channel.id] for i in c.items],
        }
        for c in sidebar.channel_tree(items)
    ]
    return _page(
        request,
        ctx,
        "view-as",
        "web/settings/view_as.html",
        roles=sorted(ctx.roles.values(), key=lambda r: -r.position),
        preview=preview,
        tree=tree,
    )
