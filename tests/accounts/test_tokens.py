from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuthEvent, AuthSession
from accounts.services import authenticate_access_token
from tests.accounts.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db


def login(api, username="alice", password=PASSWORD):
    return api.post(
        "/api/v1/auth/login", {"username": username, "password": password}, format="json"
    )


def test_login_returns_short_lived_access_and_refresh_tokens(api, alice):
    response = login(api)
    assert response.status_code == 200
    body = response.json()
    assert body["mfa"] is False and body["expires_in"] == 15 * 60
    assert body["access_token"].startswith("at_") and body["refresh_token"].startswith("rt_")
    assert bearer(body).get("/api/v1/users/@me").json()["username"] == "alice"
    # Only digests are stored.
    session = AuthSession.objects.get(pk=int(body["session_id"]))
    assert body["access_token"] not in str(list(session.access.values()))
    assert body["refresh_token"] not in str(list(session.refresh.values()))


def test_wrong_password_is_401_and_audited(api, alice):
    response = login(api, password="not the password at all")
    assert response.status_code == 401
    assert response.json()["code"] == 40001
    failed = AuthEvent.objects.get(kind="login", success=False)
    assert failed.username == "alice" and failed.user is not None
    unknown = login(api, username="nobody")
    assert unknown.status_code == 401
    assert unknown.json()["message"] == response.json()["message"]


def test_username_is_case_insensitive_at_login(api, alice):
    assert login(api, username="ALICE").status_code == 200


def test_missing_and_bad_bearer_tokens(api, alice):
    assert api.get("/api/v1/users/@me").status_code == 401
    client = bearer({"access_token": "at_not-a-real-token"})
    response = client.get("/api/v1/users/@me")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_expired_access_token_is_rejected(alice, monkeypatch):
    token = alice["tokens"]["access_token"]
    assert alice["client"].get("/api/v1/users/@me").status_code == 200
    later = timezone.now() + timedelta(minutes=15, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert alice["client"].get("/api/v1/users/@me").status_code == 401
    assert authenticate_access_token(token) is None


def test_refresh_rotates_tokens(api, alice):
    first = alice["tokens"]
    response = api.post(
        "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json"
    )
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    assert bearer(second).get("/api/v1/users/@me").status_code == 200


def test_reused_refresh_token_revokes_the_family(api, alice):
    first = alice["tokens"]
    second = api.post(
        "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json"
    ).json()
    # The old refresh token shows up again: a thief or a replay. The family dies.
    reuse = api.post(
        "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json"
    )
    assert reuse.status_code == 401
    assert bearer(second).get("/api/v1/users/@me").status_code == 401
    third = api.post(
        "/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]}, format="json"
    )
    assert third.status_code == 401
    assert AuthSession.objects.get(pk=int(first["session_id"])).revoked_at is not None
    assert AuthEvent.objects.filter(kind="refresh_reuse", success=False).exists()
    # Other sessions of the member are untouched.
    assert login(api).status_code == 200


def test_logout_ends_the_session(api, alice):
    client = alice["client"]
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/users/@me").status_code == 401
    refresh = api.post(
        "/api/v1/auth/refresh", {"refresh_token": alice["tokens"]["refresh_token"]}, format="json"
    )
    assert refresh.status_code == 401


def test_sessions_list_and_revoke(api, alice):
    other = login(api).json()
    listed = alice["client"].get("/api/v1/users/@me/sessions").json()
    assert {s["id"] for s in listed} == {alice["tokens"]["session_id"], other["session_id"]}
    assert [s["current"] for s in listed if s["id"] == alice["tokens"]["session_id"]] == [True]
    revoke = alice["client"].delete(f"/api/v1/users/@me/sessions/{other['session_id']}")
    assert revoke.status_code == 204
    assert bearer(other).get("/api/v1/users/@me").status_code == 401
    assert alice["client"].get("/api/v1/users/@me").status_code == 200


def test_cannot_revoke_someone_elses_session(alice, bob):
    response = alice["client"].delete(f"/api/v1/users/@me/sessions/{bob['tokens']['session_id']}")
    assert response.status_code == 404
    assert bob["client"].get("/api/v1/users/@me").status_code == 200


def test_authenticate_access_token_for_the_gateway(alice):
    user = authenticate_access_token(alice["tokens"]["access_token"])
    assert user is not None and str(user.id) == alice["id"]
    assert authenticate_access_token("") is None
    assert authenticate_access_token(alice["tokens"]["refresh_token"]) is None


def test_password_change_via_api(api, alice):
    client = alice["client"]
    bad = client.post(
        "/api/v1/auth/password",
        {"current_password": "wrong", "new_password": "another long secret 42"},
        format="json",
    )
    assert bad.status_code == 400
    ok = client.post(
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": "another long secret 42"},
        format="json",
    )
    assert ok.status_code == 204
    assert login(api).status_code == 401
    assert login(api, password="another long secret 42").status_code == 200


def test_password_change_signs_out_other_sessions(api, alice):
    other = login(api).json()
    alice["client"].post(
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": "another long secret 42"},
        format="json",
    )
    assert bearer(other).get("/api/v1/users/@me").status_code == 401
    assert alice["client"].get("/api/v1/users/@me").status_code == 200


def test_expired_tokens_are_purged(api, alice, monkeypatch):
    from accounts import tasks
    from accounts.models import AccessToken, RefreshToken

    tasks.purge_expired_tokens()
    assert AccessToken.objects.exists()
    later = timezone.now() + timedelta(days=31)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.purge_expired_tokens()
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()
