"""Guild settings for those allowed: overview, roles with a permission editor, channel
overwrites (Discord's tri-state allow / neutral / deny, per role or per member) and invites.
The channel list and "view as role" live in web.views.channel_settings. Permissions are shown
by group with the human names and descriptions of `guilds.permission_labels`. The guild
services check every permission and the role hierarchy; these views only parse forms and
render."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.requests import AuthedHttpRequest
from guilds import permission_labels as labels
from guilds import permissions as perms
from guilds.models import TEXT_TYPES, PermissionOverwrite
from guilds.services import invites as invite_services
from guilds.services import roles as role_services
from guilds.services.access import (
    access_channel,
    effective_overwrites,
    guild_context,
    unknown_channel,
    unknown_member,
    unknown_role,
    visible_channels,
)
from guilds.services.guilds import check_update_guild
from guilds.services.overwrites import check_delete_overwrite, check_put_overwrite
from guilds.services.preview import channel_kind
from united.errors import APIError
from web import sidebar
from web.views.common import guild_names, member_view

P = perms.P
SECTIONS = (
    ("overview", "Overview", P.MANAGE_GUILD),
    ("roles", "Roles", P.MANAGE_ROLES),
    # Either permission opens the channel list: one manages channels, the other overwrites.
    ("channels", "Channels", P.MANAGE_CHANNELS | P.MANAGE_ROLES),
    ("view-as", "View as role", P.MANAGE_ROLES),
    ("invites", "Invites", P.MANAGE_GUILD),
    ("integrations", "Integrations", P.MANAGE_WEBHOOKS),
)
# The overwrite editor's member picker: a select, not a search, so it stops at this many
# (members who already have an overwrite are always offered).
MEMBER_CHOICES = 200


def allowed(ctx, flags: int) -> bool:
    """Any of `flags` (a section may open for one of several permissions)."""
    return any(sidebar.can(ctx, int(flag)) for flag in P(flags))


def permission_groups(
    shown: list[labels.Label], state_of: Any
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Rows for the templates, by group: bit, human name, description and `state_of(bit)`."""
    return [
        (
            group,
            [
                {
                    "bit": label.bit,
                    "label": label.name,
                    "description": label.description,
                    "state": state_of(label.bit),
                }
                for label in rows
            ],
        )
        for group, rows in labels.grouped(shown)
    ]


def _messages(exc: APIError) -> list[str]:
    return [m for errs in exc.errors.values() for m in errs] or [exc.message]


def _page(request: HttpRequest, ctx, section: str, template: str, **extra) -> HttpResponse:
    context = {
        "rail": sidebar.rail(request.user),
        "guild": ctx.guild,
        "sections": [(key, label) for key, label, flag in SECTIONS if allowed(ctx, flag)],
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
        if allowed(ctx, flag):
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
    groups = permission_groups(list(labels.LABELS), lambda bit: bool(held & bit))
    return _page(
        request,
        ctx,
        "roles",
        "web/settings/role.html",
        role=current,
        is_everyone=role_id == guild_id,
        groups=groups,
        errors=errors,
    )


def _target(request: HttpRequest, ctx, default: int) -> tuple[int, int]:
    """(overwrite type, target id) from `target=role:<id>|member:<id>` (or the older `role=`);
    an unknown or malformed one is the 404 of an unknown role or member."""
    raw = request.POST.get("target") or request.GET.get("target") or ""
    kind_name, _, number = raw.partition(":")
    if not raw:
        kind_name, number = "role", request.POST.get("role") or request.GET.get("role") or ""
        number = number or str(default)
    if not number.isascii() or not number.isdigit() or len(number) > 20:
        raise unknown_role()
    target = int(number)
    if kind_name == "role" and target in ctx.roles:
        return PermissionOverwrite.ROLE, target
    if kind_name == "member" and str(target) in guild_names(ctx):
        return PermissionOverwrite.MEMBER, target
    raise unknown_role() if kind_name == "role" else unknown_member()


@require_http_methods(["GET", "POST"])
@member_view
def channel_permissions(request: AuthedHttpRequest, guild_id: int, channel_id: int) -> HttpResponse:
    """One role's or member's overwrite on one channel: each permission that means something
    in this kind of channel is allow, inherit (neutral) or deny. Bits the editor does not show
    (guild-only ones a bot may have set) are kept as they were."""
    access = access_channel(request.user, channel_id)
    access.require(P.MANAGE_ROLES)
    ctx = access.ctx
    if access.channel.guild_id != guild_id:
        raise unknown_channel()
    kind, target = _target(request, ctx, guild_id)
    shown = [
        label
        for label in labels.LABELS
        if labels.applies_to_channel(label, channel_kind(access.channel))
    ]
    shown_bits = sum(label.bit for label in shown)
    # A synced channel shows its category's overwrites: what members get there. Saving one
    # makes them the channel's own first (the service's `materialise`), so none is lost.
    overwrites = effective_overwrites(access.channel)
    existing = next((o for o in overwrites if o.id == target), None)
    errors: list[str] = []
    if request.method == "POST":
        allow = (existing.allow if existing else 0) & ~shown_bits
        deny = (existing.deny if existing else 0) & ~shown_bits
        for label in shown:
            choice = request.POST.get(f"p{label.bit}")
            if choice == "allow":
                allow |= label.bit
            elif choice == "deny":
                deny |= label.bit
        try:
            if allow or deny:
                check_put_overwrite(
                    request.user,
                    channel_id,
                    target,
                    {"type": kind, "allow": str(allow), "deny": str(deny)},
                )
            elif existing is not None:
                check_delete_overwrite(request.user, channel_id, target)
        except APIError as exc:
            errors = _messages(exc)
        else:
            chosen = f"{'role' if kind == PermissionOverwrite.ROLE else 'member'}:{target}"
            return redirect(f"{request.path}?target={chosen}&saved=1")
    allow = existing.allow if existing else 0
    deny = existing.deny if existing else 0

    def state(bit: int) -> str:
        return "allow" if allow & bit else "deny" if deny & bit else "neutral"

    names = guild_names(ctx)
    with_overwrite = {o.id for o in overwrites if o.type == PermissionOverwrite.MEMBER}
    members = sorted(
        (
            (int(uid), name)
            for index, (uid, name) in enumerate(names.items())
            if index < MEMBER_CHOICES or int(uid) in with_overwrite
        ),
        key=lambda pair: pair[1].lower(),
    )
    target_kind = "role" if kind == PermissionOverwrite.ROLE else "member"
    roles_by_rank = sorted(ctx.roles.values(), key=lambda r: -r.position)
    role_names = {r.id: r.name for r in roles_by_rank}
    current = [
        {
            "target": f"{'role' if o.type == PermissionOverwrite.ROLE else 'member'}:{o.id}",
            "name": role_names.get(o.id, "")
            if o.type == PermissionOverwrite.ROLE
            else "@" + names.get(str(o.id), str(o.id)),
            "allows": bin(o.allow).count("1"),
            "denies": bin(o.deny).count("1"),
        }
        for o in overwrites
    ]
    return _page(
        request,
        ctx,
        "channels",
        "web/settings/channel.html",
        channel=access.channel,
        is_text=access.channel.type in TEXT_TYPES,
        synced=access.channel.permission_synced and access.channel.parent_id,
        roles=roles_by_rank,
        members=members,
        target=target,
        target_kind=target_kind,
        chosen=f"{target_kind}:{target}",
        target_name=role_names.get(target)
        if kind == PermissionOverwrite.ROLE
        else "@" + names.get(str(target), ""),
        current=current,
        groups=permission_groups(shown, state),
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
