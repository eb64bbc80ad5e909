"""Indexing through the backlog: coalesced drains, outages, exactly-once, encrypted
channels, rebuilds."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, JobState, PeriodicRun
from jobs.services import run_due_jobs
from messaging.models import SearchBacklog
from messaging.search import indexing
from messaging.services import messages
from tests.search.conftest import engine_down, index_now

pytestmark = pytest.mark.django_db


def drains():
    return Job.objects.filter(name=indexing.DRAIN_JOB)


def backlog() -> dict[int, int]:
    return dict(SearchBacklog.objects.values_list("message_id", "version"))


def test_each_change_records_its_message_in_the_same_transaction(world, send, monkeypatch):
    monkeypatch.setattr(indexing, "DRAIN_DELAY", timedelta(seconds=30))  # a slow machine's margin
    before = timezone.now()
    message = send(world.bob, world.general, "first words")
    messages.check_edit_message(world.bob, world.general.id, message.id, content="second words")
    messages.check_edit_message(world.bob, world.general.id, message.id, content="third words")
    assert backlog() == {message.id: 2}  # one row; each change bumped its version
    # One drain for the three changes, a short delay ahead so a burst shares it.
    (drain,) = drains()
    assert drain.state == JobState.QUEUED and drain.payload == {}
    assert before + indexing.DRAIN_DELAY <= drain.run_at <= timezone.now() + indexing.DRAIN_DELAY
    assert not Job.objects.filter(name=indexing.JOB).exists()  # no job per message
    run_due_jobs()
    assert drains().get().state == JobState.QUEUED  # not due yet: the burst still gathers
    index_now()
    assert world.engine.indexed_text(message.id) == "third words"
    assert backlog() == {}
    assert list(drains().values_list("state", "attempts")) == [(JobState.DONE, 1)]


def test_a_burst_is_indexed_by_one_drain_whose_queries_do_not_grow_with_it(world, send, find):
    def burst(size: int, word: str) -> int:
        sent = [send(world.bob, world.general, f"{word} {i}") for i in range(size)]
        assert drains().filter(state=JobState.QUEUED).count() == 1
        with CaptureQueriesContext(connection) as queries:
            assert indexing.drain_backlog() == size
        assert world.engine.indexed_text(sent[-1].id) == f"{word} {size - 1}"
        assert find(world.alice, word)["total_results"] == size and backlog() == {}
        drains().update(state=JobState.DONE, dedupe_key=None)  # as if that job had run it
        return len(queries)

    # Reading the backlog, the messages, their mentions and attachment kinds, one upsert,
    # deleting the rows read, finding the backlog empty: the same for 5 messages or 200.
    assert burst(5, "small") == burst(200, "large")
    index_now()
    assert world.engine.count() == 205


def test_more_than_a_drains_rounds_continues_in_a_fresh_drain(world, send, monkeypatch):
    monkeypatch.setattr(indexing, "DRAIN_BATCH", 4)
    monkeypatch.setattr(indexing, "DRAIN_ROUNDS", 2)
    sent = [send(world.bob, world.general, f"long backlog {i}") for i in range(11)]
    index_now()  # 8, then a fresh drain (due at once) takes the other 3
    assert list(drains().values_list("state", flat=True)) == [JobState.DONE] * 2
    assert backlog() == {} and world.engine.count() == len(sent)


@pytest.mark.django_db(transaction=True)
def test_sends_within_the_delay_share_one_drain_and_write_no_job(world, send, monkeypatch):
    """With commits, as in a running node: the first send enqueues the drain, the next ones
    only add their backlog row, without a query on the job table."""
    monkeypatch.setattr(indexing, "DRAIN_DELAY", timedelta(seconds=60))
    first = send(world.bob, world.general, "opening line")
    (drain,) = drains()
    assert indexing._drain_at == drain.run_at.timestamp()
    rest = []
    for i in range(10):
        with CaptureQueriesContext(connection) as queries:
            rest.append(send(world.bob, world.general, f"follow up {i}"))
        assert not [q for q in queries if "jobs_job" in q["sql"]]
        assert sum("messaging_searchbacklog" in q["sql"] for q in queries) == 1
    assert drains().count() == 1
    assert set(backlog()) == {first.id, *(m.id for m in rest)}
    index_now()  # moves the drain to now: the minute has passed
    assert world.engine.count() == 11 and backlog() == {}


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_no_backlog_row_and_no_drain(world, send):
    class Refused(Exception):
        pass

    with pytest.raises(Refused), transaction.atomic():
        send(world.bob, world.general, "never committed")
        assert len(backlog()) == 1 and drains().count() == 1
        raise Refused
    assert backlog() == {} and not drains().exists()
    assert indexing._drain_at == 0.0  # nothing remembered from a drain that never existed
    kept = send(world.bob, world.general, "committed")
    assert backlog() == {kept.id: 0} and drains().count() == 1
    index_now()
    assert world.engine.indexed_text(kept.id) == "committed" and world.engine.count() == 1


def test_a_drain_that_started_before_a_commit_is_not_trusted(world, send, monkeypatch):
    """The remembered drain may have started (a slow transaction, or its time is up): the
    check after the commit enqueues another, which runs after and reads the row."""
    message = send(world.bob, world.general, "late commit")
    drains().update(state=JobState.RUNNING)  # a worker took it before this commit
    monkeypatch.setattr(indexing, "_drain_at", 0.0)
    indexing._ensure_drain()
    fresh = drains().filter(state=JobState.QUEUED).get()
    assert fresh.dedupe_key == indexing.DRAIN_KEYS[1]
    assert indexing._drain_at == fresh.run_at.timestamp()
    index_now()
    assert world.engine.indexed_text(message.id) == "late commit"


def test_a_change_during_a_drain_is_drained_again_with_its_newer_text(world, send, monkeypatch):
    message = send(world.bob, world.general, "as first read")
    original = type(world.engine).upsert
    upserted: list[str] = []

    def upsert_then_edit(self, documents):
        upserted.extend(d.content for d in documents)
        original(self, documents)
        if len(upserted) == 1:  # the drain has read the row; the author edits it now
            messages.check_edit_message(world.bob, world.general.id, message.id, content="newer")

    monkeypatch.setattr(type(world.engine), "upsert", upsert_then_edit)
    assert indexing.drain_backlog(world.engine) == 2  # the row, then the row again
    assert upserted == ["as first read", "newer"]
    assert world.engine.indexed_text(message.id) == "newer" and backlog() == {}


@pytest.mark.django_db(transaction=True)
def test_a_change_committing_while_a_drain_deletes_is_not_lost(world, send):
    """Two connections, as a request and a worker are: the edit's transaction bumps the row
    while the drain indexes what was committed before; on PostgreSQL the drain's delete waits
    for that transaction, then finds the version changed and keeps the row."""
    message = send(world.bob, world.general, "before the edit")
    edited, failures = threading.Event(), []

    def edit() -> None:
        try:
            with transaction.atomic():
                messages.check_edit_message(
                    world.bob, world.general.id, message.id, content="after the edit"
                )
                edited.set()
                time.sleep(0.5)  # the drain reads and writes meanwhile
        except Exception as exc:  # reported by the main thread
            failures.append(exc)
            edited.set()
        finally:
            connections.close_all()

    editor = threading.Thread(target=edit)
    editor.start()
    try:
        assert edited.wait(10)
        indexing.drain_backlog(world.engine)
    finally:
        editor.join(30)
    assert not failures
    assert backlog() == {}
    assert world.engine.indexed_text(message.id) == "after the edit"


def test_an_engine_outage_keeps_the_ids_and_a_later_drain_indexes_them_once(world, send, find):
    with engine_down(world.engine):
        message = send(world.bob, world.general, "written during the outage")
        index_now()
        drain = drains().get()
        assert drain.state == JobState.QUEUED and drain.attempts == 1
        assert drain.last_error
        assert drain.run_at > timezone.now() + indexing.DRAIN_DELAY  # backing off
        later = send(world.carol, world.general, "also during the outage")
        assert drains().count() == 1  # the drain backing off will take it too
        assert backlog() == {message.id: 0, later.id: 0}
    assert world.engine.indexed_text(message.id) is None
    drains().update(run_at=timezone.now())  # the back-off has passed
    run_due_jobs()
    drain.refresh_from_db()
    assert drain.state == JobState.DONE and drain.attempts == 2
    assert world.engine.indexed_text(message.id) == "written during the outage"
    assert world.engine.indexed_text(later.id) == "also during the outage"
    page = find(world.alice, "outage")
    assert page["total_results"] == 2 and len(page["messages"]) == 2
    assert backlog() == {} and world.engine.count() == 2
    run_due_jobs()
    assert not drains().exclude(state=JobState.DONE).exists()
    assert world.engine.count() == 2


def test_the_periodic_drain_takes_rows_no_drain_was_enqueued_for(world, send):
    """A process that died between its commit and the check after it leaves a backlog row
    and no drain: the periodic drain takes it."""
    message = send(world.bob, world.general, "orphaned row")
    drains().delete()
    run_due_jobs()
    assert world.engine.indexed_text(message.id) is None and not drains().exists()
    PeriodicRun.objects.filter(name=indexing.DRAIN_JOB).update(
        last_run_at=timezone.now() - indexing.DRAIN_EVERY
    )
    run_due_jobs()
    assert world.engine.indexed_text(message.id) == "orphaned row" and backlog() == {}
    assert drains().get().dedupe_key is None  # the periodic run, finished


def test_draining_twice_still_leaves_one_document(world, send):
    message = send(world.bob, world.general, "idempotent by design")
    index_now()
    indexing.sync_message(message.id)
    indexing.note_change(message)
    indexing.drain_backlog()
    assert indexing.drain_backlog() == 0
    assert world.engine.count() == 1
    assert world.engine.indexed_text(message.id) == "idempotent by design"


def test_a_job_per_message_written_before_the_backlog_still_runs(world, send):
    message = send(world.bob, world.general, "queued by an older process")
    SearchBacklog.objects.all().delete()
    drains().delete()
    Job.objects.create(name=indexing.JOB, payload={"message_id": message.id})
    run_due_jobs()
    assert world.engine.indexed_text(message.id) == "queued by an older process"


def test_encrypted_channels_are_never_indexed(world, send, find):
    def secret_is_encrypted(channel) -> bool:
        return channel.id == world.secret.id

    indexing.register_encryption_check(secret_is_encrypted)
    try:
        hidden = send(world.alice, world.secret, "ciphertext stand-in plaintext")
        shown = send(world.alice, world.general, "plaintext in the open")
        index_now()
        assert world.engine.indexed_text(hidden.id) is None
        assert world.engine.indexed_text(shown.id) == "plaintext in the open"
        assert [g[0]["id"] for g in find(world.alice, "plaintext")["messages"]] == [str(shown.id)]
        call_command("reindex_search", stdout=StringIO(), stderr=StringIO())
        assert world.engine.indexed_text(hidden.id) is None
        assert world.engine.count() == 1
    finally:
        indexing.unregister_encryption_check(secret_is_encrypted)
    assert not indexing.is_encrypted(world.secret)


def test_reindex_rebuilds_from_the_database_with_progress(world, send, find):
    sent = [send(world.bob, world.general, f"archive entry {i}") for i in range(7)]
    messages.check_delete_message(world.bob, world.general.id, sent[0].id)
    world.engine.clear()
    assert world.engine.count() == 0
    out, err = StringIO(), StringIO()
    call_command("reindex_search", "--batch", "3", stdout=out, stderr=err)
    assert world.engine.count() == 6
    assert "6/6" in err.getvalue() and "100%" in err.getvalue()
    assert "Indexed 6 message(s)" in out.getvalue()
    assert find(world.alice, "archive")["total_results"] == 6


def test_an_unreachable_meilisearch_raises_so_the_job_retries(world, send):
    """Runs on every engine: nothing listens on a fresh port, so the job must fail loudly."""
    from django.test import override_settings

    from messaging.search import SearchUnavailable, get_backend
    from tests.services import free_port

    message = send(world.bob, world.general, "for meilisearch")
    with override_settings(MEILI_URL=f"http://127.0.0.1:{free_port()}"):
        backend = get_backend("meili")
        with pytest.raises(SearchUnavailable):
            indexing.drain_backlog(backend)
    assert backlog() == {message.id: 0}  # kept for the retry


def test_deleting_a_channel_or_the_guild_removes_its_documents(world, send):
    from guilds.services import channels as channel_services
    from guilds.services import guilds as guild_services

    gone = send(world.alice, world.secret, "soon without a channel")
    kept = send(world.alice, world.general, "still here")
    index_now()
    assert world.engine.count() == 2
    channel_services.check_delete_channel(world.alice, world.secret.id)
    run_due_jobs()
    assert world.engine.indexed_text(gone.id) is None
    assert world.engine.indexed_text(kept.id) == "still here"
    guild_services.check_delete_guild(world.alice, world.guild.id, confirm_name="Chat")
    run_due_jobs()
    assert world.engine.count() == 0
    assert backlog() == {}  # the cascade wrote no row per message
    assert Job.objects.filter(name=indexing.PRUNE_JOB, state=JobState.DONE).count() == 2


def test_edits_deletes_and_expiry_converge(world, send, find):
    edited = send(world.bob, world.general, "draft wording")
    deleted = send(world.bob, world.general, "regrettable wording")
    expiring = send(world.bob, world.general, "short lived wording", ttl_seconds=60)
    index_now()
    assert find(world.alice, "wording")["total_results"] == 3
    messages.check_edit_message(world.bob, world.general.id, edited.id, content="final wording")
    messages.check_delete_message(world.bob, world.general.id, deleted.id)
    messages.expire_due(now=timezone.now() + timedelta(minutes=2))
    assert set(backlog()) == {edited.id, deleted.id, expiring.id}
    index_now()
    assert backlog() == {}
    assert world.engine.indexed_text(edited.id) == "final wording"
    assert world.engine.indexed_text(deleted.id) is None
    assert world.engine.indexed_text(expiring.id) is None
    assert [g[0]["id"] for g in find(world.alice, "wording")["messages"]] == [str(edited.id)]
    messages.expire_due(now=timezone.now() + timedelta(minutes=3))  # a second sweep: no-op
    assert backlog() == {}
