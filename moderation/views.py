"""Moderator pages (server-rendered, no inline script or style): a guild's report queue, a
case with its evidence and actions, a member's sanctions, and the moderation log. Every form
posts to a view that calls the same services as the API; a refusal renders the page again
with the service's message and status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, overload

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.requests import AuthedHttpRequest
from moderation.services import audit, cases, sanctions, timeouts
from united.errors import APIError


@overload
def _int(value: Any, default: int) -> int: ...
@overload
def _int(value: Any, default: None = None) -> int | None: ...
def _int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _failed(request: HttpRequest, exc: APIError) -> HttpResponse:
    return render(request, "moderation/error.html", {"error": exc.message}, status=exc.status)


@login_required
def queue_page(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    state = request.GET.get("state") or None
    try:
        rows = cases.queue(request.user, guild_id, state)
    except APIError as exc:
        return _failed(request, exc)
    now = timezone.now()
    context = {
        "guild_id": guild_id,
        "cases": [(c, now - c.created_at) for c in rows],
        "state": state or "",
        "states": ["open", "assigned", "actioned", "dismissed"],
    }
    return render(request, "moderation/queue.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def case_page(request: AuthedHttpRequest, case_id: int) -> HttpResponse:
    error, status = None, 200
    if request.method == "POST":
        try:
            _case_post(request, case_id)
            return redirect("moderation-case", case_id=case_id)
        except APIError as exc:
            error, status = exc.message, exc.status
    try:
        case = cases.access_case(request.user, case_id)
    except APIError as exc:
        return _failed(request, exc)
    context = {
        "case": case,
        "data": cases.serialize_case(case, detail=True),
        "error": error,
        "actions": cases.ACTIONS,
    }
    return render(request, "moderation/case.html", context, status=status)


def _case_post(request: AuthedHttpRequest, case_id: int) -> None:
    op = request.POST.get("op")
    if op == "note":
        cases.check_add_note(request.user, case_id, request.POST.get("body"))
    elif op == "assign":
        cases.check_update_case(request.user, case_id, {"assignee_id": request.user.id})
    elif op == "state":
        cases.check_update_case(request.user, case_id, {"state": request.POST.get("state")})
    else:
        cases.check_case_action(
            request.user,
            case_id,
            request.POST.get("action"),
            reason=request.POST.get("reason", "")[:400],
            duration_seconds=_int(request.POST.get("duration_minutes"), 0) * 60
            if request.POST.get("action") == "timeout"
            else None,
            delete_message_seconds=_int(request.POST.get("delete_days"), 0) * 86400,
        )


@login_required
@require_http_methods(["GET", "POST"])
def member_page(request: AuthedHttpRequest, guild_id: int, user_id: int) -> HttpResponse:
    """A member's sanctions: time out, kick, ban (each checked by the service)."""
    from accounts.models import User

    error, status, done = None, 200, None
    if request.method == "POST":
        action = request.POST.get("action")
        reason = request.POST.get("reason", "")[:512]
        try:
            if action == "timeout":
                minutes = _int(request.POST.get("duration_minutes"), 0) or 0
                until = timezone.now() + timedelta(minutes=minutes) if minutes else None
                timeouts.check_timeout(request.user, guild_id, user_id, until, reason=reason)
            elif action == "kick":
                sanctions.check_kick(request.user, guild_id, user_id, reason=reason)
            elif action == "ban":
                sanctions.check_ban(
                    request.user,
                    guild_id,
                    user_id,
                    reason=reason,
                    delete_message_seconds=(_int(request.POST.get("delete_days"), 0) or 0) * 86400,
                )
            else:
                raise APIError("Unknown action")
            done = action
        except APIError as exc:
            error, status = exc.message, exc.status
    target = User.objects.filter(id=user_id).first()
    context = {
        "guild_id": guild_id,
        "target": target,
        "error": error,
        "done": done,
        "banned": target is not None
        and sanctions.GuildBan.objects.filter(guild_id=guild_id, user=target).exists(),
    }
    return render(request, "moderation/member.html", context, status=status)


@login_required
def modlog_page(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    try:
        page = audit.check_list_audit_log(request.user, guild_id, limit=100)
    except APIError as exc:
        return _failed(request, exc)
    users = {u["id"]: u["username"] for u in page["users"]}
    entries = [
        {**e, "actor": users.get(e["user_id"]), "action": audit.action_name(e["action_type"])}
        for e in page["audit_log_entries"]
    ]
    context = {
        "guild_id": guild_id,
        "entries": entries,
        "chain": audit.verify_guild_modlog(guild_id),
    }
    return render(request, "moderation/modlog.html", context)
