from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import tasks
from accounts.models import AuthEvent, User
from tests.accounts.conftest import PASSWORD, DeviceKeys

pytestmark = pytest.mark.django_db


def test_export_contains_what_the_node_holds(alice):
    alice["client"].post("/api/v1/users/@me/devices", DeviceKeys().payload(2), format="json")
    response = alice["client"].get("/api/v1/users/@me/export")
    assert response.status_code == 200
    data = response.json()
    assert data["user"]["username"] == "alice"
    assert len(data["devices"]) == 1 and len(data["devices"][0]["one_time_prekeys"]) == 2
    assert data["sessions"] and data["auth_events"]
    assert "password" not in str(data).lower().replace("password_change", "")


def test_deletion_with_grace_period(api, alice, monkeypatch):
    client = alice["client"]
    assert (
        client.post("/api/v1/users/@me/deletion", {"password": "nope"}, format="json").status_code
        == 400
    )
    assert (
        client.post("/api/v1/users/@me/deletion", {"password": PASSWORD}, format="json").status_code
        == 202
    )
    assert client.get("/api/v1/users/@me").status_code == 401  # signed out everywhere
    tasks.delete_due_accounts()
    assert User.objects.filter(username="alice").exists()
    later = timezone.now() + timedelta(days=15)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.delete_due_accounts()
    assert not User.objects.filter(username="alice").exists()
    assert AuthEvent.objects.filter(kind="account_deleted", username="alice").exists()


def test_deletion_can_be_cancelled_by_signing_in(api, alice, monkeypatch):
    alice["client"].post("/api/v1/users/@me/deletion", {"password": PASSWORD}, format="json")
    tokens = api.post(
        "/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()
    from tests.accounts.conftest import bearer

    assert bearer(tokens).delete("/api/v1/users/@me/deletion").status_code == 204
    later = timezone.now() + timedelta(days=15)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.delete_due_accounts()
    assert User.objects.filter(username="alice").exists()
