"""From the outbox to the index.

The index subscribes to the messaging events (`on_event`, registered in messaging.apps): the
MESSAGE_CREATE, MESSAGE_UPDATE and MESSAGE_DELETE a service publishes when it creates, edits,
pins, deletes or expires a message, locally or as a mirrored copy of another node's change,
are heard inside the transaction of that change. Each writes a `messaging.search.sync` job
row in that transaction (jobs.services.enqueue), so the change cannot be committed without
its indexing work, and an outage of the worker or the engine only delays it: the job fails,
stays queued with back-off and runs again later. Only events of a guild's group count: a
direct message's events go to its participants' groups and never schedule anything.

The job carries only the message id. It re-reads the row and makes the engine agree with it:
upsert when the message is live and indexable, remove otherwise (deleted, expired, gone, or in
a channel that is never indexed). That makes it idempotent, so a retry or a duplicate run
converges on one document, never two, and never an old text.

Which channels are indexed is decided by `indexed_channel`, the one gate both the job and
`reindex` pass through, so nothing else can send a document to an engine: only guild text,
announcement and thread channels, never a direct message or group DM (by type, whatever their
rows hold: legacy plaintext or E2E envelopes), never a channel flagged `encrypted` (or whose
parent is, for a thread), never one a registered encryption check claims.

Jobs are deduplicated per message while queued. A job that is already running may have read
the row before this transaction commits, so a change that finds its message's job running
enqueues a second one, which runs after the commit and sees the new state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from guilds.models import Channel, ChannelType
from jobs.models import JobState
from jobs.services import enqueue, job
from messaging.models import Message
from messaging.search import MARK_END, MARK_START, Document, SearchBackend, get_backend
from messaging.search.text import has_kinds
from united.events import Published

JOB = "messaging.search.sync"
PRUNE_JOB = "messaging.search.prune"

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
    messages is of an indexed type (access_text_channel refuses the others), and the job
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
    payload = {"message_id": message_id}
    row = enqueue(JOB, payload, dedupe_key=f"search:{message_id}")
    if row.state != JobState.QUEUED:
        enqueue(JOB, payload)


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


def document_for(message: Message) -> Document:
    content = message.content.replace(MARK_START, "").replace(MARK_END, "")
    mentions = getattr(message, "_search_mentions", None)
    if mentions is None:
        mentions = message.mentions.values_list("id", flat=True)
    files = getattr(message, "_search_files", None)
    if files is None:
        files = message.attachments.values_list("kind", flat=True)
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


def indexable(message: Message) -> bool:
    return (
        message.deleted_at is None
        and (bool(message.content.strip()) or message.attachments.exists())
        and indexed_channel(message.channel)
    )


def sync_message(message_id: int, backend: SearchBackend | None = None) -> str:
    """Make the index agree with the database for one message. Returns what it did."""
    backend = backend or get_backend()
    message = (
        Message.objects.select_related("channel", "channel__parent").filter(id=message_id).first()
    )
    # A savepoint: on PostgreSQL a failed statement must not poison the caller's transaction.
    with transaction.atomic():
        if message is not None and indexable(message):
            backend.upsert([document_for(message)])
            return "upserted"
        backend.remove([message_id])
        return "removed"


@job(JOB, max_attempts=20, backoff_base=2.0, backoff_cap=600.0)
def sync(message_id: int) -> None:
    sync_message(message_id)


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
        mentions: dict[int, list[int]] = {}
        through = Message.mentions.through.objects.filter(message_id__in=[m.id for m in rows])
        for message_id, user_id in through.values_list("message_id", "user_id"):
            mentions.setdefault(message_id, []).append(user_id)
        files: dict[int, list[str]] = {}
        held = Message.attachments.through.objects.filter(message_id__in=[m.id for m in rows])
        for message_id, kind in held.values_list("message_id", "attachment__kind"):
            files.setdefault(message_id, []).append(kind)
        out = []
        for message in rows:
            if not indexed_channel(message.channel):
                continue
            message._search_mentions = mentions.get(message.id, [])
            message._search_files = files.get(message.id, [])
            out.append(document_for(message))
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
