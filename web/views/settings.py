"""Guild settings for those allowed: overview, roles with a permission editor, channel
overwrites (Discord's tri-state allow / neutral / deny) and invites. The guild services
check every permission and the role hierarchy; these views only parse forms and render."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.requests import AuthedHttpRequest
from guilds import permissions as perms
from guilds.models import TEXT_TYPES, ChannelType, PermissionOverwrite
from guilds.services import invites as invite_services
from guilds.services import roles as role_services
from guilds.services.access import (
    access_channel,
    guild_context,
    own_overwrites,
    unknown_channel,
    unknown_role,
    visible_channels,
)
from guilds.services.guilds import check_update_guild
from guilds.services.overwrites import check_delete_overwrite, check_put_overwrite
from united.errors import APIError
from web import sidebar
from web.views.common import member_view

P = perms.P
SECTIONS = (
    ("overview", "Overview", P.MANAGE_GUILD),
    ("roles", "Roles", P.MANAGE_ROLES),
    ("channels", "Channel permissions", P.MANAGE_ROLES),
    ("invites", "Invites", P.MANAGE_GUILD),
)


def permission_rows() -> list[dict[str, Any]]:
    return [
        {"name": flag.name, "label": flag.name.replace("_", " ").capitalize(), "bit": int(flag)}
        for flag in P
        if flag.name
    ]


def _messages(exc: APIError) -> list[str]:
    return [m for errs in exc.errors.values() for m in errs] or [exc.message]


def _page(request: HttpRequest, ctx, section: str, template: str, **extra) -> HttpResponse:
    allowed = [(key, label) for key, label, flag in SECTIONS if sidebar.can(ctx, flag)]
    context = {
        "rail": sidebar.rail(request.user),
        "guild": ctx.guild,
        "sections": allowed,
        "section": section,
        "errors": [],
        "saved": request.GET.get("saved") == "1",
        **extra,
    }
    return render(request, template, context, status=400 if context["errors"] else 200)


@member_view
def index(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    for key, _label, flag in SECTIONS:
        if sidebar.can(ctx, flag):
            return redirect(f"web-settings-{key}", guild_id=guild_id)
    ctx.require(P.MANAGE_GUILD)  # nothing to manage: the service's refusal, as a 403 page
    return redirect("web-guild", guild_id=guild_id)


@require_http_methods(["GET", "POST"])
@member_view
def overview(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    ctx.require(P.MANAGE_GUILD)
    errors: list[str] = []
    if request.method == "POST":
        changes = {
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
            "search_hides_banned": request.POST.get("search_hides_banned") == "1",
            "show_ban_reasons": request.POST.get("show_ban_reasons") == "1",
        }
        try:
            check_update_guild(request.user, guild_id, changes)
        except APIError as exc:
            errors = _messages(exc)
        else:
            return redirect(f"{request.path}?saved=1")
    return _page(request, ctx, "overview", "web/settings/overview.html", errors=errors)


@require_http_methods(["GET", "POST"])
@member_view
def roles(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    ctx.require(P.MANAGE_ROLES)
    errors: list[str] = []
    status = 200
    if request.method == "POST" and "move" in request.POST:
        # The keyboard alternative to dragging: one step up or down, through the service
        # (which refuses a move to or above the mover's own highest role with 403).
        try:
            _move_role(request, guild_id)
        except APIError as exc:
            errors, status = _messages(exc), exc.status
        else:
            return redirect(f"{request.path}?saved=1")
    elif request.method == "POST":
        try:
            role = role_services.check_create_role(
                request.user, guild_id, {"name": request.POST.get("name", "")}
            )
        except APIError as exc:
            errors, status = _messages(exc), 400
        else:
            return redirect("web-settings-role", guild_id=guild_id, role_id=role.id)
    top = ctx.top_position
    rows = []
    for row in role_services.list_roles(request.user, guild_id)[::-1]:
        position, everyone = row["position"], row["id"] == str(guild_id)
        movable = not everyone and position < top
        rows.append(
            dict(
                row,
                everyone=everyone,
                movable=movable,
                can_up=movable and position + 1 < top and position < len(ctx.roles) - 1,
                can_down=movable and position > 1,
                swatch=f"#{row['color']:06x}" if row["color"] else "",
            )
        )
    response = _page(request, ctx, "roles", "web/settings/roles.html", roles=rows, errors=errors)
    response.status_code = status
    return response


def _move_role(request: AuthedHttpRequest, guild_id: int) -> None:
    role_id, direction = request.POST.get("move", ""), request.POST.get("direction")
    current = next(
        (r for r in role_services.list_roles(request.user, guild_id) if r["id"] == role_id),
        None,
    )
    if current is None:
        raise unknown_role()
    step = 1 if direction == "up" else -1
    role_services.check_reorder_roles(
        request.user, guild_id, [{"id": role_id, "position": current["position"] + step}]
    )


@require_http_methods(["GET", "POST"])
@member_view
def role(request: AuthedHttpRequest, guild_id: int, role_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    ctx.require(P.MANAGE_ROLES)
    errors: list[str] = []
    if request.method == "POST":
        bits = sum(int(b) for b in request.POST.getlist("perm") if b.isdigit())
        data: dict[str, Any] = {
            "permissions": str(bits),
            "hoist": request.POST.get("hoist") == "1",
            "mentionable": request.POST.get("mentionable") == "1",
        }
        if role_id != guild_id:
            data["name"] = request.POST.get("name", "")
        try:
            role_services.check_update_role(request.user, guild_id, role_id, data)
        except APIError as exc:
            errors = _messages(exc)
        else:
            return redirect(f"{request.path}?saved=1")
    current = next(
        (r for r in role_services.list_roles(request.user, guild_id) if r["id"] == str(role_id)),
        None,
    )
    if current is None:
        raise unknown_role()
    held = int(current["permissions"])
    rows = [dict(row, on=bool(held & row["bit"])) for row in permission_rows()]
    return _page(
        request,
        ctx,
        "roles",
        "web/settings/role.html",
        role=current,
        is_everyone=role_id == guild_id,
        rows=rows,
        errors=errors,
    )


@member_view
def channels(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    ctx.require(P.MANAGE_ROLES)
    rows = [c for c, _ in visible_channels(ctx) if c.type != ChannelType.GUILD_CATEGORY]
    return _page(request, ctx, "channels", "web/settings/channels.html", channels=rows)


@require_http_methods(["GET", "POST"])
@member_view
def channel_permissions(request: AuthedHttpRequest, guild_id: int, channel_id: int) -> HttpResponse:
    """One role's overwrite on one channel: each bit allow, neutral (inherit) or deny."""
    access = access_channel(request.user, channel_id)
    access.require(P.MANAGE_ROLES)
    ctx = access.ctx
    if access.channel.guild_id != guild_id:
        raise unknown_channel()
    roles_by_rank = sorted(ctx.roles.values(), key=lambda r: -r.position)
    target = int(request.GET.get("role") or request.POST.get("role") or guild_id)
    if target not in ctx.roles:
        raise unknown_role()
    errors: list[str] = []
    if request.method == "POST":
        allow = deny = 0
        for row in permission_rows():
            choice = request.POST.get(f"p{row['bit']}")
            if choice == "allow":
                allow |= row["bit"]
            elif choice == "deny":
                deny |= row["bit"]
        try:
            if allow or deny:
                check_put_overwrite(
                    request.user,
                    channel_id,
                    target,
                    {"type": PermissionOverwrite.ROLE, "allow": str(allow), "deny": str(deny)},
                )
            elif any(o.id == target for o in own_overwrites(access.channel)):
                check_delete_overwrite(request.user, channel_id, target)
        except APIError as exc:
            errors = _messages(exc)
        else:
            return redirect(f"{request.path}?role={target}&saved=1")
    existing = next((o for o in own_overwrites(access.channel) if o.id == target), None)
    allow = existing.allow if existing else 0
    deny = existing.deny if existing else 0
    rows = [
        dict(
            row,
            state="allow" if allow & row["bit"] else "deny" if deny & row["bit"] else "neutral",
        )
        for row in permission_rows()
    ]
    return _page(
        request,
        ctx,
        "channels",
        "web/settings/channel.html",
        channel=access.channel,
        is_text=access.channel.type in TEXT_TYPES,
        roles=roles_by_rank,
        target=target,
        rows=rows,
        errors=errors,
    )


@require_http_methods(["GET", "POST"])
@member_view
def invites(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    ctx.require(P.MANAGE_GUILD)
    errors: list[str] = []
    if request.method == "POST":
        try:
            if request.POST.get("revoke"):
                invite_services.check_revoke_invite(request.user, request.POST["revoke"])
            else:
                invite_services.check_create_invite(
                    request.user,
                    int(request.POST.get("channel_id") or 0),
                    {
                        "max_age": int(request.POST.get("max_age") or 0),
                        "max_uses": int(request.POST.get("max_uses") or 0),
                    },
                )
        except (APIError, ValueError) as exc:
            errors = _messages(exc) if isinstance(exc, APIError) else ["Enter whole numbers."]
        else:
            return redirect(f"{request.path}?saved=1")
    text_channels = [c for c, _ in visible_channels(ctx) if c.type in TEXT_TYPES]
    return _page(
        request,
        ctx,
        "invites",
        "web/settings/invites.html",
        invites=invite_services.list_guild_invites(request.user, guild_id),
        text_channels=text_channels,
        errors=errors,
    )
