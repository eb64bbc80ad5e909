"""The node's HTTP contract: probes, the API's error shape, security headers."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_ready(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("status", "mode")} == {
        "status": "ready",
        "mode": settings.UNITED_MODE,
    }
    # The voice worker is reported, not gating (none runs here: docs/voice.md).
    assert body["voice"]["status"] in ("ok", "unavailable")


def test_readyz_names_a_dead_event_bus(client):
    from tests.services import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    with override_settings(EVENT_BUS_URL=dead, EVENT_BUS_PREFIX="united"):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert set(body["failed"]) == {"event_bus"}


def test_readyz_names_a_dead_broker(client, settings):
    from tests.services import free_port

    settings.UNITED_MODE = "production"
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "job_broker" in response.json()["failed"]


def test_unauthenticated_api_call_has_the_error_shape(client):
    response = client.get("/api/v1/users/@me")
    assert response.status_code == 401
    assert response.json() == {"code": 40001, "message": response.json()["message"], "errors": {}}


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response.json()["code"] == 10000


@pytest.fixture
def alice_client(client, make_user):
    user = make_user("alice")
    client.force_login(user)
    return client


def test_malformed_json_is_a_clear_400(alice_client):
    response = alice_client.patch(
        "/api/v1/users/@me", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == 50109


def test_field_errors_are_per_field(alice_client):
    response = alice_client.patch(
        "/api/v1/users/@me",
        data=json.dumps({"global_name": "x" * 40}),
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 50035
    assert "global_name" in body["errors"]


def test_oversized_body_is_413_not_500(alice_client, settings):
    big = json.dumps({"global_name": "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    response = alice_client.patch("/api/v1/users/@me", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == 40005


def test_wrong_method_is_405_with_shape(alice_client):
    response = alice_client.delete("/api/v1/users/@me")
    assert response.status_code == 405
    assert set(response.json()) == {"code", "message", "errors"}


def test_profile_update_is_stored(alice_client, make_user):
    response = alice_client.patch(
        "/api/v1/users/@me",
        data=json.dumps({"global_name": "Alice"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["global_name"] == "Alice"
    assert alice_client.get("/api/v1/users/@me").json()["global_name"] == "Alice"
    assert isinstance(response.json()["id"], str)


def test_pages_carry_a_csp_without_inline_scripts(client):
    response = client.get("/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in response.content


def test_admin_login_page_is_served(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b"UNITED node administration" in response.content


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/users/@me" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
