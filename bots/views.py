"""The Developer page (a member's applications) and the install (consent) page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.requests import AuthedHttpRequest
from accounts.views.auth import error_context
from bots import interactions, services
from bots.models import Application
from guilds import permission_labels
from guilds.permissions import Permissions as P
from united.errors import APIError, Invalid

# What a new install link asks for until the owner picks otherwise: enough to read a channel,
# answer in it and react, as most bots need.
DEFAULT_PERMISSIONS = int(
    P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.ADD_REACTIONS
)


def install_path(app: Application, permissions: int) -> str:
    query = urlencode({"client_id": app.id, "scope": "bot", "permissions": permissions})
    return f"{reverse('bot-authorize')}?{query}"


def _installable_labels() -> list[tuple[str, list[permission_labels.Label]]]:
    return [
        (group, [label for label in labels if label.bit & services.INSTALLABLE])
        for group, labels in permission_labels.grouped()
    ]


def _render(
    request: AuthedHttpRequest,
    status: int = 200,
    *,
    shown_token: tuple[int, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    picked: dict[int, int] = {}
    for app in services.list_applications(request.user):
        raw = request.GET.getlist(f"perm-{app.id}")
        if raw:
            picked[app.id] = sum({int(v) for v in raw if v.isdigit()}) & services.INSTALLABLE
    rows = []
    for app in services.list_applications(request.user):
        interactions.ensure_keys(app)  # the public key is shown before any endpoint is set
        bits = picked.get(app.id, DEFAULT_PERMISSIONS)
        rows.append(
            {
                "app": app,
                "permissions": bits,
                "link": request.build_absolute_uri(install_path(app, bits)),
                "token": shown_token[1] if shown_token and shown_token[0] == app.id else None,
                "guilds": app.installations.count(),
                "choices": [
                    (group, [(label, bool(bits & label.bit)) for label in labels])
                    for group, labels in _installable_labels()
                ],
            }
        )
    context = {
        "applications": rows,
        "max_applications": services.MAX_APPLICATIONS_PER_OWNER,
        **extra,
    }
    return render(request, "bots/developer.html", context, status=status)


@login_required
def developer(request: AuthedHttpRequest) -> HttpResponse:
    return _render(request)


@login_required
@require_POST
def create_application(request: AuthedHttpRequest) -> HttpResponse:
    try:
        app, token = services.check_create_application(request.user, request.POST.get("name"))
    except APIError as exc:
        return _render(request, exc.status, create_errors=error_context(exc))
    # Shown in this answer only: it is not stored in the clear, so it cannot be shown again.
    return _render(request, shown_token=(app.id, token), created=app)


@login_required
@require_POST
def reset_token(request: AuthedHttpRequest, application_id: int) -> HttpResponse:
    try:
        app, token = services.check_reset_token(request.user, application_id)
    except APIError as exc:
        return _render(request, exc.status, create_errors=error_context(exc))
    return _render(request, shown_token=(app.id, token))


@login_required
@require_POST
def set_intents(request: AuthedHttpRequest, application_id: int) -> HttpResponse:
    try:
        services.check_set_message_content(
            request.user, application_id, request.POST.get("message_content") == "on"
        )
    except APIError as exc:
        return _render(request, exc.status, create_errors=error_context(exc))
    messages.success(request, "Privileged intents saved.")
    return redirect("developer")


@login_required
def authorize(request: AuthedHttpRequest) -> HttpResponse:
    """Discord's install link, /oauth2/authorize?client_id=…&scope=bot&permissions=…: pick a
    guild where you have Manage Server, read what the bot will be allowed, add it."""
    source = request.POST if request.method == "POST" else request.GET
    try:
        app = services.access_public_application(source.get("client_id"))
        bits = services.parse_permissions(source.get("permissions"))
    except APIError as exc:
        return render(
            request, "bots/authorize.html", {"errors": error_context(exc)}, status=exc.status
        )
    context: dict[str, Any] = {
        "app": app,
        "permissions": bits,
        "words": services.permission_words(bits),
        "guilds": services.install_targets(request.user, app),
    }
    if request.method == "POST":
        try:
            if not source.get("guild_id"):
                raise Invalid(errors={"guild_id": ["Choose a guild."]})
            installation = services.check_install(
                request.user, app.id, source.get("guild_id"), bits
            )
        except APIError as exc:
            context["errors"] = error_context(exc)
            return render(request, "bots/authorize.html", context, status=exc.status)
        messages.success(request, f"{app.name} was added to {installation.guild.name}.")
        return redirect("web-guild", guild_id=installation.guild_id)
    return render(request, "bots/authorize.html", context)
