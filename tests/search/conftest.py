"""A guild with a public channel, a channel hidden from carol and a channel where carol may
look but not read history; and the engine the run is configured for.

The engine is the settings' one (SQLite FTS5 in the embedded run, PostgreSQL with
`--ds=tests.settings_services`), or Meilisearch when MEILI_URL is set: each test then gets its
own index, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from guilds.models import Channel
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import overwrites as overwrite_services
from guilds.services import roles as role_services
from jobs import services as job_services
from jobs.models import Job, JobState, PeriodicRun
from jobs.services import run_due_jobs
from messaging.search import SearchBackend, get_backend, indexing
from messaging.search.service import search_guild
from messaging.services import messages
from tests.services import free_port


@pytest.fixture(autouse=True)
def _no_drain_remembered(monkeypatch) -> None:
    """The process remembers a drain another test enqueued (and committed, in a transactional
    test); here each test starts without one, as a fresh process would."""
    monkeypatch.setattr(indexing, "_drain_at", 0.0)


def index_now() -> int:
    """Run what the outbox holds, as the worker would once the drain's short coalescing delay
    has passed (a drain backing off after a failure keeps its later time)."""
    now = timezone.now()
    Job.objects.filter(
        name=indexing.DRAIN_JOB, state=JobState.QUEUED, run_at__lte=now + indexing.DRAIN_DELAY
    ).update(run_at=now)
    return run_due_jobs()


@pytest.fixture
def engine(db) -> Iterator[SearchBackend]:
    # The periodic jobs stay out of the runs: the periodic drain (the safety net for a process
    # that died after its commit) would otherwise drain at each test's first run of the queue
    # and hide what the drain each change enqueues does (test_indexing runs it on purpose).
    for name in job_services._periodic:
        PeriodicRun.objects.update_or_create(name=name, defaults={"last_run_at": timezone.now()})
    if settings.MEILI_URL:
        index = f"united-test-{uuid.uuid4().hex[:12]}"
        with override_settings(SEARCH_BACKEND="meili", SEARCH_MEILI_INDEX=index):
            backend = get_backend()
            backend.ensure()
            yield backend
            backend.drop()
    else:
        backend = get_backend()
        # Transactional tests elsewhere flush model tables, not this one: start empty (the
        # test's transaction rolls this back).
        backend.clear()
        yield backend


@contextmanager
def engine_down(backend: SearchBackend) -> Iterator[None]:
    """A real outage: the index table is gone (database engines) or nothing listens where
    Meilisearch should be; restored on exit."""
    if backend.name == "meili":
        with override_settings(MEILI_URL=f"http://127.0.0.1:{free_port()}"):
            yield
        return
    if backend.name == "sqlite":
        from messaging.search.sqlite_fts import CREATE, DROP

        create, drop = [CREATE], [DROP]
    else:
        from messaging.search.postgres_fts import CREATE, DROP

        create, drop = CREATE, DROP
    with connection.cursor() as cursor:
        for statement in drop:
            cursor.execute(statement)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for statement in create:
                cursor.execute(statement)


class World:
    pass


@pytest.fixture
def world(make_user, engine) -> World:
    owner = make_user("alice")
    guild = guild_services.check_create_guild(owner, name="Chat", description="")
    bob, carol = make_user("bob"), make_user("carol")
    member_services.do_add_member(guild, bob)
    member_services.do_add_member(guild, carol)

    def channel(name: str) -> Channel:
        return channel_services.check_create_channel(owner, guild.id, {"name": name, "type": 0})

    general, secret, lobby = channel("general"), channel("secret"), channel("lobby")
    outsiders = role_services.check_create_role(owner, guild.id, {"name": "outsiders"})
    member_services.check_member_role(owner, guild.id, carol.id, outsiders.id, add=True)
    overwrite_services.check_put_overwrite(
        owner, secret.id, outsiders.id, {"type": 0, "deny": str(int(P.VIEW_CHANNEL))}
    )
    overwrite_services.check_put_overwrite(
        owner, lobby.id, outsiders.id, {"type": 0, "deny": str(int(P.READ_MESSAGE_HISTORY))}
    )
    w = World()
    w.alice, w.bob, w.carol, w.guild, w.outsiders = owner, bob, carol, guild, outsiders
    w.general, w.secret, w.lobby = general, secret, lobby
    w.engine = engine
    return w


@pytest.fixture
def send() -> Callable:
    def send_(user, channel: Channel, content: str, **extra):
        message, _ = messages.check_send_message(user, channel.id, content=content, **extra)
        return message

    return send_


@pytest.fixture
def index() -> Callable[[], int]:
    return index_now


@pytest.fixture
def find(world) -> Callable:
    def find_(user, q: str = "", **params):
        return search_guild(user, world.guild.id, q=q, **params)

    return find_
