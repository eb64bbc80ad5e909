"""The member profile card (opened from the member list or a message's author) and what it
offers the viewer. The card only shows what the services would allow; the actions themselves
go through the REST API from static/src/members.js (the same check_* functions: role
hierarchy, KICK/BAN/MODERATE_MEMBERS), so a refusal comes back in the API's error shape."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from accounts.requests import AuthedHttpRequest
from guilds import permissions as perms
from guilds.services.access import guild_context
from guilds.services.members import member_card
from moderation.services.timeouts import communication_disabled_until
from web import sidebar
from web.htmx import render_fragment
from web.views.common import member_view

P = perms.P
# Discord's timeout choices, in seconds.
TIMEOUTS = (
    (60, "60 seconds"),
    (300, "5 minutes"),
    (600, "10 minutes"),
    (3600, "1 hour"),
    (86400, "1 day"),
    (604800, "1 week"),
)
# How much of a banned member's recent history a ban may delete (at most 7 days).
DELETE_HISTORY = (
    (0, "Don't delete any"),
    (3600, "Previous hour"),
    (86400, "Previous 24 hours"),
    (604800, "Previous 7 days"),
)


def _hex(color: int) -> str:
    return f"#{color:06x}" if color else ""


def _may_sanction(card: dict[str, Any], flag: int) -> bool:
    """moderation.services.standing.access_target's rule, to offer only what it would allow."""
    ctx = card["ctx"]
    return (
        card["user"].id != ctx.user.id
        and card["user"].id != ctx.guild.owner_id
        and perms.has(ctx.base, flag)
        and ctx.top_position > card["rank"]
    )


@member_view
def card(request: AuthedHttpRequest, guild_id: int, user_id: int) -> HttpResponse:
    card = member_card(request.user, guild_id, user_id)
    ctx, target, user = card["ctx"], card["member"], card["user"]
    colored = next((r for r in card["roles"] if r.color), None)
    can_timeout = _may_sanction(card, P.MODERATE_MEMBERS)
    if can_timeout:
        # Administrators cannot be timed out (moderation.services.timeouts.check_timeout).
        can_timeout = not perms.has(guild_context(user, guild_id).base, P.ADMINISTRATOR)
    is_self = user.id == request.user.id
    context = {
        "guild": ctx.guild,
        "target": user,
        "member": target,
        "shown_name": target.nick or user.shown_name,
        "initials": sidebar.initials(target.nick or user.shown_name),
        "name_color": _hex(colored.color) if colored else "",
        "roles": [{"role": r, "color": _hex(r.color)} for r in card["roles"]],
        "assignable": [
            {"role": a["role"], "held": a["held"], "color": _hex(a["role"].color)}
            for a in card["assignable"]
        ],
        "mutual_guilds": card["mutual_guilds"],
        "is_owner": user.id == ctx.guild.owner_id,
        "is_self": is_self,
        "now": timezone.now(),
        "can_message": not is_self and user.is_active,
        "can_kick": _may_sanction(card, P.KICK_MEMBERS),
        "can_ban": _may_sanction(card, P.BAN_MEMBERS),
        "can_timeout": can_timeout,
        "timed_out_until": communication_disabled_until(guild_id, user.id),
        "timeouts": TIMEOUTS,
        "delete_history": DELETE_HISTORY,
    }
    return render_fragment(request, "web/_member_card.html", context)
