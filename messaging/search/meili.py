"""Meilisearch, over its documented HTTP API with httpx.

The official `meilisearch` client is not among the project's locked dependencies, and the
handful of calls needed here (settings, add/replace documents, delete, search, tasks) are
plain JSON over HTTP, so this module speaks the API directly.

Documents hold everything the filters need: ids as strings (Meilisearch compares numbers as
64-bit floats, which cannot hold a snowflake), `created_at` as a Unix timestamp, `has` and
`mentions` as arrays, `pinned`. Writes are asynchronous tasks in Meilisearch; `_wait` polls the
task until it succeeds or fails, so an indexing job only finishes once the engine has applied
the change, and a failure (or an unreachable server) raises and leaves the job queued.

Typo tolerance is Meilisearch's default (on). Highlights come from Meilisearch itself (it
knows which words matched a typo), marked with private-use characters, escaped by the service.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from django.conf import settings

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
    "sortableAttributes": ["created_at", "hlc"],
    "typoTolerance": {"enabled": True},
}
TASK_TIMEOUT = 60.0
# (url, index) pairs whose settings this process has applied: the filters need them before
# the first search, and the first write may come from a job rather than `reindex_search`.
_ready: set[tuple[str, str]] = set()


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _in(field: str, values: list[int]) -> str:
    return f"{field} IN [{', '.join(_q(str(v)) for v in values)}]"


def filter_expression(query: BackendQuery) -> list[str]:
    parts = [_in("channel_id", sorted(query.channel_ids))]
    if query.author_ids is not None:
        parts.append(_in("author_id", sorted(query.author_ids) or [0]))
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
        self.index = index or settings.SEARCH_MEILI_INDEX
        headers = (
            {"Authorization": f"Bearer {key or settings.MEILI_KEY}"}
            if (key or settings.MEILI_KEY)
            else {}
        )
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=10.0)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SearchUnavailable(f"Meilisearch at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise SearchUnavailable(
                f"Meilisearch {method} {path}: {response.status_code} {response.text[:500]}"
            )
        return response.json() if response.content else None

    def _wait(self, task: dict[str, Any]) -> None:
        uid = task["taskUid"]
        deadline = time.monotonic() + TASK_TIMEOUT
        delay = 0.01
        while time.monotonic() < deadline:
            info = self._call("GET", f"/tasks/{uid}")
            if info["status"] == "succeeded":
                return
            if info["status"] in {"failed", "canceled"}:
                raise SearchUnavailable(f"Meilisearch task {uid} {info['status']}: {info}")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise SearchUnavailable(f"Meilisearch task {uid} did not finish in {TASK_TIMEOUT}s")

    def ensure(self) -> None:
        key = (self.url, self.index)
        if key in _ready:
            return
        try:
            self.http.get(f"/indexes/{self.index}").raise_for_status()
        except httpx.HTTPStatusError:
            body = {"uid": self.index, "primaryKey": "id"}
            self._wait(self._call("POST", "/indexes", json=body))
        except httpx.HTTPError as exc:
            raise SearchUnavailable(f"Meilisearch at {self.url}: {exc}") from exc
        self._wait(self._call("PATCH", f"/indexes/{self.index}/settings", json=INDEX_SETTINGS))
        _ready.add(key)

    def drop(self) -> None:
        self._wait(self._call("DELETE", f"/indexes/{self.index}"))
        _ready.discard((self.url, self.index))

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
            self._wait(self._call("POST", f"/indexes/{self.index}/documents", json=body))

    def remove(self, ids: list[int]) -> None:
        if ids:
            path = f"/indexes/{self.index}/documents/delete-batch"
            self._wait(self._call("POST", path, json=[str(i) for i in ids]))

    def clear(self) -> None:
        self._wait(self._call("DELETE", f"/indexes/{self.index}/documents"))

    def search(self, query: BackendQuery) -> Results:
        if not query.channel_ids:
            return Results(total=0)
        self.ensure()
        body: dict[str, Any] = {
            "q": " ".join(query.terms),
            "filter": filter_expression(query),
            "attributesToRetrieve": ["id"],
            "attributesToHighlight": ["content"],
            "highlightPreTag": MARK_START,
            "highlightPostTag": MARK_END,
        }
        if query.sort_by != "relevance" or not query.terms:
            body["sort"] = [f"created_at:{'desc' if query.descending else 'asc'}"]
        if query.offset % query.limit == 0:
            # Page mode gives an exhaustive total, offset mode only an estimate.
            body.update(hitsPerPage=query.limit, page=query.offset // query.limit + 1)
        else:
            body.update(offset=query.offset, limit=query.limit)
        data = self._call("POST", f"/indexes/{self.index}/search", json=body)
        total = data.get("totalHits", data.get("estimatedTotalHits", 0))
        hits = [
            Hit(id=int(h["id"]), marked=(h.get("_formatted") or {}).get("content"))
            for h in data["hits"]
        ]
        return Results(total=total, hits=hits)

    def indexed_text(self, message_id: int) -> str | None:
        try:
            response = self.http.get(f"/indexes/{self.index}/documents/{message_id}")
        except httpx.HTTPError as exc:
            raise SearchUnavailable(str(exc)) from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise SearchUnavailable(f"Meilisearch: {response.status_code} {response.text[:500]}")
        return response.json().get("content")

    def count(self) -> int:
        return self._call("GET", f"/indexes/{self.index}/stats")["numberOfDocuments"]

    def size_bytes(self) -> int | None:
        stats = self._call("GET", "/stats")
        return stats.get("databaseSize")
