"""Meilisearch, through the official `meilisearch` Python client.

Documents hold everything the filters need: ids as strings (Meilisearch compares numbers as
64-bit floats, which cannot hold a snowflake), `created_at` as a Unix timestamp, `has` and
`mentions` as arrays, `pinned`. Writes are asynchronous tasks in Meilisearch; every write waits
for its task (`wait_for_task`) and checks that it succeeded, so an indexing job only finishes
once the engine has applied the change, and a failure (or an unreachable server) raises
`SearchUnavailable` and leaves the job queued.

Typo tolerance is Meilisearch's default (on). Highlights come from Meilisearch itself (it
knows which words matched a typo), marked with private-use characters, escaped by the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import meilisearch
from django.conf import settings
from meilisearch.errors import MeilisearchApiError, MeilisearchError

from messaging.search import (
    MARK_END,
    MARK_START,
    BackendQuery,
    Document,
    Hit,
    Results,
    SearchBackend,
    SearchUnavailable,
)

INDEX_SETTINGS = {
    "searchableAttributes": ["content"],
    "filterableAttributes": [
        "guild_id",
        "channel_id",
        "author_id",
        "created_at",
        "has",
        "mentions",
        "pinned",
    ],
    "sortableAttributes": ["created_at"],
    "typoTolerance": {"enabled": True},
}
TASK_TIMEOUT_MS = 60_000
HTTP_TIMEOUT_S = 10
# (url, index) pairs whose settings this process has applied: the filters need them before
# the first search, and the first write may come from a job rather than `reindex_search`.
_ready: set[tuple[str, str]] = set()
T = TypeVar("T")


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _in(field: str, values: list[int]) -> str:
    return f"{field} IN [{', '.join(_q(str(v)) for v in values)}]"


def filter_expression(query: BackendQuery) -> list[str]:
    parts = [_in("channel_id", sorted(query.channel_ids))]
    if query.author_ids is not None:
        parts.append(_in("author_id", sorted(query.author_ids) or [0]))
    if query.exclude_author_ids:
        parts.append(f"NOT {_in('author_id', sorted(query.exclude_author_ids))}")
    if query.mention_ids is not None:
        parts.append(_in("mentions", sorted(query.mention_ids) or [0]))
    parts += [f"has = {_q(kind)}" for kind in sorted(query.has)]
    if query.after is not None:
        parts.append(f"created_at >= {query.after.timestamp()}")
    if query.before is not None:
        parts.append(f"created_at < {query.before.timestamp()}")
    if query.pinned is not None:
        parts.append(f"pinned = {'true' if query.pinned else 'false'}")
    return parts


class MeiliBackend(SearchBackend):
    name = "meili"

    def __init__(self, url: str | None = None, key: str | None = None, index: str | None = None):
        self.url = (url or settings.MEILI_URL or "").rstrip("/")
        if not self.url:
            raise SearchUnavailable("MEILI_URL is not set")
        self.index_uid = index or settings.SEARCH_MEILI_INDEX
        self.client = meilisearch.Client(
            self.url, (key or settings.MEILI_KEY) or None, timeout=HTTP_TIMEOUT_S
        )
        self.index = self.client.index(self.index_uid)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except MeilisearchError as exc:
            raise SearchUnavailable(f"Meilisearch at {self.url}: {exc}") from exc

    def _wait(self, task: Any) -> None:
        done = self._call(self.client.wait_for_task, task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if done.status != "succeeded":
            raise SearchUnavailable(f"Meilisearch task {done.uid} {done.status}: {done.error}")

    def ensure(self) -> None:
        key = (self.url, self.index_uid)
        if key in _ready:
            return
        try:
            self.client.get_index(self.index_uid)
        except MeilisearchApiError as exc:
            if exc.status_code != 404:
                raise SearchUnavailable(f"Meilisearch at {self.url}: {exc}") from exc
            self._wait(self._call(self.client.create_index, self.index_uid, {"primaryKey": "id"}))
        except MeilisearchError as exc:
            raise SearchUnavailable(f"Meilisearch at {self.url}: {exc}") from exc
        self._wait(self._call(self.index.update_settings, INDEX_SETTINGS))
        _ready.add(key)

    def drop(self) -> None:
        self._wait(self._call(self.client.delete_index, self.index_uid))
        _ready.discard((self.url, self.index_uid))

    @staticmethod
    def _doc(d: Document) -> dict[str, Any]:
        return {
            "id": str(d.id),
            "guild_id": str(d.guild_id),
            "channel_id": str(d.channel_id),
            "author_id": str(d.author_id) if d.author_id is not None else None,
            "content": d.content,
            "created_at": d.created_at.timestamp(),
            "pinned": d.pinned,
            "mentions": [str(i) for i in d.mentions],
            "has": list(d.has),
        }

    def upsert(self, documents: list[Document]) -> None:
        if documents:
            self.ensure()
            body = [self._doc(d) for d in documents]
            self._wait(self._call(self.index.add_documents, body, "id"))

    def remove(self, ids: list[int]) -> None:
        if ids:
            self._wait(self._call(self.index.delete_documents, [str(i) for i in ids]))

    def prune(self, channel_ids: list[int]) -> None:
        if channel_ids:
            expression = _in("channel_id", sorted(channel_ids))
            self._wait(self._call(self.index.delete_documents, filter=expression))

    def clear(self) -> None:
        self._wait(self._call(self.index.delete_all_documents))

    def search(self, query: BackendQuery) -> Results:
        if not query.channel_ids:
            return Results(total=0)
        self.ensure()
        params: dict[str, Any] = {
            "filter": filter_expression(query),
            "attributesToRetrieve": ["id"],
            "attributesToHighlight": ["content"],
            "highlightPreTag": MARK_START,
            "highlightPostTag": MARK_END,
        }
        if query.sort_by != "relevance" or not query.terms:
            params["sort"] = [f"created_at:{'desc' if query.descending else 'asc'}"]
        if query.offset % query.limit == 0:
            # Page mode gives an exhaustive total, offset mode only an estimate.
            params.update(hitsPerPage=query.limit, page=query.offset // query.limit + 1)
        else:
            params.update(offset=query.offset, limit=query.limit)
        data = self._call(self.index.search, " ".join(query.terms), params)
        total = data.get("totalHits", data.get("estimatedTotalHits", 0))
        hits = [
            Hit(id=int(h["id"]), marked=(h.get("_formatted") or {}).get("content"))
            for h in data["hits"]
        ]
        return Results(total=total, hits=hits)

    def indexed_text(self, message_id: int) -> str | None:
        try:
            document = self.index.get_document(str(message_id))
        except MeilisearchApiError as exc:
            if exc.status_code == 404:
                return None
            raise SearchUnavailable(f"Meilisearch at {self.url}: {exc}") from exc
        except MeilisearchError as exc:
            raise SearchUnavailable(f"Meilisearch at {self.url}: {exc}") from exc
        return dict(document).get("content")

    def count(self) -> int:
        return self._call(self.index.get_stats).number_of_documents

    def size_bytes(self) -> int | None:
        return self._call(self.client.get_all_stats).get("databaseSize")
