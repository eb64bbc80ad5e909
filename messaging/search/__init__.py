"""Message search: one interface, three engines.

The engine is picked by settings (`SEARCH_BACKEND`): SQLite FTS5 in embedded mode, PostgreSQL
full-text search in production, Meilisearch when `MEILI_URL` is set. Each engine lives in its
own module and implements `SearchBackend`; nothing outside this package knows which one runs.

What reaches an index is decided in one place (`indexing`): a change to a message enqueues a
job in the same transaction (the outbox), and the job re-reads the row and upserts or removes
its document. Who may see a result is decided at query time (`service`): the caller computes
the channels the searcher may read right now and the engine filters on them, so counts and
snippets never include a message from a hidden channel.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils.module_loading import import_string

HAS_KINDS = ("link", "file", "image", "video")

BACKENDS = {
    "sqlite": "messaging.search.sqlite_fts.SQLiteFTSBackend",
    "postgres": "messaging.search.postgres_fts.PostgresFTSBackend",
    "meili": "messaging.search.meili.MeiliBackend",
}


@dataclass(frozen=True)
class Document:
    """What an engine stores for one message."""

    id: int
    guild_id: int
    channel_id: int
    author_id: int | None
    content: str
    created_at: datetime
    pinned: bool = False
    mentions: tuple[int, ...] = ()
    has: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendQuery:
    """A parsed, resolved and permission-checked query. `channel_ids` is the whole set the
    searcher may read (already narrowed by `in:`); an empty set matches nothing."""

    channel_ids: frozenset[int]
    terms: tuple[str, ...] = ()
    author_ids: frozenset[int] | None = None
    # Authors left out (a guild hiding its banned members); messages without an author stay.
    exclude_author_ids: frozenset[int] | None = None
    mention_ids: frozenset[int] | None = None
    has: frozenset[str] = frozenset()
    after: datetime | None = None
    before: datetime | None = None
    pinned: bool | None = None
    sort_by: str = "timestamp"  # or "relevance"
    descending: bool = True
    offset: int = 0
    limit: int = 25


@dataclass
class Hit:
    id: int
    # The content with matches wrapped in MARK_START/MARK_END by the engine itself, when it
    # knows better than the plain term matcher which words matched (typo tolerance).
    marked: str | None = None


@dataclass
class Results:
    total: int
    hits: list[Hit] = field(default_factory=list)


# Private-use characters an engine puts around matched words; the service escapes the text,
# then turns them into <mark> tags.
MARK_START = "\ue000"
MARK_END = "\ue001"


class SearchUnavailable(RuntimeError):
    """The engine could not be reached or refused the request."""


class SearchBackend(abc.ABC):
    name: str

    @abc.abstractmethod
    def ensure(self) -> None:
        """Create whatever the engine needs (idempotent)."""

    @abc.abstractmethod
    def upsert(self, documents: list[Document]) -> None:
        """Insert or replace documents by id (idempotent)."""

    @abc.abstractmethod
    def remove(self, ids: list[int]) -> None:
        """Remove documents by id; unknown ids are fine (idempotent)."""

    @abc.abstractmethod
    def prune(self, channel_ids: list[int]) -> None:
        """Remove the documents of deleted channels (their message rows are gone: a database
        engine drops documents without a message row; Meilisearch filters on the channels)."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Remove every document (before a rebuild)."""

    @abc.abstractmethod
    def search(self, query: BackendQuery) -> Results: ...

    @abc.abstractmethod
    def indexed_text(self, message_id: int) -> str | None:
        """The text the engine holds for a message, or None (tests, operators' checks)."""

    @abc.abstractmethod
    def count(self) -> int: ...

    def size_bytes(self) -> int | None:
        return None


def backend_name() -> str:
    return settings.SEARCH_BACKEND


def get_backend(name: str | None = None) -> SearchBackend:
    name = name or backend_name()
    try:
        path = BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown search backend {name!r}; use one of {sorted(BACKENDS)}"
        ) from None
    return import_string(path)()
