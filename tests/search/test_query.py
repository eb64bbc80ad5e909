from __future__ import annotations

from datetime import UTC, datetime

import pytest

from messaging.search.query import parse
from messaging.search.text import has_kinds, snippet
from united.errors import Invalid

pytestmark = pytest.mark.mode_independent


def test_operators_and_free_text():
    parsed = parse('deploy from:bob from:"Bob Smith" in:#ops has:link mentions:<@42> pinned:true')
    assert parsed.terms == ["deploy"]
    assert parsed.authors == ["bob", "Bob Smith"]
    assert parsed.channels == ["#ops"]
    assert parsed.has == {"link"}
    assert parsed.mentions == ["<@42>"]
    assert parsed.pinned is True


def test_dates_are_utc_days():
    parsed = parse("during:2026-02-03")
    assert parsed.after == datetime(2026, 2, 3, tzinfo=UTC)
    assert parsed.before == datetime(2026, 2, 4, tzinfo=UTC)
    both = parse("after:2026-02-03 before:2026-02-10")
    assert both.after == datetime(2026, 2, 4, tzinfo=UTC)
    assert both.before == datetime(2026, 2, 10, tzinfo=UTC)


def test_unknown_operators_and_urls_are_text():
    assert parse("note:this https://example.com/Path").terms == [
        "note", "this", "https", "example", "com", "path",
    ]  # fmt: skip


@pytest.mark.parametrize("q", ["has:gif", "pinned:maybe", "before:2026-13-01"])
def test_bad_operator_values_are_invalid(q):
    with pytest.raises(Invalid):
        parse(q)


def test_has_kinds_from_links():
    assert has_kinds("see https://x.org/a.JPG, and https://x.org/b") == ("file", "image", "link")
    assert has_kinds("no link") == ()


def test_snippet_escapes_then_marks_and_crops():
    assert snippet("<i>Tea</i> & teapot", ("tea",)) == (
        "&lt;i&gt;<mark>Tea</mark>&lt;/i&gt; &amp; <mark>teapot</mark>"
    )
    long = "word " * 100 + "needle " + "word " * 100
    cropped = snippet(long, ("needle",))
    assert "<mark>needle</mark>" in cropped and cropped.startswith("…") and len(cropped) < 400


def test_meilisearch_filters_keep_snowflakes_as_strings_and_exclude_banned():
    from messaging.search import BackendQuery
    from messaging.search.meili import filter_expression

    query = BackendQuery(
        channel_ids=frozenset({118339744970047489}),
        exclude_author_ids=frozenset({7, 118339744970047490}),
        has=frozenset({"video"}),
    )
    assert filter_expression(query) == [
        'channel_id IN ["118339744970047489"]',
        'NOT author_id IN ["7", "118339744970047490"]',
        'has = "video"',
    ]
