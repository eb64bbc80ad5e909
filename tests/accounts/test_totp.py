import json
import time
from base64 import b32decode
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuthEvent, User
from tests.accounts.conftest import PASSWORD, bearer

pytestmark = pytest.mark.django_db

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "totp-rfc6238/vectors.json").read_text()
)
SHA1 = VECTORS["secrets"]["SHA1"]


class Clock:
    """Stands in for `time` (code steps) and `timezone` (django-otp's failure throttle)."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=UTC)


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr("django_otp.plugins.otp_totp.models.time", fake)
    monkeypatch.setattr("django_otp.models.timezone", SimpleNamespace(now=fake.datetime))
    return fake


def code_at(key: bytes, when: float, digits: int = 6) -> str:
    totp = TOTP(key, step=30, t0=0, digits=digits)
    totp.time = when
    return f"{totp.token():0{digits}d}"


def enable_totp(client, clock) -> tuple[bytes, list[str]]:
    setup = client.post("/api/v1/auth/2fa/enable", {"password": PASSWORD}, format="json")
    assert setup.status_code == 200, setup.json()
    body = setup.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert body["qr_svg"].startswith("data:image/svg+xml")
    secret = body["secret"]
    key = b32decode(secret + "=" * (-len(secret) % 8))
    wrong = client.post("/api/v1/auth/2fa/verify", {"code": "000000"}, format="json")
    assert wrong.status_code == 400
    clock.now += 2
    done = client.post("/api/v1/auth/2fa/verify", {"code": code_at(key, clock.now)}, format="json")
    assert done.status_code == 200
    codes = done.json()["backup_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return key, codes


def start_login(api) -> str:
    response = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["mfa"] is True and "access_token" not in body
    assert set(body["methods"]) >= {"totp", "backup_code"}
    return body["ticket"]


def second_factor(api, ticket, code):
    return api.post("/api/v1/auth/login/2fa", {"ticket": ticket, "code": code}, format="json")


def test_enable_and_sign_in_with_totp(api, alice, clock):
    key, _ = enable_totp(alice["client"], clock)
    clock.now += 30
    ticket = start_login(api)
    wrong = second_factor(
        api, ticket, "123456" if code_at(key, clock.now) != "123456" else "654321"
    )
    assert wrong.status_code == 401
    clock.now += 2  # django-otp throttles a device for a second after a miss
    ok = second_factor(api, ticket, code_at(key, clock.now))
    assert ok.status_code == 200
    assert bearer(ok.json()).get("/api/v1/users/@me").status_code == 200
    assert AuthEvent.objects.filter(kind="second_factor", success=False).count() == 1


def test_replayed_totp_code_is_rejected(api, alice, clock):
    key, _ = enable_totp(alice["client"], clock)
    clock.now += 30
    code = code_at(key, clock.now)
    assert second_factor(api, start_login(api), code).status_code == 200
    replay = second_factor(api, start_login(api), code)
    assert replay.status_code == 401
    # Still within the validity window, but already used: a later step is fine again.
    clock.now += 30
    assert second_factor(api, start_login(api), code_at(key, clock.now)).status_code == 200


def test_setup_code_cannot_be_replayed_for_sign_in(api, alice, clock):
    key, _ = enable_totp(alice["client"], clock)
    assert second_factor(api, start_login(api), code_at(key, clock.now)).status_code == 401


def test_backup_codes_work_once(api, alice, clock):
    _, codes = enable_totp(alice["client"], clock)
    assert second_factor(api, start_login(api), codes[0]).status_code == 200
    assert second_factor(api, start_login(api), codes[0]).status_code == 401
    clock.now += 2
    assert second_factor(api, start_login(api), codes[1].upper()).status_code == 200


def test_bad_or_forged_ticket(api, alice, clock):
    key, _ = enable_totp(alice["client"], clock)
    clock.now += 30
    ticket = start_login(api)
    forged = ticket[:-2] + ("AA" if not ticket.endswith("AA") else "BB")
    assert second_factor(api, forged, code_at(key, clock.now)).status_code == 401
    assert second_factor(api, "", code_at(key, clock.now)).status_code == 401


def test_disable_totp_needs_a_code(api, alice, clock):
    key, _ = enable_totp(alice["client"], clock)
    client = alice["client"]
    assert (
        client.post("/api/v1/auth/2fa/disable", {"code": "000000"}, format="json").status_code
        == 400
    )
    clock.now += 30
    assert (
        client.post(
            "/api/v1/auth/2fa/disable", {"code": code_at(key, clock.now)}, format="json"
        ).status_code
        == 204
    )
    response = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.json()["mfa"] is False


def test_enable_needs_password_and_backup_codes_can_be_regenerated(alice, clock):
    client = alice["client"]
    assert (
        client.post("/api/v1/auth/2fa/enable", {"password": "nope"}, format="json").status_code
        == 400
    )
    key, old = enable_totp(client, clock)
    clock.now += 30
    new = client.post(
        "/api/v1/auth/2fa/backup-codes", {"code": code_at(key, clock.now)}, format="json"
    )
    assert new.status_code == 200 and not set(new.json()["backup_codes"]) & set(old)


def _vector_login(api, clock, digits, unix_time, code):
    """Sign in through the HTTP second-factor path with the RFC 6238 SHA1 seed."""
    user = User.objects.get(username="alice")
    TOTPDevice.objects.create(
        user=user,
        name="rfc",
        key=SHA1["hex"],
        step=30,
        t0=0,
        digits=digits,
        tolerance=0,
        confirmed=True,
    )
    clock.now = unix_time
    return second_factor(api, start_login(api), code)


@pytest.mark.parametrize(
    "row", [r for r in VECTORS["totp"] if r["algorithm"] == "SHA1"], ids=lambda r: r["utc"]
)
def test_rfc6238_vectors_8_digits(api, alice, clock, row):
    assert _vector_login(api, clock, 8, row["unix_time"], row["totp"]).status_code == 200
    # With zero tolerance the code is not accepted two steps later.
    clock.now = row["unix_time"] + 60
    assert second_factor(api, start_login(api), row["totp"]).status_code == 401


@pytest.mark.parametrize("row", VECTORS["totp_6_digit_sha1"], ids=lambda r: str(r["unix_time"]))
def test_rfc6238_vectors_6_digits(api, alice, clock, row):
    assert _vector_login(api, clock, 6, row["unix_time"], row["totp6"]).status_code == 200


@pytest.mark.parametrize("row", [r for r in VECTORS["totp"] if r["algorithm"] == "SHA1"])
def test_rfc6238_code_generation_matches(row):
    assert code_at(bytes.fromhex(SHA1["hex"]), row["unix_time"], digits=8) == row["totp"]


def test_a_ticket_opens_one_session_only(api, alice, clock):
    _, codes = enable_totp(alice["client"], clock)
    ticket = start_login(api)
    assert second_factor(api, ticket, codes[0]).status_code == 200
    again = second_factor(api, ticket, codes[1])
    assert again.status_code == 401
    assert second_factor(api, start_login(api), codes[1]).status_code == 200  # code not spent
