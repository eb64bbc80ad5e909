"""The upload and download API through Django's full request stack, on both storage backends."""

from __future__ import annotations

import io
import os
import shutil

import pytest
from django.test import Client
from PIL import ExifTags, Image

from media.access import register_scope_resolver, unregister_scope_resolver
from media.models import Attachment, Blob
from media.storage import blob_store
from tests.media.helpers import (
    animated_gif,
    body_of,
    jpeg_with_gps,
    mp4_bytes,
    png_bytes,
    upload,
)

pytestmark = pytest.mark.usefixtures("backend")


def stored_bytes(attachment_id: str) -> bytes:
    attachment = Attachment.objects.get(id=int(attachment_id))
    return blob_store().read(attachment.blob.key)


def test_exif_and_gps_are_gone_from_a_stored_jpeg(as_alice):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    response = upload(as_alice, original, "holiday.jpg", claimed="image/jpeg")
    assert response.status_code == 201, response.content
    meta = response.json()
    assert meta["content_type"] == "image/jpeg" and meta["kind"] == "image"
    # The orientation was applied before the tag went: 80x40 stands up as 40x80.
    assert (meta["width"], meta["height"]) == (40, 80)
    assert meta["placeholder"] and len(meta["placeholder"]) == 28

    stored = stored_bytes(meta["id"])
    assert b"SpyCam" not in stored and b"SecretSoftware" not in stored and b"Exif" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG"
    assert not image.getexif() and not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    served = as_alice.get(meta["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert served["Content-Disposition"].startswith("inline")
    assert body_of(served) == stored


def test_html_renamed_png_is_never_served_as_html(as_alice):
    page = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    response = upload(as_alice, page, "cat.png", claimed="image/png")
    assert response.status_code == 201, response.content
    meta = response.json()
    assert meta["content_type"] == "application/octet-stream" and meta["kind"] == "file"
    served = as_alice.get(meta["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "application/octet-stream"
    assert served["Content-Disposition"].startswith("attachment")
    assert 'filename="cat.png"' in served["Content-Disposition"]
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Security-Policy"].startswith("sandbox")
    assert body_of(served) == page


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.svg"),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', "a.xhtml"),
    ],
)
def test_svg_and_xml_go_out_as_downloads(as_alice, data, name):
    meta = upload(as_alice, data, name, claimed="image/svg+xml").json()
    served = as_alice.get(meta["url"])
    assert served["Content-Type"] == "application/octet-stream"
    assert served["Content-Disposition"].startswith("attachment")


def test_thumbnails_and_blurhash_for_a_large_image(as_alice):
    meta = upload(as_alice, png_bytes((1200, 800)), "big.png").json()
    assert [t["size"] for t in meta["thumbnails"]] == [160, 480, 1024]
    assert (meta["thumbnails"][0]["width"], meta["thumbnails"][0]["height"]) == (160, 107)
    thumb = as_alice.get(meta["thumbnails"][0]["url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(body_of(thumb))).size == (160, 107)
    assert as_alice.get(f"/api/v1/attachments/{meta['id']}/thumbnails/99").status_code == 404


def test_animated_gif_stays_animated(as_alice):
    meta = upload(as_alice, animated_gif(frames=3), "party.gif").json()
    assert meta["animated"] is True and meta["content_type"] == "image/gif"
    stored = Image.open(io.BytesIO(stored_bytes(meta["id"])))
    assert stored.format == "GIF" and stored.n_frames == 3


def test_same_file_twice_is_stored_once(as_alice, bob):
    data = os.urandom(50_000)
    first = upload(as_alice, data, "one.bin").json()
    client = Client()
    client.force_login(bob)
    second = upload(client, data, "two.bin").json()
    assert first["id"] != second["id"]
    blob = Blob.objects.get()
    assert blob.refs == 2 and blob.size == 50_000
    assert list(blob_store().list("blobs")) == [blob.key]


def test_encrypted_upload_is_opaque(as_alice):
    ciphertext = jpeg_with_gps()  # even if it looks like a JPEG, nothing touches it
    response = upload(as_alice, ciphertext, "secret", encrypted="true", scope="dm:42")
    meta = response.json()
    assert meta["encrypted"] is True and meta["kind"] == "encrypted"
    assert meta["content_type"] == "application/octet-stream"
    assert meta["width"] is None and meta["thumbnails"] == [] and meta["placeholder"] is None
    assert stored_bytes(meta["id"]) == ciphertext
    served = as_alice.get(meta["url"])
    assert served["Content-Type"] == "application/octet-stream"
    assert served["Content-Disposition"].startswith("attachment")


def test_video_gets_metadata_and_plays_inline(as_alice):
    meta = upload(as_alice, mp4_bytes(), "clip.mp4", claimed="video/mp4").json()
    assert meta["kind"] == "video" and meta["content_type"] == "video/mp4"
    assert meta["duration_secs"] == 12.345
    if shutil.which("ffmpeg") is None:
        assert meta["thumbnails"] == [] and meta["placeholder"] is None  # a generic card
    served = as_alice.get(meta["url"], headers={"Range": "bytes=0-7"})
    assert served.status_code == 206 and served["Content-Type"] == "video/mp4"
    assert served["Content-Disposition"].startswith("inline")


def test_avatar_is_cropped_square_and_public(as_alice):
    meta = upload(as_alice, png_bytes((300, 200)), "me.png", purpose="avatar").json()
    assert (meta["width"], meta["height"]) == (512, 512)
    public = Client().get(meta["url"])
    assert public.status_code == 200 and public["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "public" in public["Cache-Control"]
    bad = upload(as_alice, b"just text, not a picture", "me.txt", purpose="icon")
    assert bad.status_code == 400 and "file" in bad.json()["errors"]


class TestRanges:
    @pytest.fixture
    def uploaded(self, as_alice):
        data = os.urandom(300_000)
        return data, upload(as_alice, data, "clip.bin").json()["url"]

    def test_single_range(self, as_alice, uploaded):
        data, url = uploaded
        part = as_alice.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part["Content-Range"] == "bytes 100-199/300000"
        assert part["Content-Length"] == "100"
        assert body_of(part) == data[100:200]

    def test_suffix_and_open_ranges(self, as_alice, uploaded):
        data, url = uploaded
        assert body_of(as_alice.get(url, headers={"Range": "bytes=-10"})) == data[-10:]
        tail = as_alice.get(url, headers={"Range": "bytes=299990-"})
        assert tail["Content-Range"] == "bytes 299990-299999/300000"
        assert body_of(tail) == data[299990:]

    def test_unsatisfiable_range(self, as_alice, uploaded):
        _, url = uploaded
        response = as_alice.get(url, headers={"Range": "bytes=400000-"})
        assert response.status_code == 416
        assert response["Content-Range"] == "bytes */300000"

    def test_multiple_or_malformed_ranges_get_the_whole_file(self, as_alice, uploaded):
        data, url = uploaded
        for header in ("bytes=0-1,5-6", "pages=1-2", "bytes=9-3"):
            response = as_alice.get(url, headers={"Range": header})
            assert response.status_code == 200 and body_of(response) == data
            assert response["Accept-Ranges"] == "bytes"


class TestAccess:
    @pytest.fixture
    def in_channel(self, as_alice, alice, make_user):
        from media.access import _resolvers

        carol = make_user("carol")
        members = {alice.id, carol.id}
        # Put messaging's real resolver back afterwards: later tests in this process need it.
        previous = _resolvers.get("channel")
        register_scope_resolver("channel", lambda user, scope_id: user.id in members)
        meta = upload(as_alice, b"minutes of the meeting", "notes.txt", scope="channel:7").json()
        yield meta, carol
        unregister_scope_resolver("channel")
        if previous is not None:
            register_scope_resolver("channel", previous)

    def test_member_of_the_scope_may_read(self, in_channel):
        meta, carol = in_channel
        client = Client()
        client.force_login(carol)
        assert client.get(meta["url"]).status_code == 200
        assert client.get(f"/api/v1/attachments/{meta['id']}").json()["filename"] == "notes.txt"

    def test_outsider_gets_403(self, bob, in_channel):
        meta, _ = in_channel
        client = Client()
        client.force_login(bob)
        for url in (meta["url"], f"/api/v1/attachments/{meta['id']}"):
            response = client.get(url)
            assert response.status_code == 403
            assert response.json()["code"] == 50013 and response.json()["message"]

    def test_anonymous_gets_401(self, in_channel):
        meta, _ = in_channel
        assert Client().get(meta["url"]).status_code == 401

    def test_scope_without_resolver_is_closed(self, as_alice, bob):
        meta = upload(as_alice, b"hello", "dm.txt", scope="dm:5").json()
        assert as_alice.get(meta["url"]).status_code == 200  # the uploader may
        client = Client()
        client.force_login(bob)
        assert client.get(meta["url"]).status_code == 403

    def test_unknown_attachment_is_404(self, as_alice):
        assert as_alice.get("/api/v1/attachments/12345/content").status_code == 404


def test_delete_your_attachment(as_alice, bob):
    meta = upload(as_alice, b"oops", "oops.txt").json()
    client = Client()
    client.force_login(bob)
    assert client.delete(f"/api/v1/attachments/{meta['id']}").status_code == 403
    assert as_alice.delete(f"/api/v1/attachments/{meta['id']}").status_code == 204
    assert not Attachment.objects.exists()
    assert Blob.objects.get().refs == 0


def test_bad_form_fields(as_alice):
    assert upload(as_alice, b"x", purpose="poster").status_code == 400
    assert upload(as_alice, b"x", scope="not a scope").status_code == 400
    assert upload(as_alice, b"", "empty.txt").status_code == 400
    assert as_alice.post("/api/v1/upload", {"other": "field"}).status_code == 400
    assert upload(Client(), b"x").status_code == 401
