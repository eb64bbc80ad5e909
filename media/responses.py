"""Download responses: safe headers, single byte ranges, streaming without buffering.

Nothing a member uploaded may run as a page of our origin: only the image, video and audio
types in `images.INLINE_TYPES` go out with their own type and `inline`; everything else
(HTML, SVG, XML, PDF, unknown, and all ciphertext) goes out as application/octet-stream with
`attachment`, `nosniff` and a CSP sandbox, so even a browser that ignores one header meets the
next.

Under ASGI the body must be an async iterator: Django collects a sync iterator into a list
before sending it, which for a 1 GB video is 1 GB of memory.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from media.images import INLINE_TYPES
from media.storage import blob_store

_R = TypeVar("_R", bound=HttpResponseBase)

DOWNLOAD_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
)
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for one satisfiable range; None to send the whole file.

    Malformed and multi-range headers are ignored (RFC 9110 allows serving 200 instead);
    a well-formed range that starts past the end raises Unsatisfiable (416).
    """
    match = RANGE_RE.match(header.strip()) if header else None
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    done = object()
    try:
        while True:
            # next(iterator, default): the stubs of sync_to_async keep only one overload.
            chunk = await sync_to_async(next, thread_sensitive=False)(chunks, done)  # type: ignore[call-arg]
            if chunk is done:
                return
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=False)()  # type: ignore[attr-defined]


def _with(response: _R, headers: Mapping[str, str | None]) -> _R:
    for name, value in headers.items():
        if value is not None:  # Django would send the text "None"
            response[name] = value
    return response


def serve_blob(
    request: HttpRequest,
    *,
    key: str,
    sha256: str,
    size: int,
    content_type: str,
    filename: str,
    public: bool,
) -> HttpResponseBase:
    inline = content_type in INLINE_TYPES
    served_type = content_type if inline else "application/octet-stream"
    headers = {
        "Content-Disposition": content_disposition_header(not inline, filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOWNLOAD_CSP,
        # Avatars and icons are shown by other nodes' pages too; the rest only by ours.
        "Cross-Origin-Resource-Policy": "cross-origin" if public else "same-site",
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        # Content-addressed: the bytes behind this URL never change.
        "Cache-Control": f"{'public' if public else 'private'}, max-age=31536000, immutable",
    }
    if request.headers.get("If-None-Match", "").strip() == headers["ETag"]:
        return _with(HttpResponse(status=304), headers)
    try:
        wanted = parse_range(request.headers.get("Range", ""), size)
    except Unsatisfiable:
        refused = HttpResponse(status=416, content_type="application/octet-stream")
        return _with(refused, {**headers, "Content-Range": f"bytes */{size}"})
    start, end = wanted if wanted else (0, size - 1)
    chunks = blob_store().get(key, start, end)
    body = _aiter(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, status=206 if wanted else 200, content_type=served_type)
    _with(response, headers)
    response["Content-Length"] = str(end - start + 1)
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
