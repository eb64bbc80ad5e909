"""Run the sign-in, 2FA, key and recovery flows with every logger at DEBUG and check that no
password, TOTP secret, backup code, token or private key shows up in any log record."""

import logging
from base64 import b32decode, b64encode

import pytest
from django_otp.oath import TOTP
from mnemonic import Mnemonic
from nacl.signing import SigningKey

from tests.accounts.conftest import DeviceKeys, b64, bearer

pytestmark = pytest.mark.django_db

PASSWORD = "Tr0ub4dor&3-unique-secret"
NEW_PASSWORD = "another-Unique-secret-99"
WRONG_PASSWORD = "wrong-Unique-secret-00"


def all_log_text(records) -> str:
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(record.__dict__))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def test_no_secret_is_ever_logged(api, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("accounts", "django", "django.request", "django_otp", "united", "messaging"):
        caplog.set_level(logging.DEBUG, logger=name)

    phrase = Mnemonic("english").generate(128)
    recovery = SigningKey(Mnemonic.to_seed(phrase)[:32])
    device = DeviceKeys()

    r = api.post(
        "/api/v1/auth/register",
        {
            "username": "alice",
            "password": PASSWORD,
            "recovery_public_key": b64(bytes(recovery.verify_key)),
        },
        format="json",
    )
    tokens = r.json()
    client = bearer(tokens)
    api.post("/api/v1/auth/register", {"username": "bob", "password": "password"}, format="json")
    api.post("/api/v1/auth/login", {"username": "alice", "password": WRONG_PASSWORD}, format="json")
    client.post("/api/v1/users/@me/devices", device.payload(3), format="json")

    setup = client.post("/api/v1/auth/2fa/enable", {"password": PASSWORD}, format="json").json()
    key = b32decode(setup["secret"] + "=" * (-len(setup["secret"]) % 8))
    code = f"{TOTP(key).token():06d}"
    backup = client.post("/api/v1/auth/2fa/verify", {"code": code}, format="json").json()
    ticket = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()["ticket"]
    api.post("/api/v1/auth/login/2fa", {"ticket": ticket, "code": code}, format="json")  # replay
    signed_in = api.post(
        "/api/v1/auth/login/2fa",
        {"ticket": ticket, "code": backup["backup_codes"][0]},
        format="json",
    ).json()
    api.post("/api/v1/auth/refresh", {"refresh_token": signed_in["refresh_token"]}, format="json")
    api.post(
        "/api/v1/auth/refresh", {"refresh_token": signed_in["refresh_token"]}, format="json"
    )  # reuse
    bearer({"access_token": "at_bogus-token-value"}).get("/api/v1/users/@me")

    ch = api.post("/api/v1/auth/challenge", {"username": "alice"}, format="json").json()
    api.post(
        "/api/v1/auth/challenge/verify",
        {
            "username": "alice",
            "nonce": ch["nonce"],
            "signature": device.sign(ch["message"].encode()),
        },
        format="json",
    )
    ch = api.post("/api/v1/auth/recovery/challenge", {"username": "alice"}, format="json").json()
    api.post(
        "/api/v1/auth/recovery",
        {
            "username": "alice",
            "nonce": ch["nonce"],
            "new_password": NEW_PASSWORD,
            "signature": b64(recovery.sign(ch["message"].encode()).signature),
        },
        format="json",
    )

    text = all_log_text(caplog.records)
    assert "auth event" in text  # the flows did log
    secrets = {
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "TOTP secret (base32)": setup["secret"],
        "TOTP secret (hex)": key.hex(),
        "TOTP code": code,
        "otpauth URI": setup["otpauth_uri"],
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "recovery phrase": phrase,
        "recovery private key": bytes(recovery).hex(),
        "recovery private key b64": b64encode(bytes(recovery)).decode(),
        "identity private key": bytes(device.identity).hex(),
        "identity private key b64": b64(bytes(device.identity)),
        "signed prekey private": b64(bytes(device.signed_prekey)),
        **{f"backup code {i}": c for i, c in enumerate(backup["backup_codes"])},
    }
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert leaked == []
