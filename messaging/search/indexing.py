"""From the outbox to the index.

The index subscribes to the messaging events (`on_event`, registered in messaging.apps): the
MESSAGE_CREATE, MESSAGE_UPDATE and MESSAGE_DELETE a service publishes when it creates, edits,
pins, deletes or expires a message, locally or as a mirrored copy of another node's change,
are heard inside the transaction of that change. Each records the message id in the search
backlog (`SearchBacklog`, one INSERT … ON CONFLICT statement) in that transaction, so the
change cannot be committed without its indexing work, and an outage of the worker or the
engine only delays it: the drain fails, the ids stay in the backlog and a later drain takes
them. Only events of a guild's group count: a direct message's events go to its
participants' groups and never record anything.

A drain job (`messaging.search.drain`) takes the backlog in batches: it reads the batch's
messages in a fixed number of queries and makes the engine agree with them, one upsert of the
indexable ones and one removal of the rest (deleted, expired, gone, or in a channel that is
never indexed). That makes it idempotent, so a retry or two drains at once converge on one
document per message, never two, and never an old text. It then deletes the backlog rows it
read, only where their `version` is still the one it read: a message changed again meanwhile
bumped its row's version, so the row stays and the next batch indexes the newer state.

Which drain job runs: each process remembers the time before which a queued drain will not
start (`_drain_at`, learnt after the commit of a change that enqueued or found it). While that
time is ahead, a change only adds its backlog row; otherwise it also enqueues a drain
DRAIN_DELAY ahead (deduplicated: it finds the one waiting, if any), so a burst of messages
coalesces into one drain instead of a job each. A drain that started before a change
committed may have read the backlog without its row, so after each commit a check without a
query compares the remembered time with the clock and, if that drain may have started,
enqueues one that has not. A periodic drain (every DRAIN_EVERY) takes whatever a process that
died between its commit and that check left behind.

Which channels are indexed is decided by `indexed_channel`, the one gate both the drain and
`reindex` pass through, so nothing else can send a document to an engine: only guild text,
announcement and thread channels, never a direct message or group DM (by type, whatever their
rows hold: legacy plaintext or E2E envelopes), never a channel flagged `encrypted` (or whose
parent is, for a thread), never one a registered encryption check claims.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from guilds.models import Channel, ChannelType
from jobs.models import Job, JobState
from jobs.services import enqueue, job, periodic
from messaging.models import Message, SearchBacklog
from messaging.search import MARK_END, MARK_START, Document, SearchBackend, get_backend
from messaging.search.text import has_kinds
from united.events import Published

DRAIN_JOB = "messaging.search.drain"
PRUNE_JOB = "messaging.search.prune"
# One job per message, as written before the backlog existed: rows queued at the upgrade (or by
# a process still running the older code) still run.
JOB = "messaging.search.sync"

# Long enough for a burst of messages to share one drain, short enough not to be noticed
# between sending a message and finding it.
DRAIN_DELAY = timedelta(milliseconds=300)
DRAIN_BATCH = 500
# Batches per job run; more backlog than that goes on in a fresh job, so one run stays well
# within its lease however far the backlog grew during an outage.
DRAIN_ROUNDS = 20
DRAIN_EVERY = timedelta(minutes=1)
# Two keyed drains: one may be running (it may already have read past a row committed now)
# while the other waits; a third, unkeyed, only when both run at once.
DRAIN_KEYS = ("search:drain:0", "search:drain:1")
# A remembered drain that starts within this much is not trusted: the clocks of the process
# that enqueued it and of the one that claims it may differ by a little.
DRAIN_MARGIN = 0.05

# Epoch seconds before which a queued drain job will not start (0: none known). A float
# assignment is atomic, so the request threads share it without a lock.
_drain_at = 0.0

BACKLOG_ADD = (
    f"INSERT INTO {SearchBacklog._meta.db_table} (message_id, version) VALUES (%s, 0)"
    f" ON CONFLICT (message_id) DO UPDATE SET version = {SearchBacklog._meta.db_table}.version + 1"
)

EncryptionCheck = Callable[[Channel], bool]
_encryption_checks: list[EncryptionCheck] = []


def register_encryption_check(check: EncryptionCheck) -> None:
    """The E2E code registers how it tells an encrypted channel; such channels are never
    indexed (the node holds only ciphertext there, and not even that goes to an index)."""
    if check not in _encryption_checks:
        _encryption_checks.append(check)


def unregister_encryption_check(check: EncryptionCheck) -> None:
    if check in _encryption_checks:
        _encryption_checks.remove(check)


# Guild message channels: the only kinds ever indexed. DMs and group DMs are end-to-end
# encrypted conversations (issue 8) and are excluded by type, not by content.
INDEXED_TYPES = frozenset(
    {ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT, ChannelType.PUBLIC_THREAD}
)


def _flagged(channel: Channel) -> bool:
    return bool(getattr(channel, "encrypted", False)) or any(
        check(channel) for check in _encryption_checks
    )


def is_encrypted(channel: Channel) -> bool:
    """Whether a channel's messages are (or may be) end-to-end encrypted: direct messages and
    group DMs always, a channel flagged `encrypted` (if the model has the flag) or claimed by
    a registered check, and a thread whose parent is any of these."""
    if channel.type not in INDEXED_TYPES or channel.guild_id is None:
        return True
    if _flagged(channel):
        return True
    if channel.type == ChannelType.PUBLIC_THREAD and channel.parent_id:
        parent = channel.parent
        return parent is None or parent.type not in INDEXED_TYPES or _flagged(parent)
    return False


def indexed_channel(channel: Channel) -> bool:
    return not is_encrypted(channel)


MESSAGE_EVENTS = frozenset({"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"})


def on_event(event: Published) -> None:
    """The index follows a message event of a guild channel. A guild channel that holds
    messages is of an indexed type (access_text_channel refuses the others), and the drain
    re-checks the type and encryption through `indexed_channel` before anything reaches an
    engine; deciding by the group here keeps the send path free of a channel query.
    A deleted channel or guild takes its documents with it: its messages go by cascade,
    without a job each, so the prune job is scheduled from the deletion's event (published
    while the guild's channels still exist). A GUILD_DELETE marked `unavailable` is an outage
    (an operator's suspension), not a deletion: its documents stay."""
    if not event.group.startswith("guild."):
        return
    if event.t in MESSAGE_EVENTS:
        message_id = str(event.d.get("id") or "")
        if message_id.isdigit():
            _schedule(int(message_id))
    elif event.t == "CHANNEL_DELETE":
        channel_id = str(event.d.get("id") or "")
        if channel_id.isdigit():
            note_channels_deleted([int(channel_id)])
    elif event.t == "GUILD_DELETE" and not event.d.get("unavailable"):
        guild_id = int(event.group.split(".", 1)[1])
        note_channels_deleted(
            list(Channel.objects.filter(guild_id=guild_id).values_list("id", flat=True))
        )


def note_change(message: Message) -> None:
    """Schedule the index to follow this message (inside the changing transaction), for a
    change that publishes no message event."""
    if message.channel.type not in INDEXED_TYPES or message.channel.guild_id is None:
        return  # a direct message: never indexed, nothing to add or remove
    _schedule(message.id)


def _schedule(message_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(BACKLOG_ADD, [message_id])
    if time.time() < _drain_at - DRAIN_MARGIN:
        transaction.on_commit(_ensure_drain, robust=True)
        return
    # No drain known to be ahead: enqueue one in the change's transaction, so the change and
    # a drain that will read it commit together.
    row = _queue_drain()
    run_at = row.run_at.timestamp()
    # robust: the change is committed whatever happens here; the periodic drain takes the
    # row if the database is gone a moment after the commit.
    transaction.on_commit(lambda: _ensure_drain(run_at), robust=True)


def _queue_drain(*, delay: timedelta | None = None, ahead: bool = False) -> Job:
    """A queued drain: a keyed one still waiting, else a new one `delay` from now. Any drain
    that has not started reads what is committed when it does. With `ahead`, prefer one that
    cannot start within DRAIN_MARGIN (a new one if need be), so the process can remember it
    and let the next changes skip this."""
    now = timezone.now()
    run_at = now + (DRAIN_DELAY if delay is None else delay)
    waiting = None
    for key in DRAIN_KEYS:
        row = enqueue(DRAIN_JOB, run_at=run_at, dedupe_key=key)
        if row.state != JobState.QUEUED:
            continue  # running: it may have read the backlog already
        if not ahead or row.run_at > now + timedelta(seconds=DRAIN_MARGIN):
            return row
        waiting = waiting or row
    return waiting or enqueue(DRAIN_JOB, run_at=run_at)


def _ensure_drain(enqueued_at: float = 0.0) -> None:
    """After the commit: make sure a drain that has not started yet exists (it will read the
    rows just committed), and remember when it may start."""
    global _drain_at
    _drain_at = max(_drain_at, enqueued_at)
    if time.time() < _drain_at - DRAIN_MARGIN:
        return
    # The row is committed: any drain still waiting will read it.
    _drain_at = _queue_drain(ahead=True).run_at.timestamp()


def note_channels_deleted(channel_ids: list[int]) -> None:
    """Schedule removal of deleted channels' documents (call inside the deleting transaction:
    the messages go by cascade, without a job each)."""
    if channel_ids:
        enqueue(PRUNE_JOB, {"channel_ids": sorted(channel_ids)})


@job(PRUNE_JOB, max_attempts=20, backoff_base=2.0, backoff_cap=600.0)
def prune(channel_ids: list[int]) -> None:
    backend = get_backend()
    with transaction.atomic():
        backend.prune(channel_ids)


# A message's mentioned user ids and its attachments' kinds.
Extras = tuple[list[int], list[str]]


def document_for(message: Message, extras: Extras | None = None) -> Document:
    """`extras`: the message's mentions and attachment kinds, read for its whole batch."""
    content = message.content.replace(MARK_START, "").replace(MARK_END, "")
    mentions, files = extras if extras is not None else _extras(message)
    return Document(
        id=message.id,
        # Only guild messages are indexed.
        guild_id=message.channel.guild_id,  # type: ignore[arg-type]
        channel_id=message.channel_id,
        author_id=message.author_id,
        content=content,
        created_at=message.created_at,
        pinned=message.pinned,
        mentions=tuple(sorted(mentions)),
        has=has_kinds(content, tuple(files)),
    )


def _extras(message: Message) -> Extras:
    return (
        list(message.mentions.values_list("id", flat=True)),
        list(message.attachments.values_list("kind", flat=True)),
    )


def _batch_extras(rows: list[Message]) -> dict[int, Extras]:
    """Mentions and attachment kinds of a batch of messages in two queries, not two each."""
    extras: dict[int, Extras] = {m.id: ([], []) for m in rows}
    through = Message.mentions.through.objects.filter(message_id__in=extras)
    for message_id, user_id in through.values_list("message_id", "user_id"):
        extras[message_id][0].append(user_id)
    held = Message.attachments.through.objects.filter(message_id__in=extras)
    for message_id, kind in held.values_list("message_id", "attachment__kind"):
        extras[message_id][1].append(kind)
    return extras


def indexable(message: Message, extras: Extras | None = None) -> bool:
    if message.deleted_at is not None or not indexed_channel(message.channel):
        return False
    if message.content.strip():
        return True
    return bool(extras[1]) if extras is not None else message.attachments.exists()


def sync_messages(message_ids: Iterable[int], backend: SearchBackend | None = None) -> int:
    """Make the index agree with the database for these messages: one upsert of those that
    are indexable, one removal of the rest. Returns how many it upserted."""
    backend = backend or get_backend()
    ids = sorted(set(message_ids))
    rows = list(Message.objects.select_related("channel", "channel__parent").filter(id__in=ids))
    extras = _batch_extras(rows)
    docs = [document_for(m, extras[m.id]) for m in rows if indexable(m, extras[m.id])]
    kept = {d.id for d in docs}
    # A savepoint: on PostgreSQL a failed statement must not poison the caller's transaction.
    with transaction.atomic():
        if docs:
            backend.upsert(docs)
        if len(kept) < len(ids):
            backend.remove([i for i in ids if i not in kept])
    return len(docs)


def sync_message(message_id: int, backend: SearchBackend | None = None) -> str:
    """Make the index agree with the database for one message. Returns what it did."""
    return "upserted" if sync_messages([message_id], backend) else "removed"


@job(JOB, max_attempts=20, backoff_base=2.0, backoff_cap=600.0)
def sync(message_id: int) -> None:
    sync_message(message_id)


def drain_backlog(
    backend: SearchBackend | None = None, *, batch: int | None = None, rounds: int | None = None
) -> int:
    """Index what the backlog holds, `batch` ids at a time. Returns how many ids it drained;
    with more than `rounds` batches waiting it leaves the rest to a fresh drain job."""
    backend = backend or get_backend()
    drained = 0
    for _ in range(rounds or DRAIN_ROUNDS):
        pending = list(
            SearchBacklog.objects.order_by("message_id").values_list("message_id", "version")[
                : batch or DRAIN_BATCH
            ]
        )
        if not pending:
            return drained
        by_version: dict[int, list[int]] = {}
        for message_id, version in pending:
            by_version.setdefault(version, []).append(message_id)
        with transaction.atomic():
            sync_messages([message_id for message_id, _ in pending], backend)
            # Only rows unchanged since they were read: a change committed meanwhile bumped
            # its row's version (or, on PostgreSQL, holds the row until it commits and then
            # has), so that message is drained again with its newer state.
            for version, ids in by_version.items():
                SearchBacklog.objects.filter(version=version, message_id__in=ids).delete()
        drained += len(pending)
    if SearchBacklog.objects.exists():
        _queue_drain(delay=timedelta(0))
    return drained


@periodic(DRAIN_JOB, every=DRAIN_EVERY, max_attempts=20, backoff_base=2.0, backoff_cap=600.0)
def drain() -> None:
    drain_backlog()


def indexable_rows():
    """Live messages with text or files in guild message channels (the type gate in SQL;
    the flag and the registered checks run per channel in `documents`)."""
    files = Message.attachments.through.objects.filter(message_id=OuterRef("pk"))
    return (
        Message.objects.live()
        .filter(Q(content__gt="") | Exists(files))
        .filter(channel__guild__isnull=False, channel__type__in=INDEXED_TYPES)
    )


def documents(batch: int = 2000) -> Iterator[tuple[int, list[Document]]]:
    """Every indexable message as documents, in id order: (rows read, their documents) for
    each `batch` of candidate rows (a row whose channel a check claims yields no document)."""
    last = 0
    base = indexable_rows().select_related("channel", "channel__parent")
    while True:
        rows = list(base.filter(id__gt=last).order_by("id")[:batch])
        if not rows:
            return
        last = rows[-1].id
        extras = _batch_extras(rows)
        out = [document_for(m, extras[m.id]) for m in rows if indexed_channel(m.channel)]
        yield len(rows), out


def reindex(
    backend: SearchBackend | None = None,
    *,
    batch: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild an engine's index from the database. Returns how many documents it holds.
    `progress(rows read, rows to read)` follows the candidate rows, so it ends at 100%."""
    backend = backend or get_backend()
    backend.ensure()
    backend.clear()
    total = indexable_rows().count()
    read = written = 0
    for seen, docs in documents(batch):
        with transaction.atomic():
            backend.upsert(docs)
        read += seen
        written += len(docs)
        if progress:
            progress(read, max(total, read))
    return written
