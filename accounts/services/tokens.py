"""Sessions, access tokens and rotating refresh tokens.

An API sign-in opens an `AuthSession` (one refresh-token family) and hands out a 15-minute
access token plus a refresh token. Both are random strings the node keeps only as SHA-256
digests. Refreshing marks the presented token used (one conditional UPDATE, so two racing
refreshes cannot both win) and issues a new pair. A refresh token presented a second time has
leaked: the whole family is revoked, which also kills every access token it minted.
A browser sign-in is a Django session with its own `AuthSession` row, so both kinds show up in
the same "sessions and devices" list and revoke the same way.

A session ends when it is signed out or revoked, or when it can no longer be used (its refresh
tokens, or its browser session, have expired: `purge_expired` notices and marks it revoked).
When a member's last session ends, what other apps registered in `accounts.hooks` runs: a
member who joined a guild through a temporary invite leaves it then, as on Discord.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import login as django_login
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import hooks, useragent
from accounts.models import AccessToken, AuthSession, RefreshToken, SignInChallenge, User
from accounts.services import audit
from united import events
from united.errors import UNAUTHORIZED, APIError, NotFound

REFRESH_LIFETIME = timedelta(days=30)
_DATABASE_SESSION_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}
SESSION_ID_KEY = "united_auth_session"


def unauthorized(message: str = "Unauthorized") -> APIError:
    return APIError(message, status=401, code=UNAUTHORIZED)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _client_name(request: HttpRequest | None) -> str:
    """The browser and system in words, not the raw user-agent: that is all a session list
    needs, and the raw string is a fingerprint we need not keep."""
    if request is None:
        return ""
    return useragent.describe(request.META.get("HTTP_USER_AGENT", ""))[:120]


def issue_tokens(session: AuthSession) -> dict[str, Any]:
    now = timezone.now()
    access, refresh = "at_" + secrets.token_urlsafe(32), "rt_" + secrets.token_urlsafe(32)
    lifetime = settings.ACCESS_TOKEN_LIFETIME
    AccessToken.objects.create(session=session, digest=digest(access), expires_at=now + lifetime)
    RefreshToken.objects.create(
        session=session, digest=digest(refresh), expires_at=now + REFRESH_LIFETIME
    )
    return {
        "token_type": "Bearer",
        "access_token": access,
        "expires_in": int(lifetime.total_seconds()),
        "refresh_token": refresh,
        "session_id": str(session.id),
        "user_id": str(session.user_id),
    }


@transaction.atomic
def do_start_api_session(
    user: User, request: HttpRequest | None, *, method: str = "password"
) -> dict[str, Any]:
    session = AuthSession.objects.create(
        user=user, kind=AuthSession.API, name=_client_name(request)
    )
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    audit.record("login", user=user, request=request, method=method, session=str(session.id))
    return issue_tokens(session)


def do_start_web_session(request: HttpRequest, user: User, *, method: str = "password") -> None:
    django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    session = AuthSession.objects.create(
        user=user,
        kind=AuthSession.WEB,
        name=_client_name(request),
        session_key=request.session.session_key or "",
    )
    request.session[SESSION_ID_KEY] = str(session.id)
    request.session.save()
    session.session_key = request.session.session_key or ""
    session.save(update_fields=["session_key"])
    audit.record(
        "login", user=user, request=request, method=method, session=str(session.id), web=True
    )


def authenticate_access_token(raw: str) -> User | None:
    """The user a bearer access token belongs to, or None (unknown, expired or revoked)."""
    token = access_token_row(raw)
    return token.session.user if token is not None else None


def access_token_row(raw: str) -> AccessToken | None:
    if not isinstance(raw, str) or not raw.startswith("at_") or len(raw) > 100:
        return None
    token = AccessToken.objects.select_related("session__user").filter(digest=digest(raw)).first()
    if token is None or token.expires_at <= timezone.now():
        return None
    if token.session.revoked_at is not None or not token.session.user.is_active:
        return None
    return token


def do_refresh(raw: str, request: HttpRequest | None = None) -> dict[str, Any]:
    if not isinstance(raw, str) or not raw:
        raise unauthorized("Invalid refresh token")
    row = RefreshToken.objects.select_related("session__user").filter(digest=digest(raw)).first()
    if row is None:
        raise unauthorized("Invalid refresh token")
    session, now = row.session, timezone.now()
    if session.revoked_at is not None or row.expires_at <= now or not session.user.is_active:
        raise unauthorized("Invalid refresh token")
    with transaction.atomic():
        won = RefreshToken.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now)
        if won:
            AuthSession.objects.filter(pk=session.pk).update(last_used_at=now)
            return issue_tokens(session)
    # Reuse: somebody else holds a copy of this family's token. End the family.
    do_revoke_session(session)
    audit.record(
        "refresh_reuse", user=session.user, success=False, request=request, session=str(session.id)
    )
    raise unauthorized("Refresh token reused; the session was revoked")


def _delete_web_session(session_key: str) -> None:
    if session_key:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        store(session_key=session_key).delete()


@transaction.atomic
def do_revoke_session(session: AuthSession) -> None:
    ended = AuthSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    AccessToken.objects.filter(session=session).delete()
    RefreshToken.objects.filter(session=session, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    _delete_web_session(session.session_key)
    events.end_auth_session(session.user_id, session.pk)
    if ended:
        hooks.session_ended(session)
    if (
        ended
        and not AuthSession.objects.filter(
            user_id=session.user_id, revoked_at__isnull=True
        ).exists()
    ):
        hooks.last_session_ended(User.objects.get(pk=session.user_id))


def do_revoke_all_sessions(user: User, *, keep: AuthSession | None = None) -> int:
    sessions = AuthSession.objects.filter(user=user, revoked_at__isnull=True)
    if keep is not None:
        sessions = sessions.exclude(pk=keep.pk)
    count = 0
    for session in sessions:
        do_revoke_session(session)
        count += 1
    return count


def current_session(request: Any) -> AuthSession | None:
    """The AuthSession a request came in on: the bearer token's, or the browser session's."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, AccessToken):
        return auth.session
    session_id = getattr(request, "session", {}).get(SESSION_ID_KEY)
    if session_id and getattr(request, "user", None) is not None:
        return AuthSession.objects.filter(
            pk=session_id, user_id=request.user.id, revoked_at__isnull=True
        ).first()
    return None


