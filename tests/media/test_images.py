"""Image work without HTTP: BlurHash against published vectors, sniffing, video metadata."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from media import images
from media.models import Kind
from tests.media.helpers import mp4_bytes

pytestmark = pytest.mark.mode_independent

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "blurhash"


@pytest.mark.parametrize(
    "case",
    json.loads((VECTORS / "expected.json").read_text())["encodings"],
    ids=lambda c: f"{c['image']}-{c['components_x']}x{c['components_y']}",
)
def test_blurhash_matches_the_reference_encoders(case):
    image = Image.open(VECTORS / case["image"])
    components = (case["components_x"], case["components_y"])
    assert images.encode_blurhash(image, components) == case["blurhash"]


@pytest.mark.parametrize(
    ("fmt", "mime", "kind"),
    [
        ("PNG", "image/png", Kind.IMAGE),
        ("JPEG", "image/jpeg", Kind.IMAGE),
        ("GIF", "image/gif", Kind.IMAGE),
        ("WEBP", "image/webp", Kind.IMAGE),
        ("BMP", "image/bmp", Kind.FILE),  # not decoded by us: a plain download
    ],
)
def test_type_comes_from_the_content(tmp_path, fmt, mime, kind):
    path = tmp_path / "no-extension.txt"
    Image.new("RGB", (8, 8)).save(path, fmt)
    assert images.sniff(path) == mime
    assert images.kind_of(mime) == kind


def test_animated_webp_stays_animated(tmp_path):
    frames = [Image.new("RGB", (30, 20), (i * 60, 0, 0)) for i in range(4)]
    source = tmp_path / "anim.webp"
    frames[0].save(source, "WEBP", save_all=True, append_images=frames[1:], duration=80)
    result = images.process_image(source, "image/webp", tmp_path)
    assert result.animated
    with Image.open(result.cleaned.path) as cleaned:
        assert cleaned.n_frames == 4


def test_mp4_duration_without_a_decoder(tmp_path):
    # version 0 mvhd: flags, created, modified, timescale 1000, duration 12345
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4_bytes())
    assert images.mp4_duration(path) == 12.345
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0\0\0\x04nope")
    assert images.mp4_duration(junk) is None


def test_no_poster_without_a_decoder_or_from_junk(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\0" * 100)
    assert images.video_poster(path, tmp_path) is None  # ffmpeg absent, or it refuses junk


def test_jpeg_in_cmyk_and_png_with_alpha_are_cleaned(tmp_path):
    for mode, fmt, mime in (("CMYK", "JPEG", "image/jpeg"), ("RGBA", "PNG", "image/png")):
        source = tmp_path / f"src.{fmt.lower()}"
        Image.new(mode, (50, 40)).save(source, fmt)
        result = images.process_image(source, mime, tmp_path)
        assert (result.width, result.height) == (50, 40)
        assert Image.open(io.BytesIO(result.cleaned.path.read_bytes())).format == fmt
