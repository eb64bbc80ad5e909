"""Media tests run twice: against local disk and against a real S3 server (moto) on loopback.

`backend` swaps settings.STORAGES the way united/settings.py builds it for each
STORAGE_BACKEND; Django resets its storage handler when the setting changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest

from tests.services import free_port, wait_for_port

S3_KEY, S3_SECRET, S3_REGION = "united-test-key", "united-test-secret", "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def new_bucket(endpoint: str) -> str:
    name = f"united-{uuid.uuid4().hex[:16]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name=S3_REGION,
    ).create_bucket(Bucket=name)
    return name


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    """What an operator would put in the environment for this bucket."""
    return {
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT": endpoint,
        "S3_BUCKET": bucket,
        "S3_ACCESS_KEY": S3_KEY,
        "S3_SECRET_KEY": S3_SECRET,
        "S3_REGION": S3_REGION,
        "S3_PATH_STYLE": "true",
    }


def storages_for(backend: str, tmp_path, endpoint: str | None = None) -> dict:
    """settings.STORAGES as united/settings.py computes it from the environment."""
    from django.conf import settings

    from united import config

    if backend == "s3":
        env = s3_env(endpoint, new_bucket(endpoint))
    else:
        env = {}
    cfg = config.load({"UNITED_DATA_DIR": str(tmp_path / "data"), **env})
    if cfg.storage_backend == "s3":
        default = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": cfg.s3_bucket,
                "access_key": cfg.s3_access_key,
                "secret_key": cfg.s3_secret_key,
                "endpoint_url": cfg.s3_endpoint,
                "region_name": cfg.s3_region,
                "addressing_style": "path" if cfg.s3_path_style else "virtual",
                "default_acl": None,
                "querystring_auth": False,
                "file_overwrite": True,
            },
        }
    else:
        default = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        }
    return {**settings.STORAGES, "default": default}


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path) -> str:
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else None
    settings.STORAGES = storages_for(request.param, tmp_path, endpoint)
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "uploads"
    return request.param


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Argon2 is the point in production and seconds per user here; these tests use sessions.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client