def list_sessions(user: User) -> list[AuthSession]:
    return list(
        AuthSession.objects.filter(user=user, revoked_at__isnull=True).order_by("-last_used_at")
    )


def access_session(user: User, session_id: Any) -> AuthSession:
    try:
        return AuthSession.objects.get(pk=int(session_id), user=user, revoked_at__isnull=True)
    except (AuthSession.DoesNotExist, TypeError, ValueError):
        raise NotFound("Unknown session") from None


def do_logout(request: Any) -> None:
    session = current_session(request)
    if session is not None:
        do_revoke_session(session)
        audit.record("logout", user=session.user, request=request, session=str(session.id))


def unusable_sessions(now: datetime) -> list[AuthSession]:
    """Live sessions nothing can use any more: an API session with no unexpired refresh or
    access token, a browser session whose Django session has expired or is gone."""
    from django.contrib.sessions.models import Session

    live = AuthSession.objects.filter(revoked_at__isnull=True)
    fresh = RefreshToken.objects.filter(used_at__isnull=True, expires_at__gt=now)
    api = (
        live.filter(kind=AuthSession.API)
        .exclude(pk__in=fresh.values("session_id"))
        .exclude(pk__in=AccessToken.objects.filter(expires_at__gt=now).values("session_id"))
    )
    if settings.SESSION_ENGINE not in _DATABASE_SESSION_ENGINES:
        return list(api)  # browser sessions live elsewhere: they end by sign-out only
    web = live.filter(kind=AuthSession.WEB).exclude(
        session_key__in=Session.objects.filter(expire_date__gt=now).values("session_key")
    )
    return [*api, *web]


def purge_expired(now: datetime | None = None) -> int:
    """End sessions that expired, drop expired tokens and challenges; revoked sessions stay
    for the member's history."""
    now = now or timezone.now()
    for session in unusable_sessions(now):
        do_revoke_session(session)
    removed = AccessToken.objects.filter(expires_at__lte=now).delete()[0]
    removed += RefreshToken.objects.filter(expires_at__lte=now).delete()[0]
    removed += SignInChallenge.objects.filter(expires_at__lte=now).delete()[0]
    return removed


def serialize_session(session: AuthSession, current: AuthSession | None = None) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "kind": session.kind,
        "name": useragent.describe(session.name),  # rows from before words were stored
        "device_id": str(session.device_id) if session.device_id else None,
        "created_at": session.created_at.isoformat(),
        "last_used_at": session.last_used_at.isoformat(),
        "current": current is not None and current.pk == session.pk,
    }
