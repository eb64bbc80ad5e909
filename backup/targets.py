"""Where backups go: a directory on disk or a prefix in an S3-compatible bucket.

Both offer the same few verbs over object names like `archives/…` and `blobs/ab/…`. Writes
are all-or-nothing (a temporary file renamed into place; a single S3 PUT or multipart upload
completes or leaves nothing), so an interrupted backup never leaves a half blob that the next
run would take for a complete one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig


class TargetError(Exception):
    """The target cannot be used (missing, unwritable, bad URL); the message says why."""


class Target(Protocol):
    def describe(self) -> str: ...
    def list(self, prefix: str) -> dict[str, datetime]: ...
    def put(self, name: str, src: IO[bytes]) -> None: ...
    def open(self, name: str) -> IO[bytes]: ...
    def delete(self, name: str) -> None: ...


class DirectoryTarget:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def list(self, prefix: str) -> dict[str, datetime]:
        base = self.root / prefix
        if not base.is_dir():
            return {}
        found = {}
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                path = Path(dirpath) / name
                found[path.relative_to(self.root).as_posix()] = datetime.fromtimestamp(
                    path.stat().st_mtime, UTC
                )
        return found

    def put(self, name: str, src: IO[bytes]) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1024 * 1024):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, name: str) -> IO[bytes]:
        try:
            return (self.root / name).open("rb")
        except FileNotFoundError:
            raise TargetError(f"{name} is not in {self.root}") from None

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class S3Credentials:
    endpoint: str | None
    access_key: str | None
    secret_key: str | None
    region: str | None
    path_style: bool = True


class S3Target:
    TRANSFER = TransferConfig(
        multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=2
    )

    def __init__(self, bucket: str, prefix: str, creds: S3Credentials) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=creds.endpoint,
            aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key,
            region_name=creds.region,
            config=Config(s3={"addressing_style": "path" if creds.path_style else "virtual"}),
        )

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def list(self, prefix: str) -> dict[str, datetime]:
        found = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                found[item["Key"][len(self.prefix) :]] = item["LastModified"]
        return found

    def put(self, name: str, src: IO[bytes]) -> None:
        self.client.upload_fileobj(src, self.bucket, self.prefix + name, Config=self.TRANSFER)

    def open(self, name: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        # Spooled to a local temporary file: the readers take small reads, which a streaming
        # body would turn into many tiny socket reads, and a retry needs a seekable source.
        out = tempfile.TemporaryFile()
        try:
            self.client.download_fileobj(self.bucket, self.prefix + name, out)
        except ClientError as exc:
            out.close()
            raise TargetError(f"cannot read {name} from {self.describe()}: {exc}") from None
        out.seek(0)
        return out

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)


def open_target(spec: str, creds: S3Credentials | None = None) -> Target:
    """`s3://bucket/prefix` or a directory path."""
    if spec.startswith("s3://"):
        parts = urlsplit(spec)
        if not parts.netloc:
            raise TargetError(f"{spec!r} names no bucket (s3://bucket/prefix)")
        if creds is None:
            raise TargetError("an s3:// target needs credentials")
        return S3Target(parts.netloc, parts.path, creds)
    if "://" in spec:
        raise TargetError(f"{spec!r}: a target is a directory path or s3://bucket/prefix")
    return DirectoryTarget(Path(spec).expanduser().resolve())
