"""Files posted with a message in Discord's multipart form (`payload_json` and `files[n]`), by
a webhook or a bot: counted and sized before anything is spent, then stored through media's
upload path (its checks, sniffing, thumbnails, limits and the owner's quota)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from united.errors import Invalid

MAX_FILES = 10


def check_files(files: list[Any]) -> None:
    """What can be said of the files before anything is spent or stored."""
    if not files:
        return
    from media.uploads import TooLarge

    if len(files) > MAX_FILES:
        raise Invalid(errors={"files": [f"At most {MAX_FILES} files."]})
    total = sum(int(f.size or 0) for f in files)
    if total > settings.UNITED_MAX_UPLOAD_BYTES:
        raise TooLarge(
            f"The files are larger than the upload limit of {settings.UNITED_MAX_UPLOAD_BYTES} "
            "bytes",
            errors={"files": [f"At most {settings.UNITED_MAX_UPLOAD_BYTES} bytes together."]},
        )


def _spool(upload: Any) -> tuple[Path, str, int]:
    """A received file copied into the upload directory (where media stores from by a
    rename), hashed on the way."""
    directory = Path(settings.FILE_UPLOAD_TEMP_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(
        dir=directory, prefix="posted-", suffix=".part", delete=False
    ) as out:
        for chunk in upload.chunks():
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return Path(out.name), sha.hexdigest(), size


def store_files(owner: Any, channel_id: int, files: list[Any]) -> list[Any]:
    """The posted files as uploads of `owner` scoped to the channel (Attachment rows that a
    message then claims), counted against `owner`'s quota."""
    from media.services import check_upload
    from media.uploads import StreamedUpload

    stored = []
    for upload in files:
        path, sha, size = _spool(upload)
        try:
            streamed = StreamedUpload(
                path, sha, size, upload.name or "file", upload.content_type or ""
            )
            stored.append(check_upload(owner, streamed, scope=f"channel:{channel_id}"))
        finally:
            path.unlink(missing_ok=True)
    return stored


def posted_files(request: Any) -> list[Any]:
    """Every file of a multipart request, whatever its field name (`files[0]`, `file`...)."""
    found = request.FILES if hasattr(request, "FILES") else None
    return [f for key in found for f in found.getlist(key)] if found else []


def payload(request: Any) -> dict[str, Any]:
    """The JSON body of a request, or of Discord's multipart form, where it rides in the
    `payload_json` field beside the files (a form without it: its plain fields)."""
    data: Any = request.data
    if hasattr(data, "getlist") and "payload_json" in data:
        try:
            data = json.loads(data["payload_json"])
        except ValueError:
            raise Invalid(errors={"payload_json": ["Not valid JSON."]}) from None
    elif hasattr(data, "getlist"):
        data = {key: data.get(key) for key in data}
    if not isinstance(data, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    return data


def bot_upload_allowance(headers: dict[str, str]) -> int:
    """united.bodies gate for a bot's message post: a body past the ordinary limit only from a
    valid `Bot <token>`, and no larger than its quota allows (401 or 413 before it is read)."""
    from django.db import close_old_connections

    from bots.services import authenticate_token
    from media.services import quota_left
    from media.uploads import allowance
    from united.bodies import default_body_limit
    from united.errors import APIError

    ordinary = default_body_limit()
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= ordinary:
        return ordinary  # an ordinary message: nothing to look up before reading it
    scheme, _, credential = headers.get("authorization", "").strip().partition(" ")
    close_old_connections()
    try:
        app = authenticate_token(credential.strip()) if scheme.lower() == "bot" else None
        if app is None:
            raise APIError("401: Unauthorized", status=401, code=0)
        left = quota_left(app.bot)
    finally:
        close_old_connections()
    return allowance(left, headers)
