"""Files for media tests, built in memory with Pillow and zlib."""

from __future__ import annotations

import io
import struct
import uuid
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image


def png_bytes(size=(64, 48), color=(200, 30, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps(size=(80, 40)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0131] = "SecretSoftware 1.0"  # Software
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def animated_gif(frames: int = 3, size=(40, 30)) -> bytes:
    images = [Image.new("RGB", size, (80 * i % 255, 40, 200)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=120, loop=0)
    return out.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid greyscale PNG of width x height zero pixels: ~400 KB that decodes to 400 MB.

    The rows are compressed one at a time, so building it never holds the raw image either.
    """
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def upload(client, data: bytes, name: str = "file.bin", claimed: str = "image/png", **fields):
    body = {"file": SimpleUploadedFile(name, data, content_type=claimed), **fields}
    return client.post("/api/v1/upload", body)


def body_of(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def mp4_bytes(seconds_ms: int = 12345) -> bytes:
    mvhd = box(b"mvhd", struct.pack(">IIIII", 0, 0, 0, 1000, seconds_ms) + b"\0" * 80)
    return box(b"ftyp", b"isom\0\0\0\0isom") + box(b"moov", mvhd)


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def multipart(data: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), boundary
