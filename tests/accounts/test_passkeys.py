"""Passkeys through the HTTP API, with py_webauthn's published responses
(tests/vectors/webauthn). A real authenticator signs the node's random challenge; the
vectors signed fixed challenges, so each test swaps the vector's challenge into the ceremony
state the node just issued (the only seam), then answers through the API."""

import json
from pathlib import Path

import pytest
from django.core.cache import cache

from accounts.models import Passkey, User
from tests.accounts.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

CASES = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "webauthn/cases.json").read_text()
)["cases"]
HOST = {"HTTP_HOST": "localhost:5000"}


def local(case):
    k = case["kwargs"]
    return k["expected_rp_id"] == "localhost" and k["expected_origin"] == "http://localhost:5000"


REGISTRATIONS = [
    c
    for c in CASES
    if c["function"] == "verify_registration_response" and local(c) and c["expect"] == "accept"
]
AUTH = {
    c["name"].split("::")[1]: c for c in CASES if c["function"] == "verify_authentication_response"
}


def credential(case):
    value = case["kwargs"]["credential"]
    return json.loads(value) if isinstance(value, str) else value


def swap_challenge(kind, state, case):
    key = f"webauthn:{kind}:{state}"
    data = cache.get(key)
    data["challenge"] = case["kwargs"]["expected_challenge"]["b64url"]
    cache.set(key, data, 300)


@pytest.mark.parametrize(
    "case",
    REGISTRATIONS,
    ids=lambda c: c["name"].split("::")[0][27:] + "-" + c["name"].split("::")[1][5:40],
)
def test_register_passkey_with_vector(alice, case):
    client = alice["client"]
    options = client.post("/api/v1/users/@me/passkeys/options", **HOST).json()
    assert options["options"]["rp"]["id"] == "localhost"
    swap_challenge("reg", options["state"], case)
    response = client.post(
        "/api/v1/users/@me/passkeys",
        {
            "state": options["state"],
            "credential": credential(case),
            "name": "YubiKey",
        },
        format="json",
        **HOST,
    )
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "YubiKey"
    assert Passkey.objects.get(user__username="alice").credential_id == credential(case)[
        "rawId"
    ].rstrip("=")


def test_registration_rejects_a_foreign_challenge_and_state_reuse(alice):
    case = REGISTRATIONS[0]
    client = alice["client"]
    options = client.post("/api/v1/users/@me/passkeys/options", **HOST).json()
    body = {"state": options["state"], "credential": credential(case)}
    assert (
        client.post("/api/v1/users/@me/passkeys", body, format="json", **HOST).status_code == 400
    )  # challenge not ours
    swap_attempt = client.post("/api/v1/users/@me/passkeys", body, format="json", **HOST)
    assert swap_attempt.status_code == 400  # state was used up
    assert not Passkey.objects.exists()


def stored_passkey(user, case, name="key"):
    k = case["kwargs"]
    return Passkey.objects.create(
        user=user,
        name=name,
        credential_id=credential(case)["rawId"].rstrip("="),
        public_key=k["credential_public_key"]["b64url"],
        sign_count=k["credential_current_sign_count"],
    )


def passkey_sign_in(api, case, ticket=None):
    payload = {"ticket": ticket} if ticket else {}
    options = api.post("/api/v1/auth/passkeys/options", payload, format="json", **HOST).json()
    swap_challenge("auth", options["state"], case)
    return api.post(
        "/api/v1/auth/passkeys/verify",
        {"state": options["state"], "credential": credential(case), **payload},
        format="json",
        **HOST,
    )


def password_ticket(api):
    response = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()
    assert response["mfa"] is True and "webauthn" in response["methods"]
    return response["ticket"]


def test_passkey_as_second_factor(api, alice):
    case = AUTH["test_verify_authentication_response_with_EC2_public_key"]
    passkey = stored_passkey(User.objects.get(username="alice"), case)
    response = passkey_sign_in(api, case, password_ticket(api))
    assert response.status_code == 200, response.json()
    assert bearer(response.json()).get("/api/v1/users/@me").status_code == 200
    passkey.refresh_from_db()
    assert passkey.sign_count == case["expected_result_fields"]["new_sign_count"]
    # Without user verification it cannot stand alone as a passwordless sign-in.
    passkey.sign_count = case["kwargs"]["credential_current_sign_count"]
    passkey.save()
    assert passkey_sign_in(api, case).status_code == 401


def test_passwordless_sign_in_with_user_verification(api, alice):
    case = AUTH["test_verify_authentication_response_with_RSA_public_key"]
    stored_passkey(User.objects.get(username="alice"), case)
    response = passkey_sign_in(api, case)
    assert response.status_code == 200, response.json()
    assert response.json()["user_id"] == alice["id"]


@pytest.mark.parametrize(
    "name",
    [
        "test_raises_exception_on_incorrect_public_key",
        "test_raises_exception_on_uv_required_but_false",
    ],
)
def test_rejected_assertions(api, alice, name):
    stored_passkey(User.objects.get(username="alice"), AUTH[name])
    assert passkey_sign_in(api, AUTH[name]).status_code == 401


def test_passkey_of_another_member_does_not_satisfy_a_ticket(api, alice, bob):
    case = AUTH["test_verify_authentication_response_with_EC2_public_key"]
    stored_passkey(User.objects.get(username="bob"), case)
    stored_passkey(
        User.objects.get(username="alice"),
        AUTH["test_verify_authentication_response_with_OKP_public_key"],
    )
    assert passkey_sign_in(api, case, password_ticket(api)).status_code == 401


def test_list_rename_remove(alice):
    user = User.objects.get(username="alice")
    one = stored_passkey(user, AUTH["test_verify_authentication_response_with_EC2_public_key"])
    stored_passkey(user, AUTH["test_verify_authentication_response_with_RSA_public_key"], "b")
    client = alice["client"]
    assert len(client.get("/api/v1/users/@me/passkeys").json()) == 2
    renamed = client.patch(f"/api/v1/users/@me/passkeys/{one.id}", {"name": "Phone"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Phone"
    assert client.delete(f"/api/v1/users/@me/passkeys/{one.id}").status_code == 204
    assert [p["name"] for p in client.get("/api/v1/users/@me/passkeys").json()] == ["b"]
