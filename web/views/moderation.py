"""Moderation from inside the chat shell: reporting a message or a member (the report dialog),
the reporter's own reports, and for those who work a guild's queue the queue, a case with its
evidence and actions, and the signed moderation log with a "Verify chain" button.

Every decision stays in the moderation services (`check_create_report`, `access_case`,
`check_case_action` …); a refusal is shown in the page or the dialog with its status, never a
500. The pages keep the chat's layout (rail, channel sidebar, member list) so a moderator never
leaves the client."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.requests import AuthedHttpRequest
from guilds.services.access import guild_context
from moderation.services import audit, cases, mine, reports
from united.errors import APIError, NotFound
from web import sidebar
from web.views.chat import _shell
from web.views.common import member_view

# What a moderator picks from, in words; the service takes seconds (at most 28 days).
TIMEOUT_CHOICES = [
    (60, "1 minute"),
    (300, "5 minutes"),
    (600, "10 minutes"),
    (3600, "1 hour"),
    (86400, "1 day"),
    (7 * 86400, "1 week"),
]
ACTION_WORDS = {
    "delete_message": "Delete the message",
    "warn": "Warn the author",
    "timeout": "Time the author out",
    "kick": "Kick the author",
    "ban": "Ban the author",
}
# The log's action names in words; anything else reads as its name, capitalised.
LOG_WORDS = {
    "MEMBER_KICK": "Kicked",
    "MEMBER_BAN_ADD": "Banned",
    "MEMBER_BAN_REMOVE": "Unbanned",
    "MESSAGE_DELETE": "Message deleted",
    "MESSAGE_BULK_DELETE": "Messages deleted",
    "MEMBER_ROLE_UPDATE": "Roles changed",
}
STATE_WORDS = {
    "open": "Open",
    "assigned": "Assigned",
    "actioned": "Actioned",
    "dismissed": "Dismissed",
}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _refused(request: AuthedHttpRequest, exc: APIError) -> HttpResponse:
    """A refusal as a whole page (a link followed by hand) with the service's status."""
    status = exc.status if 400 <= exc.status < 500 else 400
    context = {"error": exc.message, "rail": sidebar.rail(request.user)}
    return render(request, "web/moderation/refused.html", context, status=status)


@require_POST
@member_view
def report(request: AuthedHttpRequest) -> HttpResponse:
    """The report dialog's form: a message (`channel_id`, `message_id`) or a member
    (`user_id`, `guild_id`). Answers the dialog's result region."""
    kind = request.POST.get("type", "")
    data: dict[str, Any] = {
        "type": kind,
        "category": request.POST.get("category", ""),
        "note": request.POST.get("note", ""),
    }
    for field in ("channel_id", "message_id", "user_id", "guild_id"):
        if request.POST.get(field):
            data[field] = request.POST[field]
    try:
        filed = reports.check_create_report(request.user, data)
    except APIError as exc:
        messages = [m for errs in exc.errors.values() for m in errs] or [exc.message]
        if isinstance(exc, NotFound):
            messages = ["That is no longer there, or you cannot see it."]
        return _form_error(request, messages, exc.status)
    return render(request, "web/moderation/_report_done.html", {"report": filed})


def _form_error(request: AuthedHttpRequest, messages: list[str], status: int) -> HttpResponse:
    return render(request, "web/_form_error.html", {"messages": messages}, status=status)


@member_view
def my_reports(request: AuthedHttpRequest) -> HttpResponse:
    return render(
        request,
        "web/moderation/my_reports.html",
        {
            "rail": sidebar.rail(request.user),
            "reports": mine.my_reports(request.user),
            "warnings": mine.my_warnings(request.user),
        },
    )


def _mod_context(request: AuthedHttpRequest, guild_id: int, tab: str) -> dict[str, Any]:
    ctx = guild_context(request.user, guild_id)
    context = _shell(request, ctx, None)
    context.update(tab=tab, open_count=cases.open_count(request.user, guild_id))
    return context


