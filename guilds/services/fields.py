"""Input checks shared by the guild services; each adds to a per-field error dict."""

from __future__ import annotations

from typing import Any

from guilds import permissions as perms
from united import names
from united.errors import Invalid
from united.ids import MAX_SNOWFLAKE


class FieldErrors(dict):
    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise Invalid(errors=dict(self))


def text(
    errors: FieldErrors,
    name: str,
    value: Any,
    *,
    min_length: int = 0,
    max_length: int,
    strip: bool = True,
) -> str:
    if not isinstance(value, str):
        errors.add(name, "Must be a string.")
        return ""
    if strip:
        value = value.strip()
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        errors.add(name, "Control characters are not allowed.")
    if not min_length <= len(value) <= max_length:
        errors.add(name, f"Must be between {min_length} and {max_length} characters long.")
    return value


def name(
    errors: FieldErrors,
    field: str,
    value: Any,
    *,
    min_length: int = 1,
    max_length: int,
    compatibility: bool = False,
) -> str:
    """A name people see, normalised and checked by united/names.py (hidden characters,
    stacked marks); the problems join this form's other field errors."""
    try:
        return names.clean_name(
            value, field, min_length=min_length, max_length=max_length, compatibility=compatibility
        )
    except Invalid as exc:
        for message in exc.errors.get(field, []):
            errors.add(field, message)
        return value if isinstance(value, str) else ""


def integer(errors: FieldErrors, name: str, value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "Must be an integer.")
        return low
    if not low <= value <= high:
        errors.add(name, f"Must be between {low} and {high}.")
    return value


def boolean(errors: FieldErrors, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        errors.add(name, "Must be a boolean.")
        return False
    return value


def snowflake(errors: FieldErrors, name: str, value: Any, *, nullable: bool = True) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool):
        errors.add(name, "Must be a snowflake id.")
        return None
    # Past 2**63-1 the database cannot even compare it (OverflowError): not an id of ours.
    if isinstance(value, int) and 0 <= value <= MAX_SNOWFLAKE:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        if int(value) <= MAX_SNOWFLAKE:
            return int(value)
    errors.add(name, "Must be a snowflake id.")
    return None


def bitfield(errors: FieldErrors, name: str, value: Any) -> int:
    try:
        return perms.parse_bitfield(value)
    except ValueError:
        errors.add(name, "Must be a permission bitfield (a decimal string of known bits).")
        return 0


def reason_of(reason: str | None) -> str:
    return (reason or "").strip()[:512]
