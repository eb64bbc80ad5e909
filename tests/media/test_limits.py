"""Size limit, quota, decompression bombs and broken images: refused cleanly, nothing left."""

from __future__ import annotations

import io
import os
import resource
import tracemalloc

import pytest

from media.models import Attachment, Blob
from media.storage import blob_store
from tests.media.helpers import multipart, png_bomb, png_bytes, png_header_only, upload

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture(scope="session")
def bomb() -> bytes:
    return png_bomb(20000, 20000)


def nothing_left(settings) -> bool:
    temp = list(settings.FILE_UPLOAD_TEMP_DIR.glob("*"))
    return (
        not temp
        and not Attachment.objects.exists()
        and not Blob.objects.exists()
        and not list(blob_store().list("blobs"))
    )


def test_file_over_the_limit_gets_413(as_alice, settings):
    settings.UNITED_MAX_UPLOAD_BYTES = 100_000
    response = upload(as_alice, b"x" * 200_000, "big.bin")
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == 40005 and "100000" in body["message"] and body["errors"]["file"]
    assert nothing_left(settings)


class UnreadableBody(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readinto = read


def test_declared_length_over_the_limit_is_refused_before_reading_the_body(as_alice, settings):
    settings.UNITED_MAX_UPLOAD_BYTES = 100_000
    response = as_alice.generic(
        "POST",
        "/api/v1/upload",
        CONTENT_TYPE="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(50 * 1024**3),
        **{"wsgi.input": UnreadableBody()},
    )
    assert response.status_code == 413, response.content
    assert response.json()["code"] == 40005
    assert nothing_left(settings)


def test_streamed_size_is_checked_when_the_declared_length_is_within_slack(as_alice, settings):
    # 100 KB limit, 120 KB file: the Content-Length passes the slack, the stream does not.
    settings.UNITED_MAX_UPLOAD_BYTES = 100_000
    response = upload(as_alice, b"y" * 120_000, "sneaky.bin")
    assert response.status_code == 413
    assert nothing_left(settings)


def test_quota(as_alice, settings):
    settings.UNITED_USER_QUOTA_BYTES = 250_000
    assert upload(as_alice, b"a" * 100_000, "1.bin").status_code == 201
    assert upload(as_alice, b"b" * 100_000, "2.bin").status_code == 201
    over = upload(as_alice, b"c" * 100_000, "3.bin")
    assert over.status_code == 413 and "quota" in over.json()["message"]
    assert Attachment.objects.count() == 2


def test_png_bomb_is_rejected_without_decoding(as_alice, settings, bomb):
    assert len(bomb) < 1_000_000  # 400 megapixels in well under a megabyte
    peak_rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        response = upload(as_alice, bomb, "bomb.png")
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    peak_rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert response.status_code == 400, response.content
    assert "pixels" in response.json()["message"]
    # Decoding would need 400 MB (one byte per pixel); the request stayed far below that.
    assert python_peak < 30 * 1024 * 1024
    assert peak_rss_after - peak_rss_before < 100 * 1024 * 1024
    assert nothing_left(settings)


def test_image_between_one_and_two_budgets_is_rejected_too(as_alice, settings):
    # Pillow only warns up to twice MAX_IMAGE_PIXELS; the warning must not let it through.
    response = upload(as_alice, png_header_only(7000, 7000), "big.png")
    assert response.status_code == 400 and "pixels" in response.json()["message"]
    assert nothing_left(settings)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"garbage" * 20,
        png_bytes((300, 300))[:200],  # cut short inside the pixel data
        b"\xff\xd8\xff\xe0\0\x10JFIF\0" + b"\x01" * 300,  # a JPEG that is only a header
        b"GIF89a" + b"\xff" * 40,
    ],
    ids=["bad-ihdr", "truncated-png", "jpeg-header", "gif-junk"],
)
def test_malformed_images_are_rejected_cleanly(as_alice, settings, data):
    response = upload(as_alice, data, "broken.img")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == 50035
    assert nothing_left(settings)


def test_body_that_ends_early_leaves_nothing(as_alice, settings):
    # The live test cuts a socket; here the WSGI stream ends at half the declared length.
    body, boundary = multipart(os.urandom(300_000), "cut.bin")
    response = as_alice.generic(
        "POST",
        "/api/v1/upload",
        CONTENT_TYPE=f"multipart/form-data; boundary={boundary}",
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body[: len(body) // 2])},
    )
    assert response.status_code == 400
    assert nothing_left(settings)
