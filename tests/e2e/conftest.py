from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.messaging.conftest import api, world  # noqa: F401  (shared fixtures)
from united_client.e2e.client import E2EClient


def transport(client):
    def call(method: str, path: str, body=None):
        if method == "UPLOAD":
            upload = SimpleUploadedFile("blob", body["data"], "application/octet-stream")
            r = client.post(path, {"file": upload, **body["fields"]}, format="multipart")
            return r.status_code, r.json()
        if method == "DOWNLOAD":
            r = client.get(path)
            return r.status_code, b"".join(r.streaming_content) if r.streaming else r.content
        fn = getattr(client, method.lower())
        r = fn(path, body, format="json") if body is not None else fn(path)
        return r.status_code, (r.json() if r.content else None)

    return call


@pytest.fixture
def e2e(api):  # noqa: F811
    """e2e(user) → a registered E2EClient for a new device of `user`."""

    def make(user, name="python") -> E2EClient:
        client = E2EClient(transport(api(user)), str(user.id))
        client.register(name)
        return client

    return make
