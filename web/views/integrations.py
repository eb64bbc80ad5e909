"""Guild settings → Integrations: the guild's incoming webhooks (bots/webhooks.py).

Anyone with MANAGE_WEBHOOKS in a channel sees that channel's webhooks here and makes,
renames, re-pictures, regenerates and deletes them; the services decide, these views parse
forms and render. A webhook's URL holds its token, which the node keeps only as a digest, so
the URL is on the page once: right after the webhook is made or its token regenerated.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from accounts.requests import AuthedHttpRequest
from bots import webhooks as hooks
from guilds import permissions as perms
from guilds.services.access import guild_context
from united.errors import APIError, Invalid
from web.views.common import member_view
from web.views.settings import _messages, _page

P = perms.P


def _act(request: AuthedHttpRequest) -> tuple[Any, str | None, str]:
    """(webhook, its new token or None, what to tell the member)."""
    post = request.POST
    action = post.get("action")
    if action == "create":
        webhook, token = hooks.check_create_webhook(
            request.user,
            post.get("channel_id"),
            name=post.get("name", ""),
            avatar_url=post.get("avatar_url", ""),
        )
        return webhook, token, f"Webhook {webhook.name} created."
    webhook_id = post.get("webhook_id")
    if action == "save":
        changes = {"name": post.get("name", ""), "avatar_url": post.get("avatar_url", "")}
        webhook = hooks.check_modify_webhook(request.user, webhook_id, changes)
        return webhook, None, f"Webhook {webhook.name} saved."
    if action == "regenerate":
        webhook, token = hooks.check_regenerate_token(request.user, webhook_id)
        return webhook, token, f"New URL for {webhook.name}: the old one no longer works."
    if action == "delete":
        webhook = hooks.access_webhook(request.user, webhook_id)
        hooks.check_delete_webhook(request.user, webhook_id)
        return None, None, f"Webhook {webhook.name} deleted."
    raise Invalid(errors={"action": ["Unknown action."]})


@require_http_methods(["GET", "POST"])
@member_view
def integrations(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    channels = hooks.manageable_channels(ctx)
    if not channels:
        ctx.require(P.MANAGE_WEBHOOKS)
    errors: list[str] = []
    shown: tuple[Any, str] | None = None
    notice = ""
    status = 200
    if request.method == "POST":
        try:
            webhook, token, notice = _act(request)
        except APIError as exc:
            if exc.status >= 500:
                raise
            errors, status = _messages(exc), exc.status
        else:
            if webhook is not None and token is not None:
                shown = (webhook.id, request.build_absolute_uri(hooks.url_path(webhook, token)))
    chosen = request.GET.get("channel") or request.POST.get("channel_id") or ""
    response = _page(
        request,
        ctx,
        "integrations",
        "web/settings/integrations.html",
        channels=channels,
        chosen=chosen,
        webhooks=hooks.list_guild_webhooks(request.user, guild_id),
        shown=shown,
        notice=notice,
        max_per_channel=hooks.MAX_PER_CHANNEL,
        errors=errors,
    )
    response.status_code = status
    return response
