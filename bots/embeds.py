"""Discord's embeds: the one validator and normaliser for what bots and webhooks send.

Discord's limits (docs/bots.md, docs/security.md): at most 10 embeds; title 256, description
4096, up to 25 fields with name 256 and value 1024, footer text 2048, author name 256, and
6000 characters over all of them together; colours 0..0xFFFFFF; timestamps ISO 8601; links
http or https only. What passes is stored in Discord's shape (messaging.Message.embeds), with
only the keys below: an unknown key is dropped, not stored, so nothing the web client does not
know how to draw safely reaches it. A refusal is Discord's 50035 with the path of the bad field
(`embeds.0.fields.3.value`), in Discord's nested `errors` shape that discord.py and discord.js
flatten into that path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from united.errors import Invalid

MAX_EMBEDS = 10
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_TEXT_MAX = 2048
AUTHOR_NAME_MAX = 256
TOTAL_MAX = 6000
URL_MAX = 2048
COLOR_MAX = 0xFFFFFF


class _Bad(Exception):
    def __init__(self, path: list[str], code: str, message: str) -> None:
        self.path, self.code, self.message = path, code, message


def _nested(path: list[str], code: str, message: str) -> dict[str, Any]:
    """Discord's shape: {"embeds": {"0": {"title": {"_errors": [{code, message}]}}}}."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path):
        node = {part: node}
    return node


def _text(value: Any, path: list[str], limit: int, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _Bad(path, "BASE_TYPE_REQUIRED", "This field is required")
        return None
    if not isinstance(value, str):
        raise _Bad(path, "BASE_TYPE_STRING", "Must be a string.")
    if len(value) > limit:
        raise _Bad(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    if required and not value.strip():
        raise _Bad(path, "BASE_TYPE_REQUIRED", "This field is required")
    return value


def _url(value: Any, path: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(path, "BASE_TYPE_STRING", "Must be a string.")
    if len(value) > URL_MAX:
        raise _Bad(path, "BASE_TYPE_MAX_LENGTH", f"Must be {URL_MAX} or fewer in length.")
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Bad(path, "URL_TYPE_INVALID_URL", "Not a well formed URL (http or https).")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        raise _Bad(path, "URL_TYPE_INVALID_URL", "Not a well formed URL (http or https).")
    return value


def _object(value: Any, path: list[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    return value


def _color(value: Any, path: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= COLOR_MAX:
        raise _Bad(path, "NUMBER_TYPE_MAX", f"Must be an integer from 0 to {COLOR_MAX}.")
    return value


def _timestamp(value: Any, path: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _Bad(path, "DATE_TYPE_PARSE", "Could not parse the timestamp (ISO 8601).")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(path, "DATE_TYPE_PARSE", "Could not parse the timestamp (ISO 8601).") from None
    if moment.tzinfo is None:
        raise _Bad(path, "DATE_TYPE_PARSE", "The timestamp needs a time zone (ISO 8601).")
    return moment.isoformat()


def _media(value: Any, path: list[str]) -> dict[str, Any] | None:
    found = _object(value, path)
    if found is None:
        return None
    url = _url(found.get("url"), [*path, "url"])
    if url is None:
        raise _Bad([*path, "url"], "BASE_TYPE_REQUIRED", "This field is required")
    return {"url": url}


def _one(raw: Any, path: list[str]) -> tuple[dict[str, Any], int]:
    """One embed as stored, and how many of the 6000 characters it uses."""
    if not isinstance(raw, dict):
        raise _Bad(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    out: dict[str, Any] = {"type": "rich"}
    used = 0
    title = _text(raw.get("title"), [*path, "title"], TITLE_MAX)
    if title is not None:
        out["title"] = title
        used += len(title)
    description = _text(raw.get("description"), [*path, "description"], DESCRIPTION_MAX)
    if description is not None:
        out["description"] = description
        used += len(description)
    for key in ("url",):
        link = _url(raw.get(key), [*path, key])
        if link is not None:
            out[key] = link
    color = _color(raw.get("color"), [*path, "color"])
    if color is not None:
        out["color"] = color
    timestamp = _timestamp(raw.get("timestamp"), [*path, "timestamp"])
    if timestamp is not None:
        out["timestamp"] = timestamp
    footer = _object(raw.get("footer"), [*path, "footer"])
    if footer is not None:
        text = _text(footer.get("text"), [*path, "footer", "text"], FOOTER_TEXT_MAX, required=True)
        out["footer"] = {"text": text}
        used += len(text or "")
        icon = _url(footer.get("icon_url"), [*path, "footer", "icon_url"])
        if icon is not None:
            out["footer"]["icon_url"] = icon
    author = _object(raw.get("author"), [*path, "author"])
    if author is not None:
        name = _text(author.get("name"), [*path, "author", "name"], AUTHOR_NAME_MAX, required=True)
        out["author"] = {"name": name}
        used += len(name or "")
        for key in ("url", "icon_url"):
            link = _url(author.get(key), [*path, "author", key])
            if link is not None:
                out["author"][key] = link
    for key in ("image", "thumbnail"):
        media = _media(raw.get(key), [*path, key])
        if media is not None:
            out[key] = media
    fields = raw.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            raise _Bad([*path, "fields"], "LIST_TYPE_CONVERT", "Must be an array.")
        if len(fields) > FIELDS_MAX:
            raise _Bad(
                [*path, "fields"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {FIELDS_MAX} or fewer in length.",
            )
        out["fields"] = []
        for n, field in enumerate(fields):
            where = [*path, "fields", str(n)]
            if not isinstance(field, dict):
                raise _Bad(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used")
            name = _text(field.get("name"), [*where, "name"], FIELD_NAME_MAX, required=True)
            value = _text(field.get("value"), [*where, "value"], FIELD_VALUE_MAX, required=True)
            inline = field.get("inline", False)
            if not isinstance(inline, bool):
                raise _Bad([*where, "inline"], "BASE_TYPE_BOOLEAN", "Must be either true or false.")
            out["fields"].append({"name": name, "value": value, "inline": inline})
            used += len(name or "") + len(value or "")
    if len(out) == 1:  # only "type": nothing anyone would see
        raise _Bad(
            path,
            "BASE_TYPE_REQUIRED",
            "An embed needs a title, a description, a field, an author, a footer or an image.",
        )
    return out, used


def clean_embeds(raw: Any, *, field: str = "embeds") -> list[dict[str, Any]]:
    """The embeds as stored, or Invalid (400, code 50035) naming the bad field. None and []
    are no embeds; Discord's singular `embed` is the caller's to wrap in a list."""
    if raw is None:
        return []
    try:
        if not isinstance(raw, list):
            raise _Bad([field], "LIST_TYPE_CONVERT", "Must be an array.")
        if len(raw) > MAX_EMBEDS:
            raise _Bad([field], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
        out, total = [], 0
        for n, item in enumerate(raw):
            embed, used = _one(item, [field, str(n)])
            out.append(embed)
            total += used
        if total > TOTAL_MAX:
            raise _Bad(
                [field],
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {TOTAL_MAX}",
            )
    except _Bad as bad:
        raise Invalid(
            "Invalid Form Body", errors=_nested(bad.path, bad.code, bad.message)
        ) from None
    return out
