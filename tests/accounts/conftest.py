from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass
class DeviceKeys:
    """A client's private keys, as a real device would hold them (never sent)."""

    identity: SigningKey = field(default_factory=SigningKey.generate)
    signed_prekey: PrivateKey = field(default_factory=PrivateKey.generate)
    one_time: list[PrivateKey] = field(default_factory=list)

    def payload(self, count: int = 5, *, name: str = "laptop", start: int = 1) -> dict[str, Any]:
        self.one_time = [PrivateKey.generate() for _ in range(count)]
        spk = bytes(self.signed_prekey.public_key)
        return {
            "name": name,
            "identity_key": b64(bytes(self.identity.verify_key)),
            "signed_prekey": {
                "key_id": 1,
                "public_key": b64(spk),
                "signature": b64(self.identity.sign(spk).signature),
            },
            "one_time_prekeys": [
                {"key_id": start + i, "public_key": b64(bytes(k.public_key))}
                for i, k in enumerate(self.one_time)
            ],
        }

    def sign(self, message: bytes) -> str:
        return b64(self.identity.sign(message).signature)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def register(
    api: APIClient, username: str = "alice", password: str = PASSWORD, **extra: Any
) -> dict[str, Any]:
    response = api.post(
        "/api/v1/auth/register",
        {"username": username, "password": password, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def bearer(tokens: dict[str, Any]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return client


@pytest.fixture
def alice(db, api) -> dict[str, Any]:
    """A registered member and an API client signed in as them."""
    tokens = register(api, "alice")
    return {"tokens": tokens, "client": bearer(tokens), "id": tokens["user_id"]}


@pytest.fixture
def bob(db, api) -> dict[str, Any]:
    tokens = register(api, "bob")
    return {"tokens": tokens, "client": bearer(tokens), "id": tokens["user_id"]}


@pytest.fixture
def concurrent_db(tmp_path):
    """Let threads really race on the database.

    On PostgreSQL this is a no-op. Django's SQLite test database lives in memory in
    shared-cache mode, where a second writer fails at once with "table is locked" instead of
    waiting; the embedded node runs on a file in WAL mode with a busy timeout. So this copies
    the test database to a file and points every connection (each thread opens its own) at
    it for the test, then puts the in-memory database back.
    """
    from django.db import connection

    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield
        return
    import sqlite3

    connection.ensure_connection()
    path = tmp_path / "concurrent.sqlite3"
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    memory_name, memory_conn = connection.settings_dict["NAME"], connection.connection
    connection.settings_dict["NAME"] = str(path)
    connection.connection = None
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = memory_name
        connection.connection = memory_conn
