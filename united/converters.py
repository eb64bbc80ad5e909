"""The path converter for object ids: `<id:guild_id>` matches a snowflake and nothing else.

Django's `<int:…>` matches any run of digits, and a number past 2**63-1 then reaches the
database, which cannot hold it (SQLite raises OverflowError, PostgreSQL an out-of-range error):
the request answered 500. Here such a path does not match at all, so it is the same 404 (with
the API's error shape, united/middleware.py) as any unknown object.
"""

from __future__ import annotations

from django.urls import register_converter

from united.ids import MAX_SNOWFLAKE


class SnowflakeConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_SNOWFLAKE:
            raise ValueError("not a snowflake")  # Django: no match, so 404
        return number

    def to_url(self, value: int | str) -> str:
        return str(value)


def register() -> None:
    register_converter(SnowflakeConverter, "id")
