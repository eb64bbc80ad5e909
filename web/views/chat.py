"""The chat shell: guild rail, channel tree, message pane, member list, and the fragments
the page refreshes when the gateway says something changed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from accounts.requests import AuthedHttpRequest
from e2e.mls import is_mls_channel
from guilds import permissions as perms
from guilds.models import TEXT_TYPES
from guilds.services.access import access_channel, guild_context
from messaging import presence
from messaging.services.messages import history
from moderation.services.sanctions import ban_notice
from united.errors import Invalid, NotFound
from web import sidebar, timeline
from web.htmx import render_fragment
from web.views.common import guild_names, member_view
from web.views.threads import can_start_thread, panel_context

PAGE = 50


@member_view
def home(request: HttpRequest) -> HttpResponse:
    """Straight into the first community; someone in none gets onboarding's second screen."""
    guilds = sidebar.rail(request.user)
    if guilds:
        return redirect("web-guild", guild_id=guilds[0]["id"])
    return redirect("web-start")


def _banned(request: AuthedHttpRequest, guild_id: int) -> HttpResponse | None:
    """A member banned from the guild is told so (and why, if the guild shows reasons)
    instead of meeting the "Unknown Guild" everyone else outside it gets."""
    notice = ban_notice(request.user, guild_id)
    if notice is None:
        return None
    context = {"rail": sidebar.rail(request.user), "notice": notice}
    return render(request, "web/banned.html", context, status=403)


