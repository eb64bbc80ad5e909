"""Untrusted JSON, parsed in one place with one set of limits.

Python's `json` accepts things no peer should send us and some that crash later code:
`NaN`/`Infinity` (not JSON, and PostgreSQL's jsonb refuses them), nesting deep enough to raise
`RecursionError` in the parser or in whatever walks the result, `\\u0000` (PostgreSQL text
cannot hold it) and unpaired surrogates (not encodable as UTF-8). `loads()` refuses all of
them with `JSONBodyError`, an `APIError` (400, or 413 for size), so every door answers with
the documented error shape:

- the REST API, through `united.parsers.JSONParser` (DRF's DEFAULT_PARSER_CLASSES);
- the federation inbox (`federation.inbox`), which turns it into its own refusal;
- the gateway, whose consumer calls `loads_client_json(frame)` on each text frame.

Limits: `MAX_BYTES` for API bodies and gateway frames (the inbox passes its own), `MAX_DEPTH`
levels of arrays/objects. Both are listed in docs/security.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

from united.errors import INVALID_JSON, REQUEST_TOO_LARGE, APIError

MAX_DEPTH = 32
MAX_BYTES = 2 * 1024 * 1024  # the same as DATA_UPLOAD_MAX_MEMORY_SIZE for form bodies

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


class JSONBodyError(APIError):
    """A body or frame that is not acceptable JSON; `status` is 400, or 413 when too large."""

    status = 400
    code = INVALID_JSON
    message = "The request body is not valid JSON"


def _refuse_constant(name: str) -> Any:
    raise JSONBodyError(f"The request body is not valid JSON: {name} is not a number in JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999: valid JSON, but not a float we keep
        raise JSONBodyError(f"The request body is not valid JSON: {text[:40]} is out of range")
    return value


def _check(value: Any, max_depth: int) -> None:
    """Depth and string content, walked without recursion (the value may be deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                raise JSONBodyError(f"The JSON is nested deeper than {max_depth} levels")
            for key, child in item.items():
                if _BAD_CHARS.search(key):
                    raise JSONBodyError("A JSON key holds a NUL or an unpaired surrogate")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                raise JSONBodyError(f"The JSON is nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and _BAD_CHARS.search(item):
            raise JSONBodyError("A JSON string holds a NUL or an unpaired surrogate")


def loads(
    data: str | bytes | bytearray, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse untrusted JSON text; raises JSONBodyError."""
    if len(data) > max_bytes:
        raise JSONBodyError(
            f"The body is over the {max_bytes} byte limit", code=REQUEST_TOO_LARGE, status=413
        )
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONBodyError("The request body is not UTF-8") from None
    try:
        value = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise JSONBodyError(f"The JSON is nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, and ints longer than Python's digit limit
        raise JSONBodyError(f"The request body is not valid JSON: {exc}") from None
    _check(value, max_depth)
    return value


def loads_client_json(text: str | bytes) -> Any:
    """One gateway frame (or any other client JSON outside DRF) under the API's limits."""
    return loads(text)
