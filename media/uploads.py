"""A Django upload handler that streams the one file of an upload to disk while hashing it.

Django's default handlers keep small files in memory and large ones in a temp file, and hash
nothing. This one writes every chunk straight to a temp file in FILE_UPLOAD_TEMP_DIR (the same
filesystem as local media, so storing it is a rename), feeds the same chunk to SHA-256, and
stops the request as soon as the file outgrows the size limit or the member's quota. The
declared Content-Length is checked in `handle_raw_input`, before the body is read.

`cleanup()` removes the temp file whatever happened (limit hit, body cut off, bad image);
the view calls it in a `finally`.

Under daphne the same limits also hold at the door (united/bodies.py): `upload_allowance` is
the upload path's gate, run on the request's headers before any of its body is read. It finds
the member from the bearer token or session cookie and answers how many bytes they may send
(the smaller of the upload limit and what is left of their quota, plus the multipart slack),
so a stranger's or an over-quota member's body is refused without being received. CSRF and
everything else are still checked by the view once the body has arrived.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler

from united.errors import UNAUTHORIZED, APIError, Invalid, StorageFull, is_disk_full

# Multipart framing around the file: boundaries, part headers and the small form fields.
MULTIPART_SLACK = 64 * 1024


class TooLarge(APIError):
    status = 413
    code = 40005  # Discord's "Request entity too large"
    message = "Request entity too large"


@dataclass
class StreamedUpload:
    path: Path
    sha256: str
    size: int
    filename: str
    declared_type: str


class StreamingUploadHandler(FileUploadHandler):
    def __init__(self, request: Any, max_bytes: int, quota_left: Callable[[], int]) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self._quota_left = quota_left
        self.quota_left = max_bytes
        self.path: Path | None = None
        self._file: Any = None
        self._hash = hashlib.sha256()
        self._size = 0
        self.upload: StreamedUpload | None = None

    def _check(self, size: int, *, declared: bool = False) -> None:
        slack = MULTIPART_SLACK if declared else 0
        if size > self.max_bytes + slack:
            self.cleanup()
            raise TooLarge(
                f"The file is larger than the upload limit of {self.max_bytes} bytes",
                errors={"file": [f"At most {self.max_bytes} bytes."]},
            )
        if size > self.quota_left + slack:
            self.cleanup()
            raise TooLarge(
                "This upload would exceed your storage quota",
                errors={"file": [f"{max(self.quota_left, 0)} bytes of your quota are left."]},
            )

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # Asked only now: the request is authenticated by the time its body is parsed.
        self.quota_left = self._quota_left()
        if content_length:
            self._check(content_length, declared=True)
        return None

    def new_file(self, field_name: str, file_name: str, content_type: str, *args, **kwargs):
        super().new_file(field_name, file_name, content_type, *args, **kwargs)
        if field_name != "file" or self._file is not None:
            self.cleanup()
            raise Invalid(
                "Send exactly one file, in the form field 'file'",
                errors={"file": ["Exactly one file, in the field named 'file'."]},
            )
        directory = Path(settings.FILE_UPLOAD_TEMP_DIR)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in file_complete
                dir=directory, prefix="upload-", suffix=".part", delete=False
            )
        except OSError as exc:
            self._disk_full(exc)
        # Set on the line before, or _disk_full raised.
        self.path = Path(self._file.name)  # type: ignore[union-attr]

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._size += len(raw_data)
        self._check(self._size)
        self._hash.update(raw_data)
        try:
            self._file.write(raw_data)
        except OSError as exc:
            self._disk_full(exc)
        return None

    def _disk_full(self, exc: OSError) -> None:
        self.cleanup()
        if is_disk_full(exc):
            raise StorageFull() from exc
        raise exc

    def file_complete(self, file_size: int) -> None:
        try:
            self._file.flush()  # a delayed write error surfaces here, not after the rename
        except OSError as exc:
            self._disk_full(exc)
        return self._complete()

    def _complete(self) -> None:
        self._file.close()
        # new_file set both before any chunk arrived.
        self.upload = StreamedUpload(
            self.path,  # type: ignore[arg-type]
            self._hash.hexdigest(),
            self._size,
            self.file_name or "",
            self.content_type,  # type: ignore[arg-type]
        )
        # Returning None keeps Django from building an UploadedFile: the view reads .upload.
        return None

    def upload_interrupted(self) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def upload_limit() -> int:
    """The most a body sent to the upload path may carry, whoever sends it."""
    return settings.UNITED_MAX_UPLOAD_BYTES + MULTIPART_SLACK


def _member_from_headers(headers: dict[str, str]) -> Any:
    from django.contrib.auth import get_user
    from django.http import HttpRequest, parse_cookie

    from accounts.services.tokens import access_token_row

    scheme, _, credential = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        token = access_token_row(credential.strip())
        return token.session.user if token is not None else None
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(request)
    return user if user.is_authenticated else None


def upload_allowance(headers: dict[str, str]) -> int:
    """united.bodies gate for the upload path: bytes this caller may send, or 401/413."""
    from django.db import close_old_connections

    from media.services import quota_left

    close_old_connections()
    try:
        user = _member_from_headers(headers)
        if user is None:
            raise APIError("Sign in to upload", status=401, code=UNAUTHORIZED)
        left = quota_left(user)
    finally:
        close_old_connections()
    return allowance(left, headers)


def allowance(left: int, headers: dict[str, str]) -> int:
    """Bytes a caller with `left` bytes of quota may send in one multipart body, or 413."""
    allowed = min(settings.UNITED_MAX_UPLOAD_BYTES, left) + MULTIPART_SLACK
    declared = headers.get("content-length", "")
    if left <= 0 or (declared.isdigit() and int(declared) > allowed):
        if left < settings.UNITED_MAX_UPLOAD_BYTES:
            raise TooLarge(
                "This upload would exceed your storage quota",
                errors={"file": [f"{max(left, 0)} bytes of your quota are left."]},
            )
        raise TooLarge(
            f"The file is larger than the upload limit of {settings.UNITED_MAX_UPLOAD_BYTES} bytes",
            errors={"file": [f"At most {settings.UNITED_MAX_UPLOAD_BYTES} bytes."]},
        )
    return allowed
