"""Encrypted conversations never reach any engine: direct messages and group DMs by channel
type (whatever their rows hold, legacy plaintext or E2E envelopes), channels an encryption
check claims, and threads under those, through the outbox job and through `reindex_search`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from guilds.models import Channel, ChannelType
from messaging.models import SearchBacklog
from messaging.search import indexing
from messaging.services import dms, messages
from tests.search.conftest import index_now

pytestmark = pytest.mark.django_db

MARKER = "zanzibarquokka"
ENVELOPE = '{"v":1,"alg":"x25519-xsalsa20poly1305","ct":"' + MARKER + 'QUJDREVGRw=="}'


@pytest.fixture
def written(world, monkeypatch) -> list:
    """Every document any engine is asked to store, whichever door it came through."""
    seen: list = []
    original = type(world.engine).upsert

    def spy(self, documents):
        seen.extend(documents)
        return original(self, documents)

    monkeypatch.setattr(type(world.engine), "upsert", spy)
    return seen


def index_table_text() -> str:
    """Everything a database engine's index holds, as one string (Meilisearch: skipped)."""
    vendor = connection.vendor
    table, column = (
        ("messaging_search_fts", "body")
        if vendor == "sqlite"
        else ("messaging_search_document", "body || ' ' || tsv::text")
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def legacy_dms(monkeypatch):
    """DM rows as the node stored them before E2E existed (the send path refuses plaintext now)."""
    monkeypatch.setattr(
        messages, "refuse_plaintext_dm", lambda user, channel_id, channel=None: None
    )


def encrypted_world(world, send):
    dm, _ = dms.check_open_dm(world.bob, world.alice.id)
    group = dms.check_create_group_dm(world.alice, [str(world.bob.id), str(world.carol.id)])
    sent = [
        send(world.bob, dm, f"legacy plaintext {MARKER} in a DM"),
        send(world.alice, dm, ENVELOPE),
        send(world.alice, group, f"group plan {MARKER}"),
        send(world.carol, group, ENVELOPE),
    ]
    return dm, group, sent


def test_direct_messages_never_reach_an_engine(world, send, written, find, legacy_dms):
    dm, group, sent = encrypted_world(world, send)
    public = send(world.bob, world.general, f"public {MARKER} talk")
    for message in sent:  # edits and pins too
        if message.author_id == world.bob.id:
            messages.check_edit_message(world.bob, dm.id, message.id, content=f"{MARKER} v2")
    messages.check_pin(world.bob, dm.id, sent[0].id, pinned=True)
    # Nothing is even recorded for a DM: there is nothing to add or remove.
    assert list(SearchBacklog.objects.values_list("message_id", flat=True)) == [public.id]
    index_now()
    assert [d.id for d in written] == [public.id]
    for message in sent:
        assert world.engine.indexed_text(message.id) is None
    assert world.engine.count() == 1
    if world.engine.name != "meili":
        held = index_table_text()
        assert "public" in held and "legacy" not in held and "group plan" not in held
        assert "alg" not in held and "x25519" not in held
    # Even forcing a DM message through the drain writes nothing.
    indexing.note_change(sent[0])  # refused: a DM is never recorded
    SearchBacklog.objects.create(message_id=sent[1].id)  # as if it had been
    indexing.drain_backlog()
    indexing.sync_message(sent[2].id)
    assert [d.id for d in written] == [public.id]
    assert not SearchBacklog.objects.exists()
    assert [g[0]["id"] for g in find(world.alice, MARKER)["messages"]] == [str(public.id)]


def test_reindex_skips_direct_messages_and_encrypted_channels(world, send, written, legacy_dms):
    _, _, sent = encrypted_world(world, send)
    public = send(world.bob, world.general, f"public {MARKER} talk")
    private = send(world.alice, world.secret, f"sealed {MARKER} note")
    starter = send(world.alice, world.secret, "thread starter")
    thread = messages.check_start_thread(world.alice, world.secret.id, starter.id, name="t")
    in_thread = send(world.alice, thread, f"thread {MARKER} reply")

    def secret_is_encrypted(channel: Channel) -> bool:
        return channel.id == world.secret.id

    indexing.register_encryption_check(secret_is_encrypted)
    try:
        assert indexing.is_encrypted(thread) and indexing.is_encrypted(world.secret)
        err = StringIO()
        call_command("reindex_search", "--batch", "2", stdout=StringIO(), stderr=err)
        assert {d.id for d in written} == {public.id}
        for message in [*sent, private, starter, in_thread]:
            assert world.engine.indexed_text(message.id) is None
        assert world.engine.count() == 1
        assert "4/4" in err.getvalue() and "100%" in err.getvalue()  # candidate rows read
        assert SearchBacklog.objects.filter(message_id=in_thread.id).exists()
        index_now()  # the drain of those messages removes, never adds
        assert {d.id for d in written} == {public.id}
    finally:
        indexing.unregister_encryption_check(secret_is_encrypted)


def test_channel_types_and_the_encrypted_flag(world):
    guild_id = world.guild.id
    assert indexing.indexed_channel(world.general)
    for kind in (ChannelType.DM, ChannelType.GROUP_DM):
        assert indexing.is_encrypted(Channel(type=kind, name=""))
        assert indexing.is_encrypted(Channel(type=kind, name="", guild_id=guild_id))
    for kind in (ChannelType.GUILD_VOICE, ChannelType.GUILD_CATEGORY):
        assert indexing.is_encrypted(Channel(type=kind, name="x", guild_id=guild_id))
    flagged = Channel(type=ChannelType.GUILD_TEXT, name="e2e", guild_id=guild_id)
    flagged.encrypted = True  # the flag E2E guild channels carry, when the model has it
    assert indexing.is_encrypted(flagged)
    thread = Channel(type=ChannelType.PUBLIC_THREAD, name="t", guild_id=guild_id, parent=flagged)
    assert indexing.is_encrypted(thread)


def test_the_migration_purges_direct_messages_indexed_before(world, send, legacy_dms):
    """Before this gate, a DM's text was indexed; migration 0006 removes such documents."""
    from importlib import import_module

    from messaging.search import Document

    dm, _ = dms.check_open_dm(world.bob, world.alice.id)
    old = send(world.bob, dm, f"old {MARKER} dm")
    public = send(world.bob, world.general, "public words")
    index_now()
    if world.engine.name == "meili":
        pytest.skip("Meilisearch indexes are rebuilt with reindex_search, not by migrations")
    leaked = indexing.document_for(old)
    world.engine.upsert([Document(**{**leaked.__dict__, "guild_id": 0})])  # the old bug
    assert world.engine.indexed_text(old.id)
    migration = import_module("messaging.migrations.0006_search_purge_direct_messages")
    with connection.cursor() as cursor:
        cursor.execute(migration.statement(connection.vendor))
    assert world.engine.indexed_text(old.id) is None
    assert world.engine.indexed_text(public.id) == "public words"
