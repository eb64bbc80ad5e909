"""The server-rendered pages, through Django's test client (sessions, CSRF on)."""

import re
import time
from base64 import b32decode

import pytest
from django.test import Client
from django_otp.oath import TOTP

from accounts.models import AuthSession, User
from tests.accounts.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def csrf(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert b"<script>" not in response.content and b"style=" not in response.content
    return (
        re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
        .group(1)
        .decode()
    )


def post(client, path, data, page=None):
    return client.post(path, {**data, "csrfmiddlewaretoken": csrf(client, page or path)})


def test_register_then_security_page(browser):
    response = post(browser, "/register/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/settings/security/"
    page = browser.get("/settings/security/")
    assert page.status_code == 200 and b"alice" in page.content
    assert AuthSession.objects.filter(user__username="alice", kind="web").exists()


def test_register_errors_are_shown(browser):
    response = post(browser, "/register/", {"username": "admin", "password": "short"})
    assert response.status_code == 400 and b"reserved" in response.content


def test_login_wrong_password_and_lockout_message(browser, make_user):
    make_user("alice")
    response = post(browser, "/login/", {"username": "alice", "password": "wrong wrong"})
    assert response.status_code == 401 and b"Wrong username or password" in response.content
    ok = post(browser, "/login/", {"username": "alice", "password": PASSWORD, "next": "/x/"})
    assert ok.status_code == 302 and ok["Location"] == "/x/"


def test_login_refuses_offsite_next(browser, make_user):
    make_user("alice")
    ok = post(
        browser,
        "/login/",
        {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert ok["Location"] == "/"


def test_totp_setup_and_two_step_login(browser, make_user, monkeypatch):
    make_user("alice")
    post(browser, "/login/", {"username": "alice", "password": PASSWORD})
    setup = post(
        browser, "/settings/security/totp/", {"password": PASSWORD}, page="/settings/security/"
    )
    assert setup.status_code == 200 and b'src="data:image/svg+xml' in setup.content
    secret = re.search(rb"<code>([A-Z2-7]+)</code>", setup.content).group(1).decode()
    key = b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key)
    done = browser.post(
        "/settings/security/totp/",
        {
            "code": f"{totp.token():06d}",
            "csrfmiddlewaretoken": re.search(
                rb'name="csrfmiddlewaretoken" value="([^"]+)"', setup.content
            )
            .group(1)
            .decode(),
        },
    )
    assert done.status_code == 200 and b"backup codes" in done.content.lower()
    codes = re.findall(rb"<li><code>([0-9a-f]+)</code></li>", done.content)
    assert len(codes) == 10

    other = Client(enforce_csrf_checks=True)
    first = post(other, "/login/", {"username": "alice", "password": PASSWORD})
    assert first.status_code == 302 and first["Location"] == "/login/2fa/"
    assert other.get("/settings/security/").status_code == 302  # not signed in yet
    wrong = post(other, "/login/2fa/", {"code": "000000"})
    assert wrong.status_code == 401
    time.sleep(1.1)  # django-otp's one-second throttle after a miss
    ok = post(other, "/login/2fa/", {"code": codes[0].decode()})
    assert ok.status_code == 302
    assert other.get("/settings/security/").status_code == 200


def test_sessions_page_revoke_signs_the_other_browser_out(make_user):
    make_user("alice")
    one, two = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    post(one, "/login/", {"username": "alice", "password": PASSWORD})
    post(two, "/login/", {"username": "alice", "password": PASSWORD})
    sessions = list(AuthSession.objects.filter(user__username="alice").order_by("created_at"))
    assert len(sessions) == 2
    page = one.get("/settings/security/")
    assert b"(this session)" in page.content
    revoke = post(
        one, f"/settings/security/sessions/{sessions[1].id}/revoke/", {}, page="/settings/security/"
    )
    assert revoke.status_code == 302
    assert two.get("/settings/security/").status_code == 302
    assert one.get("/settings/security/").status_code == 200


def test_password_change_page(browser, make_user):
    make_user("alice")
    post(browser, "/login/", {"username": "alice", "password": PASSWORD})
    bad = post(
        browser,
        "/settings/security/password/",
        {"current_password": "nope", "new_password": "another long secret 42"},
        page="/settings/security/",
    )
    assert bad.status_code == 400 and b"Wrong password" in bad.content
    ok = post(
        browser,
        "/settings/security/password/",
        {"current_password": PASSWORD, "new_password": "another long secret 42"},
        page="/settings/security/",
    )
    assert ok.status_code == 302
    assert browser.get("/settings/security/").status_code == 200  # still signed in
    assert User.objects.get(username="alice").check_password("another long secret 42")


def test_export_and_delete_from_the_ui(browser, make_user):
    make_user("alice")
    post(browser, "/login/", {"username": "alice", "password": PASSWORD})
    export = browser.get("/settings/account/export/")
    assert export.status_code == 200 and export["Content-Type"] == "application/json"
    assert b'"username": "alice"' in export.content
    deleted = post(browser, "/settings/account/", {"password": PASSWORD})
    assert deleted.status_code == 200 and b"Deletion scheduled" in deleted.content
    assert User.objects.get(username="alice").deletion_requested_at is not None
    assert browser.get("/settings/security/").status_code == 302
    post(browser, "/login/", {"username": "alice", "password": PASSWORD})
    cancel = post(browser, "/settings/account/", {"action": "cancel"})
    assert cancel.status_code == 302
    assert User.objects.get(username="alice").deletion_requested_at is None


def test_logout(browser, make_user):
    make_user("alice")
    post(browser, "/login/", {"username": "alice", "password": PASSWORD})
    out = post(browser, "/logout/", {}, page="/settings/security/")
    assert out.status_code == 302
    assert browser.get("/settings/security/").status_code == 302
    assert AuthSession.objects.get(user__username="alice").revoked_at is not None


def test_passwordless_passkey_sign_in_in_the_browser(browser, make_user):
    import json as _json

    from tests.accounts.test_passkeys import AUTH, HOST, credential, stored_passkey, swap_challenge

    case = AUTH["test_verify_authentication_response_with_RSA_public_key"]
    stored_passkey(make_user("alice"), case)
    token = csrf(browser, "/login/")
    options = browser.post(
        "/api/v1/auth/passkeys/options", "{}", content_type="application/json", **HOST
    ).json()
    swap_challenge("auth", options["state"], case)
    response = browser.post(
        "/login/passkey/",
        _json.dumps(
            {
                "state": options["state"],
                "credential": credential(case),
                "next": "/settings/security/",
            }
        ),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
        **HOST,
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"redirect": "/settings/security/"}
    assert browser.get("/settings/security/", **HOST).status_code == 200


def test_security_page_devices_rotation_passkeys(browser, make_user):
    from accounts.models import Device, KeyRotation, Passkey
    from accounts.services import keys, rotation
    from tests.accounts.conftest import DeviceKeys
    from tests.accounts.test_passkeys import AUTH, stored_passkey
    from tests.accounts.test_rotation import rotation_request

    user = make_user("alice")
    device = keys.check_register_device(user, DeviceKeys().payload(2, name="Phone"))
    pending = rotation.check_request_rotation(
        user, device.id, rotation_request(DeviceKeys()), session=None
    )
    post(browser, "/login/", {"username": "alice", "password": PASSWORD})
    passkey = stored_passkey(
        user, AUTH["test_verify_authentication_response_with_RSA_public_key"]
    )  # after signing in: a passkey is a second factor
    page = browser.get("/settings/security/")
    assert b"Phone" in page.content and b"Cancel this change" in page.content
    assert passkey.name.encode() in page.content

    post(
        browser,
        f"/settings/security/rotations/{pending.id}/cancel/",
        {},
        page="/settings/security/",
    )
    assert KeyRotation.objects.get(pk=pending.id).cancelled_at is not None
    post(
        browser,
        f"/settings/security/passkeys/{passkey.id}/",
        {"name": "Laptop", "action": "rename"},
        page="/settings/security/",
    )
    assert Passkey.objects.get(pk=passkey.id).name == "Laptop"
    post(
        browser,
        f"/settings/security/passkeys/{passkey.id}/",
        {"action": "remove"},
        page="/settings/security/",
    )
    assert not Passkey.objects.exists()
    post(browser, f"/settings/security/devices/{device.id}/revoke/", {}, page="/settings/security/")
    assert Device.objects.get(pk=device.id).revoked_at is not None
    assert b"No device has uploaded keys yet." in browser.get("/settings/security/").content


def test_recovery_key_from_the_settings_page(browser, make_user):
    import base64

    from nacl.signing import SigningKey

    user = make_user("alice")
    post(browser, "/login/", {"username": "alice", "password": PASSWORD})
    public = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    bad = post(
        browser,
        "/settings/security/recovery/",
        {"public_key": public, "password": "x"},
        page="/settings/security/",
    )
    assert bad.status_code == 400
    ok = post(
        browser,
        "/settings/security/recovery/",
        {"public_key": public, "password": PASSWORD},
        page="/settings/security/",
    )
    assert ok.status_code == 302
    user.refresh_from_db()
    assert user.recovery_public_key == public