@member_view
def guild(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    try:
        ctx = guild_context(request.user, guild_id)
    except NotFound:
        banned = _banned(request, guild_id)
        if banned is not None:
            return banned
        # Kicked or left while the page was open (realtime.js comes here on GUILD_DELETE):
        # back to the client's home, as before.
        return redirect("web-home")
    channel = sidebar.default_channel(ctx, sidebar.channel_items(request.user, ctx))
    if channel is None:
        return render(request, "web/empty_guild.html", _shell(request, ctx, None))
    return redirect("web-channel", guild_id=guild_id, channel_id=channel.id)


def _shell(request: HttpRequest, ctx, current) -> dict[str, Any]:
    items = sidebar.channel_items(request.user, ctx)
    return {
        "rail": sidebar.rail(request.user),
        "ctx": ctx,
        "guild": ctx.guild,
        "tree": sidebar.channel_tree(items),
        "items": items,
        "current": current,
        "member_page": sidebar.members(ctx),
        "can_manage_channels": sidebar.can(ctx, perms.P.MANAGE_CHANNELS),
        "can_manage_guild": sidebar.can(ctx, perms.P.MANAGE_GUILD),
        "can_settings": sidebar.can(ctx, perms.P.MANAGE_GUILD)
        or sidebar.can(ctx, perms.P.MANAGE_ROLES)
        or sidebar.can(ctx, perms.P.MANAGE_WEBHOOKS),
        "my_status": presence.chosen(request.user).status,
    }


def _names(ctx, items) -> tuple[dict[str, str], dict[str, str]]:
    return guild_names(ctx), {str(i.channel.id): i.channel.name for i in items}


@member_view
def channel(
    request: AuthedHttpRequest, guild_id: int, channel_id: int, thread_id: int | None = None
) -> HttpResponse:
    """The channel; with `thread_id`, its thread open in the panel beside it."""
    try:
        access = access_channel(request.user, channel_id)
    except NotFound:
        # A link into a guild one was banned from says so; any other refusal stays 404.
        banned = _banned(request, guild_id)
        if banned is not None:
            return banned
        raise
    if access.channel.guild_id != guild_id or access.channel.type not in TEXT_TYPES:
        raise Http404
    ctx = access.ctx
    context = _shell(request, ctx, access.channel)
    item = next(i for i in context["items"] if i.channel.id == channel_id)
    names, channels = _names(ctx, context["items"])
    around = _around(request, channel_id)
    rows = None
    if around:
        # Jump to a message in context (search results, replies further back): the page
        # opens on the history around it; newer pages load as the reader scrolls down.
        try:
            rows = history(request.user, channel_id, around=around, limit=PAGE)[::-1]
        except Invalid:  # not a message of this channel (any more): open the present
            around = None
    if rows is not None:
        has_newer = bool(rows) and _more_after(request.user, channel_id, rows[-1]["id"])
        has_more = _more_before(request.user, channel_id, rows[0]["id"]) if rows else False
    else:
        rows = history(request.user, channel_id, limit=PAGE)[::-1]
        has_newer, has_more = False, len(rows) == PAGE
    # The first unread may be further back than this page: the bar then opens it in context.
    unread_id = (
        timeline.first_unread_id(request.user, access.channel, item.last_read_id)
        if item.unread
        else None
    )
    messages = timeline.annotate(
        request.user,
        rows,
        names=names,
        channels=channels,
        role_ids={str(r) for r in ctx.role_ids},
        first_unread=unread_id,
    )
    marked = any(m.get("first_unread") for m in messages)
    context.update(
        channel=access.channel,
        messages=messages,
        has_more=has_more,
        has_newer=has_newer,
        around=around,
        unread=unread_id is not None,
        unread_id=None if marked else unread_id,
        can_send=perms.has(access.permissions, perms.P.SEND_MESSAGES),
        can_attach=perms.has(access.permissions, perms.P.SEND_MESSAGES | perms.P.ATTACH_FILES),
        max_upload=settings.UNITED_MAX_UPLOAD_BYTES,
        can_react=perms.has(access.permissions, perms.P.ADD_REACTIONS),
        can_manage_messages=perms.has(access.permissions, perms.P.MANAGE_MESSAGES),
        can_invite=perms.has(access.permissions, perms.P.CREATE_INSTANT_INVITE),
        slowmode=0
        if perms.has(access.permissions, perms.P.MANAGE_MESSAGES | perms.P.MANAGE_CHANNELS)
        else access.channel.rate_limit_per_user,
        mention_names=names,
        can_create_thread=can_start_thread(access),
        encrypted=is_mls_channel(access.channel),
    )
    if thread_id is not None:
        context.update(
            panel_context(
                request,
                channel_id,
                thread_id,
                names=names,
                channels=channels,
                role_ids={str(r) for r in ctx.role_ids},
            )
        )
    return render(request, "web/channel.html", context)


def _around(request: HttpRequest, channel_id: int) -> int | None:
    raw = request.GET.get("around", "")
    return int(raw) if raw.isdigit() else None


def _more_before(user, channel_id: int, message_id: str) -> bool:
    return bool(history(user, channel_id, before=message_id, limit=1))


def _more_after(user, channel_id: int, message_id: str) -> bool:
    return bool(history(user, channel_id, after=message_id, limit=1))


@member_view
def older(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    """Infinite scroll: the page before `?before=`, with its own sentinel if more remain;
    or, below a jump into history, the page after `?after=`."""
    access = access_channel(request.user, channel_id)
    after = request.GET.get("after")
    items = sidebar.channel_items(request.user, access.ctx)
    names, channels = _names(access.ctx, items)
    if after is not None:
        rows = history(request.user, channel_id, after=after, limit=PAGE)[::-1]
        # The message the page continues from decides day separators and grouping.
        anchor = history(request.user, channel_id, around=after, limit=1)
        annotated = timeline.annotate(request.user, anchor, names={}, channels={})
        previous = annotated[0] if annotated else None
        messages = timeline.annotate(
            request.user, rows, names=names, channels=channels, previous=previous
        )
        template = "web/_newer.html"
        has_more = bool(rows) and _more_after(request.user, channel_id, rows[-1]["id"])
    else:
        rows = history(request.user, channel_id, before=request.GET.get("before"), limit=PAGE)
        messages = timeline.annotate(
            request.user, rows[::-1], names=names, channels=channels, role_ids=set()
        )
        template, has_more = "web/_older.html", len(rows) == PAGE
    return render_fragment(
        request,
        template,
        {
            "channel": access.channel,
            "messages": messages,
            "has_more": has_more,
            "can_react": perms.has(access.permissions, perms.P.ADD_REACTIONS),
            "can_manage_messages": perms.has(access.permissions, perms.P.MANAGE_MESSAGES),
            "can_send": perms.has(access.permissions, perms.P.SEND_MESSAGES),
            "can_create_thread": can_start_thread(access),
        },
    )


@member_view
def channel_list(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    items = sidebar.channel_items(request.user, ctx)
    current = request.GET.get("current")
    return render_fragment(
        request,
        "web/_channels.html",
        {
            "guild": ctx.guild,
            "tree": sidebar.channel_tree(items),
            "current_id": int(current) if current and current.isdigit() else None,
            "can_manage_channels": sidebar.can(ctx, perms.P.MANAGE_CHANNELS),
        },
    )


@member_view
def rail(request: HttpRequest) -> HttpResponse:
    current = request.GET.get("current", "")
    return render_fragment(
        request, "web/_rail.html", {"rail": sidebar.rail(request.user), "current_id": current}
    )


@member_view
def member_list(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    """The member list from position `start` (0: the first page, what a refresh reloads);
    the list's last entry loads the next page as it scrolls into view."""
    ctx = guild_context(request.user, guild_id)
    raw = request.GET.get("start", "0")
    if not raw.isdigit() or len(raw) > 8:
        raise Invalid(errors={"start": ["A position in the member list (0 or more)."]})
    page = sidebar.members(ctx, start=int(raw))
    template = "web/_members_page.html" if page.start else "web/_members.html"
    return render_fragment(request, template, {"guild": ctx.guild, "member_page": page})


@member_view
def switcher(request: AuthedHttpRequest) -> JsonResponse:
    """Ctrl/Cmd+K: every text channel the user can see, across their guilds."""
    out = []
    for entry in sidebar.rail(request.user):
        ctx = guild_context(request.user, int(entry["id"]))
        for item in sidebar.channel_items(request.user, ctx):
            if item.is_text:
                out.append(
                    {
                        "name": item.channel.name,
                        "guild": entry["name"],
                        "unread": item.unread,
                        "url": f"/app/guilds/{entry['id']}/channels/{item.channel.id}/",
                    }
                )
    return JsonResponse({"channels": out})
