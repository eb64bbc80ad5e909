"""Secrets that ride in URL paths never reach the node's logs.

An incoming webhook's URL carries its token (docs/bots.md "Webhooks"), which the node keeps
only as a digest; Django logs the path of every 4xx and 5xx answer (`django.request`), and
the access log writes every request line (united/serve.py). Both go through `redact`.
"""

from __future__ import annotations

import logging
import re

WEBHOOK_TOKEN = re.compile(r"(/api/(?:v\d+/)?webhooks/\d+/)[^/?\s\"']+")


def redact(text: str) -> str:
    return WEBHOOK_TOKEN.sub(r"\1[token]", text)


class RedactFilter(logging.Filter):
    """A handler filter: the record's message with its secrets replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's to report, not ours
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
