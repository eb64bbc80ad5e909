"""Where blob bytes live: the `default` storage of settings.STORAGES (local disk or S3).

`BlobStore` gives the rest of the app five verbs (put, get, delete, exists, list) over any
Django storage, so services never care which backend runs. Two places need more than Django's
Storage API offers, and branch on the backend here and nowhere else:

- `put` of a file already on local disk: FileSystemStorage moves it into place (a rename on
  the same filesystem) instead of copying; S3 streams it up in multipart chunks, at most two
  8 MiB parts in flight (boto3's default of ten costs 80 MiB per upload).
- `get` of a byte range: Django's S3File downloads the whole object before the first read,
  so ranges on S3 ask the server for exactly the bytes wanted (`Range:` on GetObject).

Keys are content addresses (`media.models.blob_key`): writing the same key twice writes the
same bytes, so a lost race between two uploads of one file is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from boto3.s3.transfer import TransferConfig
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024
S3_TRANSFER = TransferConfig(
    multipart_threshold=8 * 1024 * 1024,
    multipart_chunksize=8 * 1024 * 1024,
    max_concurrency=2,
    max_io_queue=8,
)
S3_EXTRA_ARGS = {"ContentType": "application/octet-stream"}


class _LocalFile(File):
    # Django's FileSystemStorage renames a file that has a temporary_file_path().
    def temporary_file_path(self) -> str:
        # Built around an open file, never None.
        return self.file.name  # type: ignore[union-attr]


class BlobStore:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @property
    def is_s3(self) -> bool:
        return type(self.storage).__name__ == "S3Storage"

    def put(self, key: str, content: IO[bytes] | File) -> None:
        """Store `content` under `key` unless it is there already (same key, same bytes)."""
        if self.exists(key):
            return
        if self.is_s3:
            # boto3's defaults keep ten 8 MiB parts in flight (80 MiB per upload); two is
            # plenty on a LAN and keeps a node with several uploads at once small.
            content.seek(0)
            self._s3_object(key).upload_fileobj(
                content, ExtraArgs=S3_EXTRA_ARGS, Config=S3_TRANSFER
            )
            return
        content = content if isinstance(content, File) else File(content)
        saved = self.storage.save(key, content)
        if saved != key:
            # FileSystemStorage never overwrites: a concurrent upload of the same content
            # got there first and ours landed beside it. The bytes are identical; drop ours.
            self.storage.delete(saved)

    def put_path(self, key: str, path: Path) -> None:
        """Store a file from local disk; FileSystemStorage moves it rather than copying."""
        if self.is_s3:
            if not self.exists(key):
                # By file name, s3transfer reads each part from disk when it sends it; given
                # a file object it reads parts ahead into memory.
                self._s3_object(key).upload_file(
                    str(path), ExtraArgs=S3_EXTRA_ARGS, Config=S3_TRANSFER
                )
            return
        with path.open("rb") as fh:
            self.put(key, _LocalFile(fh, name=str(path)))

    def get(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of `key` from `start` to `end` (inclusive), in chunks."""
        if self.is_s3:
            yield from self._get_s3(key, start, end)
            return
        with self.storage.open(key, "rb") as fh:
            fh.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = fh.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def _s3_object(self, key: str):
        storage = self.storage
        return storage.bucket.Object(storage._normalize_name(key))  # type: ignore[attr-defined]

    def _get_s3(self, key: str, start: int, end: int | None) -> Iterator[bytes]:
        storage = self.storage
        client = storage.connection.meta.client  # type: ignore[attr-defined]
        wanted = f"bytes={start}-{'' if end is None else end}"
        response = client.get_object(
            Bucket=storage.bucket_name,  # type: ignore[attr-defined]
            Key=storage._normalize_name(key),  # type: ignore[attr-defined]
            Range=wanted,
        )
        body = response["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def read(self, key: str) -> bytes:
        """The whole blob in memory: only for small ones (thumbnails, tests)."""
        return b"".join(self.get(key))

    def open(self, key: str) -> File:
        return self.storage.open(key, "rb")

    def delete(self, key: str) -> None:
        self.storage.delete(key)

    def exists(self, key: str) -> bool:
        return self.storage.exists(key)

    def size(self, key: str) -> int:
        return self.storage.size(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        """Every key under `prefix` (a folder path, no trailing slash), depth first."""
        if isinstance(self.storage, FileSystemStorage) and prefix and not self.exists(prefix):
            return
        try:
            dirs, files = self.storage.listdir(prefix)
        except FileNotFoundError:
            return
        base = f"{prefix}/" if prefix else ""
        for name in sorted(files):
            yield base + name
        for name in sorted(dirs):
            yield from self.list(base + name)


def blob_store() -> BlobStore:
    # Looked up on every call: tests swap settings.STORAGES, and Django resets `storages`.
    return BlobStore(storages["default"])
