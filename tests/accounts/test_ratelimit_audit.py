import pytest
from django.test import override_settings

from accounts.models import AuthEvent
from accounts.services import ratelimit
from tests.accounts.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen(monkeypatch):
    """Keep the fixed rate-limit windows from rolling over in the middle of a test."""
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_000_000.0)


def login(api, password=PASSWORD, username="alice", ip="198.51.100.7"):
    return api.post(
        "/api/v1/auth/login",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


def test_lockout_with_back_off_after_repeated_failures(api, alice, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    for _ in range(ratelimit.FREE_FAILURES):
        assert login(api, "wrong password!!").status_code == 401
        clock[0] += 7  # stay under the per-minute request limit
    locked = login(api)  # even the right password waits out the lockout
    assert locked.status_code == 429
    body = locked.json()
    assert body["code"] == 20028 and 0 < body["retry_after"] <= ratelimit.BACKOFF_BASE
    assert int(locked["Retry-After"]) >= 1
    clock[0] += ratelimit.BACKOFF_BASE + 1
    assert login(api, "wrong password!!").status_code == 401
    second = login(api)
    assert second.status_code == 429 and second.json()["retry_after"] > ratelimit.BACKOFF_BASE
    clock[0] += 2 * ratelimit.BACKOFF_BASE + 1
    assert login(api).status_code == 200  # success clears the counter
    assert login(api, "wrong password!!").status_code == 401
    assert login(api).status_code == 200


def test_per_account_limit_across_addresses(api, alice, frozen):
    per_ip, per_account, _ = ratelimit.LIMITS["login"]
    statuses = [login(api, ip=f"203.0.113.{i}").status_code for i in range(per_account + 1)]
    assert statuses[:per_account] == [200] * per_account
    assert statuses[-1] == 429


def test_per_address_limit_across_accounts(api, alice, frozen):
    per_ip, _, _ = ratelimit.LIMITS["login"]
    statuses = [
        login(api, username=f"user{i}", ip="192.0.2.1").status_code for i in range(per_ip + 1)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:per_ip]
    # Another address is not affected.
    assert login(api, ip="192.0.2.2").status_code == 200


@pytest.mark.parametrize(
    "path,payload",
    [
        ("/api/v1/auth/register", {"username": "x", "password": "y"}),
        ("/api/v1/auth/refresh", {"refresh_token": "rt_nope"}),
        ("/api/v1/auth/challenge", {"username": "alice"}),
        ("/api/v1/auth/recovery/challenge", {"username": "alice"}),
        ("/api/v1/auth/login/2fa", {"ticket": "x", "code": "1"}),
    ],
)
def test_every_anonymous_auth_endpoint_is_rate_limited(api, alice, path, payload, frozen):
    statuses = {
        api.post(path, payload, format="json", REMOTE_ADDR="192.0.2.9").status_code
        for _ in range(70)
    }
    assert 429 in statuses


def test_audit_log_has_no_ip_by_default(api, alice):
    login(api, "wrong password!!")
    login(api)
    events = AuthEvent.objects.filter(username="alice", kind="login")
    assert events.count() >= 3  # registration's sign-in, a failure, a success
    assert {e.success for e in events} == {True, False}
    assert all(e.ip is None for e in AuthEvent.objects.all())


def test_audit_log_keeps_ip_when_the_operator_says_so(api, alice):
    with override_settings(UNITED_LOG_IPS=True):
        login(api, ip="198.51.100.23")
    assert AuthEvent.objects.filter(kind="login", ip="198.51.100.23").exists()


def test_auth_events_are_in_the_admin(client, admin_user, alice):
    client.force_login(admin_user)
    response = client.get("/admin/accounts/authevent/")
    assert response.status_code == 200
    assert b"alice" in response.content
