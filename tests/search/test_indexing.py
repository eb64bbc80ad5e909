"""Indexing through the outbox: outages, exactly-once, encrypted channels, rebuilds."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Job, JobState
from jobs.services import run_due_jobs
from messaging.search import indexing
from messaging.services import messages
from tests.search.conftest import engine_down

pytestmark = pytest.mark.django_db


def search_jobs():
    return Job.objects.filter(name=indexing.JOB)


def test_each_change_enqueues_one_job_in_the_same_transaction(world, send):
    message = send(world.bob, world.general, "first words")
    messages.check_edit_message(world.bob, world.general.id, message.id, content="second words")
    messages.check_edit_message(world.bob, world.general.id, message.id, content="third words")
    queued = search_jobs().filter(state=JobState.QUEUED)
    assert queued.count() == 1  # deduplicated per message while queued
    assert queued.get().payload == {"message_id": message.id}
    run_due_jobs()
    assert world.engine.indexed_text(message.id) == "third words"


def test_a_change_while_its_job_runs_gets_a_fresh_job(world, send):
    message = send(world.bob, world.general, "first words")
    job = search_jobs().get()
    Job.objects.filter(id=job.id).update(state=JobState.RUNNING)  # a worker has claimed it
    messages.check_edit_message(world.bob, world.general.id, message.id, content="newer words")
    fresh = search_jobs().filter(state=JobState.QUEUED).get()
    assert fresh.id != job.id and fresh.payload == {"message_id": message.id}


def test_an_engine_outage_leaves_the_job_queued_and_a_later_run_indexes_once(world, send, find):
    with engine_down(world.engine):
        message = send(world.bob, world.general, "written during the outage")
        run_due_jobs()
        job = search_jobs().get()
        assert job.state == JobState.QUEUED and job.attempts == 1
        assert job.last_error
        assert job.run_at > timezone.now()  # backing off
    assert world.engine.indexed_text(message.id) is None
    Job.objects.filter(id=job.id).update(run_at=timezone.now())  # the back-off has passed
    run_due_jobs()
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 2
    assert world.engine.indexed_text(message.id) == "written during the outage"
    page = find(world.alice, "outage")
    assert page["total_results"] == 1 and len(page["messages"]) == 1
    assert world.engine.count() == 1
    run_due_jobs()
    assert not search_jobs().exclude(state=JobState.DONE).exists()
    assert world.engine.count() == 1


def test_running_a_job_twice_still_leaves_one_document(world, send):
    message = send(world.bob, world.general, "idempotent by design")
    run_due_jobs()
    indexing.sync_message(message.id)
    indexing.sync_message(message.id)
    assert world.engine.count() == 1


def test_encrypted_channels_are_never_indexed(world, send, find):
    def secret_is_encrypted(channel) -> bool:
        return channel.id == world.secret.id

    indexing.register_encryption_check(secret_is_encrypted)
    try:
        hidden = send(world.alice, world.secret, "ciphertext stand-in plaintext")
        shown = send(world.alice, world.general, "plaintext in the open")
        run_due_jobs()
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
            indexing.sync_message(message.id, backend)


def test_deleting_a_channel_or_the_guild_removes_its_documents(world, send):
    from guilds.services import channels as channel_services
    from guilds.services import guilds as guild_services

    gone = send(world.alice, world.secret, "soon without a channel")
    kept = send(world.alice, world.general, "still here")
    run_due_jobs()
    assert world.engine.count() == 2
    channel_services.check_delete_channel(world.alice, world.secret.id)
    run_due_jobs()
    assert world.engine.indexed_text(gone.id) is None
    assert world.engine.indexed_text(kept.id) == "still here"
    guild_services.check_delete_guild(world.alice, world.guild.id, confirm_name="Chat")
    run_due_jobs()
    assert world.engine.count() == 0
    assert not search_jobs().exclude(state=JobState.DONE).exists()
    assert Job.objects.filter(name=indexing.PRUNE_JOB, state=JobState.DONE).count() == 2


def test_ttl_expiry_reaches_the_index_exactly_once(world, send):
    from datetime import timedelta

    message = send(world.bob, world.general, "short lived", ttl_seconds=60)
    run_due_jobs()
    messages.expire_due(now=timezone.now() + timedelta(minutes=2))
    messages.expire_due(now=timezone.now() + timedelta(minutes=3))  # a second sweep: no-op
    run_due_jobs()
    assert world.engine.indexed_text(message.id) is None
    runs = search_jobs().filter(payload={"message_id": message.id})
    assert list(runs.values_list("state", "attempts")) == [(JobState.DONE, 1)] * 2
