"""Input limits in one place (united/jsonbody.py, united/converters.py): what a client or a
peer gets for hostile JSON and for ids outside the snowflake range."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from federation.models import InboxItem
from tests.federation.fixtures import post_signed, remote_identity
from united import jsonbody
from united.jsonbody import JSONBodyError, loads_client_json

DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.mode_independent
@pytest.mark.parametrize(
    "text,status",
    [
        ('{"a": NaN}', 400),
        ('{"a": Infinity}', 400),
        ("[-Infinity]", 400),
        ("[1e999]", 400),
        ("[" * 10_000 + "]" * 10_000, 400),
        ("[" * (jsonbody.MAX_DEPTH + 1) + "]" * (jsonbody.MAX_DEPTH + 1), 400),
        ('{"a": "\\u0000"}', 400),
        ('{"\\ud800": 1}', 400),
        ("1" * 5000, 400),  # past Python's int digit limit
        (b"\xff\xfe", 400),
        ("{", 400),
        (" " * (jsonbody.MAX_BYTES + 1), 413),
    ],
)
def test_client_json_refusals(text, status):
    with pytest.raises(JSONBodyError) as info:
        loads_client_json(text)
    assert info.value.status == status
    assert info.value.body()["code"] in {50109, 40005}


@pytest.mark.mode_independent
def test_client_json_at_the_limits_is_accepted():
    depth = jsonbody.MAX_DEPTH
    nested = "[" * depth + "]" * depth
    assert loads_client_json(nested) == json.loads(nested)
    assert loads_client_json(b'{"op": 1, "d": 2.5, "s": "\\ud83d\\ude00"}') == {
        "op": 1,
        "d": 2.5,
        "s": "\U0001f600",
    }


@pytest.fixture
def member(make_user) -> APIClient:
    api = APIClient()
    api.force_authenticate(make_user("alice"))
    return api


def _post_raw(api: APIClient, path: str, body: bytes):
    return api.generic("POST", path, body, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,status,code",
    [
        (DEEP, 400, 50109),
        (b'{"name": NaN}', 400, 50109),
        (b'{"name": "x\\u0000"}', 400, 50109),
        (b'{"name": "' + b"x" * (jsonbody.MAX_BYTES + 1) + b'"}', 413, 40005),
    ],
)
def test_api_refuses_hostile_json_with_the_error_shape(member, body, status, code):
    response = _post_raw(member, "/api/v1/guilds", body)
    assert response.status_code == status
    assert response.json()["code"] == code and "message" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/99999999999999999999999/keys",
        "/api/v1/users/9223372036854775808/profile",
        "/api/v1/users/-1/keys",
        "/api/v1/users/1e5/keys",
        "/api/v1/guilds/99999999999999999999999",
        "/api/v1/channels/9223372036854775808/messages",
        "/api/v1/channels/1/messages/99999999999999999999999",
        "/api/v1/attachments/99999999999999999999999",
        "/api/v1/users/9223372036854775807/keys",  # the largest snowflake: simply unknown
    ],
)
def test_ids_outside_the_snowflake_range_are_404(member, path):
    response = member.get(path)
    assert response.status_code == 404
    assert response.json()["code"] in {10000, 10003, 10004, 10008, 10013}


@pytest.fixture
def eve(db, settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"
    return remote_identity()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"id": "https://remote.example/a/1", "type": "Like", '
        b'"actor": "https://remote.example/users/eve", "object": NaN}',
        b'{"id": "https://remote.example/a/2", "type": "Like", '
        b'"actor": "https://remote.example/users/eve", "object": 1e400}',
    ],
)
def test_signed_inbox_refuses_hostile_json(client, eve, body):
    response = post_signed(client, eve, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert not InboxItem.objects.exists()
