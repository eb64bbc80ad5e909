"""What an uploaded file is, and the image work done before it is stored.

The type comes from the bytes (`filetype` reads the first few KB), never from the name or the
browser's Content-Type. Images are decoded by Pillow under a pixel budget, then re-encoded from
pixels alone, which drops EXIF (GPS, camera serials), XMP, IPTC and PNG text chunks; the EXIF
orientation is applied first so the picture still stands the right way up. Animated GIF/WebP
are re-encoded frame by frame and stay animated. Thumbnails are static WebP, and a BlurHash
from a tiny copy gives clients a placeholder before anything loads.

Pillow reads only the header in `Image.open`, and refuses (DecompressionBombError) anything
over twice MAX_IMAGE_PIXELS before allocating; warnings between one and two times the budget
are turned into errors too, so a 20000x20000 PNG costs a header read, not 1.6 GB.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import blurhash
import filetype
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from media.models import Kind, Purpose

MAX_PIXELS = 40_000_000  # one frame: a 8000x5000 photo passes; ~120 MB decoded as RGB
MAX_ANIMATION_PIXELS = 150_000_000  # all frames of an animation together
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

THUMBNAIL_SIZES = (160, 480, 1024)
SQUARE_SIZE = 512  # avatars and icons
BANNER_WIDTH = 1920
BLURHASH_COMPONENTS = (4, 3)

# What Pillow decodes for us; other image/* types (SVG, HEIC, PSD…) are plain files.
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
# What a browser may show inline from our origin without risk.
INLINE_TYPES = set(IMAGE_FORMATS) | {
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/x-wav",
    "audio/flac",
    "audio/x-flac",
    "audio/mp4",
    "audio/webm",
}


class RejectedImage(Exception):
    """The file claims to be an image but cannot be decoded safely."""


@dataclass
class Rendition:
    """A file we produced (the cleaned image or a thumbnail), waiting in the temp dir."""

    path: Path
    sha256: str
    size: int
    width: int
    height: int
    content_type: str
    bound: int = 0  # the thumbnail size it was made for


@dataclass
class ImageResult:
    content_type: str
    width: int
    height: int
    animated: bool
    blurhash: str
    cleaned: Rendition
    thumbnails: list[Rendition] = field(default_factory=list)


def sniff(path: Path) -> str:
    """The MIME type the content says it is; application/octet-stream when unknown."""
    kind = filetype.guess(str(path))
    return kind.mime if kind else "application/octet-stream"


def kind_of(content_type: str) -> str:
    if content_type in IMAGE_FORMATS:
        return Kind.IMAGE
    if content_type.startswith("video/"):
        return Kind.VIDEO
    if content_type.startswith("audio/"):
        return Kind.AUDIO
    return Kind.FILE


def encode_blurhash(image: Image.Image, components: tuple[int, int] = BLURHASH_COMPONENTS) -> str:
    rgb = image.convert("RGB")
    width = rgb.width
    pixels = list(rgb.get_flattened_data())
    rows = [pixels[y * width : (y + 1) * width] for y in range(rgb.height)]
    return blurhash.encode(rows, components_x=components[0], components_y=components[1])


def _save(image: Image.Image, directory: Path, fmt: str, **options: object) -> Path:
    handle = tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".img")  # noqa: SIM115
    with handle:
        image.save(handle, fmt, **options)
    return Path(handle.name)


def _rendition(path: Path, image: Image.Image, content_type: str, bound: int = 0) -> Rendition:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return Rendition(
        path,
        digest.hexdigest(),
        path.stat().st_size,
        image.width,
        image.height,
        content_type,
        bound,
    )


def _encode_static(image: Image.Image, fmt: str, directory: Path, icc: bytes | None) -> Path:
    options: dict[str, object] = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        if image.mode not in {"RGB", "L", "CMYK"}:
            image = image.convert("RGB")
        options.update(quality=90)
    elif fmt == "WEBP":
        options.update(quality=90)
    elif fmt == "GIF" and image.mode not in {"P", "L"}:
        image = image.convert("P")
    return _save(image, directory, fmt, **options)


def _encode_animation(image: Image.Image, fmt: str, directory: Path) -> Path:
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration", 100)) or 100)
        frames.append(frame.convert("RGBA"))
    options: dict[str, object] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": durations,
        "loop": int(image.info.get("loop", 0)),
    }
    if fmt == "GIF":
        options["disposal"] = 2
    else:
        options["quality"] = 90
    return _save(frames[0], directory, fmt, **options)


def _shape(image: Image.Image, purpose: str) -> Image.Image:
    if purpose in {Purpose.AVATAR, Purpose.ICON}:
        return ImageOps.fit(image, (SQUARE_SIZE, SQUARE_SIZE), Image.Resampling.LANCZOS)
    if purpose == Purpose.BANNER and image.width > BANNER_WIDTH:
        height = round(image.height * BANNER_WIDTH / image.width)
        return image.resize((BANNER_WIDTH, height), Image.Resampling.LANCZOS)
    return image


def process_image(
    source: Path, content_type: str, directory: Path, purpose: str = Purpose.ATTACHMENT
) -> ImageResult:
    """Decode, clean and thumbnail an image. Raises RejectedImage for bombs and junk."""
    fmt = IMAGE_FORMATS[content_type]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source, formats=[fmt]) as image:
                return _process(image, fmt, content_type, directory, purpose)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise RejectedImage(f"The image has more than {MAX_PIXELS} pixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise RejectedImage(f"The image could not be decoded ({type(exc).__name__})") from None


def _process(
    image: Image.Image, fmt: str, content_type: str, directory: Path, purpose: str
) -> ImageResult:
    if image.width * image.height > MAX_PIXELS:
        raise Image.DecompressionBombError("too many pixels")
    frames = getattr(image, "n_frames", 1)
    animated = frames > 1 and fmt in {"GIF", "WEBP"} and purpose == Purpose.ATTACHMENT
    if animated and frames * image.width * image.height > MAX_ANIMATION_PIXELS:
        raise Image.DecompressionBombError("too many pixels in the animation")
    icc = image.info.get("icc_profile")
    if animated:
        cleaned_path = _encode_animation(image, fmt, directory)
        still = image.convert("RGBA")  # the first frame, for thumbnails
    else:
        image.load()
        still = _shape(ImageOps.exif_transpose(image), purpose)
        cleaned_path = _encode_static(still, fmt, directory, icc)
    cleaned = _rendition(cleaned_path, still, content_type)

    thumbnails = []
    for bound in THUMBNAIL_SIZES:
        if max(still.size) <= bound:
            break
        thumb = still.copy()
        thumb.thumbnail((bound, bound), Image.Resampling.LANCZOS)
        path = _save(thumb, directory, "WEBP", quality=80)
        thumbnails.append(_rendition(path, thumb, "image/webp", bound))
    tiny = still.copy()
    tiny.thumbnail((32, 32), Image.Resampling.BILINEAR)
    return ImageResult(
        content_type=content_type,
        width=still.width,
        height=still.height,
        animated=animated,
        blurhash=encode_blurhash(tiny),
        cleaned=cleaned,
        thumbnails=thumbnails,
    )


def video_poster(source: Path, directory: Path) -> Path | None:
    """A PNG of an early frame, if ffmpeg is installed; None otherwise (clients show a card)."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return None
    out = directory / f"{source.name}.poster.png"
    result = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(source), "-frames:v", "1", "-y", str(out)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return out if result.returncode == 0 and out.exists() else None


def mp4_duration(source: Path) -> float | None:
    """Seconds, from the `mvhd` box of an MP4/MOV (no decoder needed); None if not found."""
    with source.open("rb") as fh:
        end = source.stat().st_size
        return _find_mvhd(fh, 0, end, depth=0)


def _find_mvhd(fh, start: int, end: int, depth: int) -> float | None:
    offset = start
    while offset + 8 <= end and depth < 3:
        fh.seek(offset)
        header = fh.read(8)
        size, box = int.from_bytes(header[:4], "big"), header[4:]
        if size == 1:
            size = int.from_bytes(fh.read(8), "big")
        elif size == 0:
            size = end - offset
        if size < 8:
            return None
        if box == b"moov":
            return _find_mvhd(fh, offset + 8, offset + size, depth + 1)
        if box == b"mvhd":
            body = fh.read(32)
            if body[0] == 1:
                scale = int.from_bytes(body[20:24], "big")
                length = int.from_bytes(body[24:32], "big")
            else:
                scale = int.from_bytes(body[12:16], "big")
                length = int.from_bytes(body[16:20], "big")
            return round(length / scale, 3) if scale else None
        offset += size
    return None