@member_view
def queue(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    state = request.GET.get("state") or None
    try:
        rows = cases.queue(request.user, guild_id, state)
    except NotFound:
        raise
    except APIError as exc:
        return _refused(request, exc)
    context = _mod_context(request, guild_id, "queue")
    context.update(
        cases=[
            {
                "case": c,
                "state": STATE_WORDS.get(c.state, c.state),
                "about": mine.describe_target(c.snapshot or {}),
            }
            for c in rows
        ],
        state=state or "",
        states=list(STATE_WORDS.items()),
    )
    return render(request, "web/moderation/queue.html", context)


@member_view
@require_http_methods(["GET", "POST"])
def case(request: AuthedHttpRequest, guild_id: int, case_id: int) -> HttpResponse:
    """A case and its actions. A POST acts, then shows the case again (HTMX swaps the case
    body; without script the browser follows the redirect)."""
    found = cases.access_case(request.user, case_id)
    if found.guild_id != guild_id:
        raise Http404
    error, status, done, refresh = None, 200, None, False
    if request.method == "POST":
        try:
            done = _act(request, case_id)
            if not getattr(request, "htmx", False):
                return redirect("web-mod-case", guild_id=guild_id, case_id=case_id)
            refresh = True
        except APIError as exc:
            error = " ".join([m for errs in exc.errors.values() for m in errs] or [exc.message])
            status = exc.status if 400 <= exc.status < 500 else 400
        found = cases.access_case(request.user, case_id)
    data = cases.serialize_case(found, detail=True)
    for r in data["reports"]:
        r["category_words"] = mine.CATEGORY_WORDS.get(r["category"], r["category"])
    for a in data["actions"]:
        a["words"] = ACTION_WORDS.get(a["action"], a["action"])
    context = _mod_context(request, guild_id, "queue")
    context.update(
        case=found,
        data=data,
        state_words=STATE_WORDS.get(found.state, found.state),
        unresolved=found.state in ("open", "assigned"),
        error=error,
        done=ACTION_WORDS.get(done, done) if done else None,
        actions=[(a, ACTION_WORDS[a]) for a in cases.ACTIONS],
        timeouts=TIMEOUT_CHOICES,
        message_gone=_message_gone(found),
    )
    response = render(request, "web/moderation/case.html", context, status=status)
    if refresh:  # the sidebar's count of open reports may have changed
        response["HX-Trigger"] = "refresh-channels"
    return response


def _message_gone(found: Any) -> bool:
    from messaging.models import Message

    if found.message_id is None:
        return False
    return not Message.objects.filter(id=found.message_id, deleted_at__isnull=True).exists()


def _act(request: AuthedHttpRequest, case_id: int) -> str:
    op = request.POST.get("op")
    if op == "note":
        cases.check_add_note(request.user, case_id, request.POST.get("body"))
        return "note"
    if op == "assign":
        cases.check_update_case(request.user, case_id, {"assignee_id": request.user.id})
        return "assign"
    if op == "state":
        cases.check_update_case(request.user, case_id, {"state": request.POST.get("state")})
        return "state"
    action = request.POST.get("action")
    duration = _int(request.POST.get("duration_seconds")) if action in ("timeout",) else None
    if action == "timeout" and duration not in {s for s, _ in TIMEOUT_CHOICES}:
        from united.errors import Invalid

        raise Invalid(errors={"duration_seconds": ["Choose how long the timeout lasts."]})
    cases.check_case_action(
        request.user,
        case_id,
        action,
        reason=request.POST.get("reason", "")[:400],
        duration_seconds=duration,
        delete_message_seconds=(_int(request.POST.get("delete_days")) or 0) * 86400,
    )
    return str(action)


@member_view
def modlog(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    try:
        page = audit.check_list_audit_log(request.user, guild_id, limit=100)
    except NotFound:
        raise
    except APIError as exc:
        return _refused(request, exc)
    from accounts.models import User

    users = {u["id"]: u["username"] for u in page["users"]}
    targets = {e["target_id"] for e in page["audit_log_entries"] if e.get("target_id")}
    users.update(
        (str(i), name)
        for i, name in User.objects.filter(
            id__in=[int(t) for t in targets if str(t).isdigit()]
        ).values_list("id", "username")
    )
    entries = [
        {
            **e,
            "actor": users.get(e["user_id"]),
            "target": users.get(e["target_id"], e["target_id"]),
            "action": _log_words(e),
        }
        for e in page["audit_log_entries"]
    ]
    context = _mod_context(request, guild_id, "log")
    context.update(entries=entries)
    return render(request, "web/moderation/modlog.html", context)


def _log_words(entry: dict[str, Any]) -> str:
    changes = {c.get("key"): c for c in entry.get("changes") or [] if isinstance(c, dict)}
    if cases.WARNING_KEY in changes:
        return "Warned"
    if "communication_disabled_until" in changes:
        lifted = changes["communication_disabled_until"].get("new_value") is None
        return "Timeout lifted" if lifted else "Timed out"
    name = audit.action_name(entry["action_type"])
    return LOG_WORDS.get(name, name.replace("_", " ").capitalize())


@require_POST
@member_view
def verify(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    """Replays the guild's chain (hashes, signatures, head) and says what it found."""
    audit.check_list_audit_log(request.user, guild_id, limit=1)  # VIEW_AUDIT_LOG, or refused
    result = audit.verify_guild_modlog(guild_id)
    return render(request, "web/moderation/_verify.html", {"result": result})
