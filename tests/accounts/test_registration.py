import pytest
from django.contrib.auth.hashers import identify_hasher

from accounts.models import AuthEvent, RegistrationInvite, User
from tests.accounts.conftest import PASSWORD, bearer, register

pytestmark = pytest.mark.django_db


def test_register_returns_tokens_and_hashes_with_argon2id(api):
    tokens = register(api, "Alice")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    user = User.objects.get(pk=int(tokens["user_id"]))
    assert user.email == ""
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.password.startswith("argon2$argon2id$")
    me = bearer(tokens).get("/api/v1/users/@me")
    assert me.status_code == 200 and me.json()["username"] == "Alice"
    assert me.json()["id"] == tokens["user_id"] and isinstance(me.json()["id"], str)
    assert AuthEvent.objects.filter(user=user, kind="register").exists()


def test_usernames_are_unique_ignoring_case(api):
    register(api, "Alice")
    response = api.post(
        "/api/v1/auth/register", {"username": "aLiCe", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["username"] == ["This name is taken."]


@pytest.mark.parametrize("name", ["admin", "Operator", "everyone", "UNITED", "root"])
def test_reserved_names_are_refused(api, name):
    response = api.post(
        "/api/v1/auth/register", {"username": name, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "reserved" in response.json()["errors"]["username"][0]


@pytest.mark.parametrize("name", ["a", "x" * 33, "with space", "emoji🙂", ""])
def test_malformed_names_are_refused(api, name):
    response = api.post(
        "/api/v1/auth/register", {"username": name, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400 and "username" in response.json()["errors"]


@pytest.mark.parametrize("password", ["short", "password1234", "1234567890123", "carol-carol1"])
def test_weak_passwords_are_refused(api, password):
    response = api.post(
        "/api/v1/auth/register", {"username": "carol", "password": password}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["password"]
    assert not User.objects.filter(username="carol").exists()


def test_invite_only_registration(api, settings):
    settings.UNITED_REGISTRATION = "invite"
    response = api.post(
        "/api/v1/auth/register", {"username": "dave", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    RegistrationInvite.objects.create(code="welcome-123", max_uses=1)
    register(api, "dave", invite="welcome-123")
    again = api.post(
        "/api/v1/auth/register",
        {"username": "erin", "password": PASSWORD, "invite": "welcome-123"},
        format="json",
    )
    assert again.status_code == 403
    assert not User.objects.filter(username="erin").exists()


def test_closed_registration(api, settings):
    settings.UNITED_REGISTRATION = "closed"
    response = api.post(
        "/api/v1/auth/register", {"username": "dave", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
