"""The wait a refused sign-in announces is the real one (issue 29: after 30 wrong passwords
the node answered `Retry-After: 18`, and the right password 19 s later was still refused)."""

import pytest

from accounts.services import ratelimit
from tests.accounts.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(api, password=PASSWORD, ip="198.51.100.7"):
    return api.post(
        "/api/v1/auth/login",
        {"username": "alice", "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


def test_the_right_password_is_accepted_exactly_when_retry_after_says(api, alice, monkeypatch):
    clock = [1_000_020.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    statuses = [login(api, "wrong password!!").status_code for _ in range(30)]
    assert statuses.count(401) >= ratelimit.FREE_FAILURES and statuses[-1] == 429
    refused = login(api)
    assert refused.status_code == 429
    wait = refused.json()["retry_after"]
    assert int(refused["Retry-After"]) >= wait
    clock[0] += wait - 0.5
    assert login(api).status_code == 429
    clock[0] += 0.5
    assert login(api).status_code == 200
