"""DRF's JSON parser with the node's limits (united/jsonbody.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.parsers import BaseParser


class JSONParser(BaseParser):
    """Reads at most MAX_BYTES + 1 bytes, so an oversized body is refused (413) unread."""

    media_type = "application/json"

    def parse(
        self,
        stream: IO[bytes] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        # Imported here: DRF loads this class while `united.errors` (which jsonbody needs) is
        # still importing rest_framework.views.
        from united import jsonbody

        data = stream.read(jsonbody.MAX_BYTES + 1) if stream is not None else b""
        return jsonbody.loads(data)
