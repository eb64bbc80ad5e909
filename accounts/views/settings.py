from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Device
from accounts.requests import AuthedHttpRequest
from accounts.services import (
    audit,
    keys,
    lifecycle,
    passkeys,
    passwords,
    recovery,
    rotation,
    tokens,
    twofactor,
)
from accounts.views.auth import error_context
from united.errors import APIError


def _security_context(request: AuthedHttpRequest) -> dict[str, Any]:
    user = request.user
    current = tokens.current_session(request)
    return {
        "totp_enabled": twofactor.totp_enabled(user),
        "backup_codes_left": twofactor.remaining_backup_codes(user),
        "sessions": [tokens.serialize_session(s, current) for s in tokens.list_sessions(user)],
        "devices": keys.list_devices(user),
        "rotations": [rotation.serialize_rotation(r) for r in rotation.pending_rotations(user)],
        "passkeys": passkeys.list_passkeys(user),
        "has_recovery_key": bool(user.recovery_public_key),
        "deletion_due": lifecycle.deletion_due_at(user),
    }


def _render_security(request: AuthedHttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    return render(
        request, "accounts/security.html", {**_security_context(request), **extra}, status=status
    )


@login_required
def security(request: AuthedHttpRequest) -> HttpResponse:
    return _render_security(request)


@login_required
@require_POST
def change_password(request: AuthedHttpRequest) -> HttpResponse:
    try:
        passwords.check_change_password(
            request,
            request.user,
            current=request.POST.get("current_password"),
            new=request.POST.get("new_password"),
            keep=tokens.current_session(request),
        )
    except APIError as exc:
        return _render_security(request, exc.status, password_errors=error_context(exc))
    update_session_auth_hash(request, request.user)
    messages.success(request, "Password changed. Your other sessions were signed out.")
    return redirect("security")


@login_required
def totp_setup(request: AuthedHttpRequest) -> HttpResponse:
    if twofactor.totp_enabled(request.user):
        return redirect("security")
    context: dict[str, Any] = {}
    status = 200
    if request.method == "POST" and "code" in request.POST:
        try:
            codes = twofactor.check_confirm_totp(request.user, request.POST.get("code"), request)
        except APIError as exc:
            context.update(error_context(exc))
            status = exc.status
        else:
            return render(request, "accounts/backup_codes.html", {"codes": codes})
    elif request.method == "POST":
        try:
            passwords.require_password(request, request.user, request.POST.get("password"))
            twofactor.do_begin_totp(request.user, request)
        except APIError as exc:
            return _render_security(request, exc.status, totp_errors=error_context(exc))
    setup = twofactor.pending_totp(request.user)
    if setup is None:
        return redirect("security")
    context["setup"] = setup
    return render(request, "accounts/totp_setup.html", context, status=status)


@login_required
@require_POST
def totp_disable(request: AuthedHttpRequest) -> HttpResponse:
    try:
        twofactor.check_disable_totp(request.user, request.POST.get("code"), request)
    except APIError as exc:
        return _render_security(request, exc.status, totp_errors=error_context(exc))
    messages.success(request, "Two-factor authentication is off.")
    return redirect("security")


@login_required
@require_POST
def backup_codes(request: AuthedHttpRequest) -> HttpResponse:
    try:
        codes = twofactor.check_regenerate_backup_codes(
            request.user, request.POST.get("code"), request
        )
    except APIError as exc:
        return _render_security(request, exc.status, totp_errors=error_context(exc))
    return render(request, "accounts/backup_codes.html", {"codes": codes})


@login_required
@require_POST
def revoke_session(request: AuthedHttpRequest, session_id: str) -> HttpResponse:
    try:
        session = tokens.access_session(request.user, session_id)
    except APIError:
        return redirect("security")
    tokens.do_revoke_session(session)
    audit.record("session_revoked", user=request.user, request=request, session=str(session.id))
    current = tokens.current_session(request)
    if current is None:
        return redirect("login")
    messages.success(request, "Session signed out.")
    return redirect("security")


@login_required
@require_POST
def revoke_device(request: AuthedHttpRequest, device_id: str) -> HttpResponse:
    try:
        device: Device = keys.access_own_device(request.user, device_id)
    except APIError:
        return redirect("security")
    keys.do_revoke_device(request.user, device)
    messages.success(request, "Device removed; its keys are no longer handed out.")
    return redirect("security")


@login_required
@require_POST
def cancel_rotation(request: AuthedHttpRequest, rotation_id: str) -> HttpResponse:
    try:
        rotation.check_cancel_rotation(request.user, rotation_id)
    except APIError:
        return redirect("security")
    messages.success(request, "Key change cancelled.")
    return redirect("security")


@login_required
@require_POST
def passkey_edit(request: AuthedHttpRequest, passkey_id: str) -> HttpResponse:
    try:
        if request.POST.get("action") == "remove":
            passkeys.do_remove_passkey(
                request.user, passkeys.access_passkey(request.user, passkey_id), request
            )
        else:
            passkeys.check_rename_passkey(request.user, passkey_id, request.POST.get("name"))
    except APIError as exc:
        return _render_security(request, exc.status, passkey_errors=error_context(exc))
    return redirect("security")


@login_required
@require_POST
def recovery_key(request: AuthedHttpRequest) -> HttpResponse:
    try:
        recovery.check_set_recovery_key(
            request,
            request.user,
            public_key=request.POST.get("public_key"),
            password=request.POST.get("password"),
        )
    except APIError as exc:
        return _render_security(request, exc.status, recovery_errors=error_context(exc))
    messages.success(request, "Recovery key saved. Keep your phrase somewhere safe.")
    return redirect("security")


@login_required
def account(request: AuthedHttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "deletion_due": lifecycle.deletion_due_at(request.user),
        "grace_days": lifecycle.DELETION_GRACE.days,
    }
    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            lifecycle.do_cancel_deletion(request, request.user)
            messages.success(request, "Your account will not be deleted.")
            return redirect("account")
        try:
            lifecycle.check_request_deletion(request, request.user, request.POST.get("password"))
        except APIError as exc:
            context.update(error_context(exc))
            return render(request, "accounts/account.html", context, status=exc.status)
        from django.contrib.auth import logout as django_logout

        django_logout(request)
        return render(
            request,
            "accounts/deletion_scheduled.html",
            {"grace_days": lifecycle.DELETION_GRACE.days},
        )
    return render(request, "accounts/account.html", context)


@login_required
def export(request: AuthedHttpRequest) -> HttpResponse:
    audit.record("export", user=request.user, request=request)
    data = lifecycle.export_account(request.user)
    response = HttpResponse(json.dumps(data, indent=2), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="united-account.json"'
    return response
