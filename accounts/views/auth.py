from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.services import passwords, signin, tokens, twofactor
from united.errors import APIError

MFA_TICKET_KEY = "united_mfa_ticket"
NEXT_KEY = "united_next"


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, {request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return "/"


def error_context(exc: APIError) -> dict[str, Any]:
    fields = {k: v for k, v in exc.errors.items() if k != "_errors"}
    general = list(exc.errors.get("_errors", []))
    if not exc.errors or exc.status in (401, 403, 429):
        general.insert(0, exc.message)
    return {"errors": general, "field_errors": fields}


def _after_first_factor(request: HttpRequest, result: dict[str, Any], next_url: str) -> Any:
    if result["mfa"]:
        request.session[MFA_TICKET_KEY] = result["ticket"]
        request.session[NEXT_KEY] = next_url
        return redirect("login-2fa")
    return redirect(next_url)


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    mode = getattr(settings, "UNITED_REGISTRATION", "open")
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    context: dict[str, Any] = {"mode": mode, "values": {}, "next": next_url}
    status = 200
    if request.method == "POST":
        context["values"] = {
            "username": request.POST.get("username", ""),
            "invite": request.POST.get("invite", ""),
        }
        try:
            user = passwords.check_register(
                request,
                username=request.POST.get("username"),
                password=request.POST.get("password"),
                invite=request.POST.get("invite"),
                recovery_public_key=request.POST.get("recovery_public_key") or None,
            )
        except APIError as exc:
            context.update(error_context(exc))
            status = exc.status
        else:
            signin.finish_sign_in(request, user, method="register", web=True)
            # Onboarding (the chat client, an invite) passes where to go next.
            return redirect(next_url if next_url != "/" else "security")
    return render(request, "accounts/register.html", context, status=status)


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    context: dict[str, Any] = {"next": next_url, "username": ""}
    status = 200
    if request.method == "POST":
        context["username"] = request.POST.get("username", "")
        try:
            user = passwords.check_credentials(
                request, request.POST.get("username"), request.POST.get("password")
            )
            result = signin.finish_first_factor(request, user, method="password", web=True)
        except APIError as exc:
            context.update(error_context(exc))
            status = exc.status
        else:
            return _after_first_factor(request, result, next_url)
    return render(request, "accounts/login.html", context, status=status)


@require_http_methods(["GET", "POST"])
def login_second_factor(request: HttpRequest) -> HttpResponse:
    ticket = request.session.get(MFA_TICKET_KEY)
    if not ticket:
        return redirect("login")
    try:
        user, _ = twofactor.read_ticket(ticket)
    except APIError:
        request.session.pop(MFA_TICKET_KEY, None)
        return redirect("login")
    context: dict[str, Any] = {"methods": twofactor.second_factor_methods(user), "ticket": ticket}
    status = 200
    if request.method == "POST":
        try:
            user, method = twofactor.check_second_factor(request, ticket, request.POST.get("code"))
        except APIError as exc:
            context.update(error_context(exc))
            status = exc.status
        else:
            next_url = request.session.pop(NEXT_KEY, "/")
            request.session.pop(MFA_TICKET_KEY, None)
            signin.finish_sign_in(request, user, method=method, web=True)
            return redirect(_safe_next(request, next_url))
    return render(request, "accounts/login_2fa.html", context, status=status)


@require_POST
def passkey_login(request: HttpRequest) -> HttpResponse:
    """JSON endpoint for the browser's passkey step (CSRF-protected like any form post)."""
    try:
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return JsonResponse({"message": "Expected a JSON object"}, status=400)
    ticket = request.session.get(MFA_TICKET_KEY)
    if ticket:
        data["ticket"] = ticket
    try:
        signin.finish_passkey(request, data, web=True)
    except APIError as exc:
        return JsonResponse(exc.body(), status=exc.status)
    requested = request.session.pop(NEXT_KEY, None) or data.get("next")
    request.session.pop(MFA_TICKET_KEY, None)
    return JsonResponse({"redirect": _safe_next(request, requested)})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import logout as django_logout

    tokens.do_logout(request)
    django_logout(request)
    return redirect("login")


def recover(request: HttpRequest) -> HttpResponse:
    """The phrase is handled in the browser (static/src/accounts-recovery.js), which talks to
    the recovery API directly; the page is only the form."""
    return render(request, "accounts/recover.html")
