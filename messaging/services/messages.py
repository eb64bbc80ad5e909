"""Sending, editing, deleting and paging messages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services.moves import check_not_moved
from guilds.models import Channel, ChannelType, Member, Role
from guilds.permissions import Permissions as P
from guilds.services.access import ChannelAccess, access_channel, missing_permissions
from messaging import markdown, ports
from messaging.models import Message, MessageEdit
from messaging.ports import check_message_allowed, check_not_timed_out
from messaging.services.access import access_text_channel, can_read_history
from messaging.services.dms import broadcast_to_channel, channel_groups
from messaging.services.handles import handle_mentions
from messaging.services.serialize import prefetched, prepare_page, serialize_message
from united import errors, events, names, ratelimit
from united.errors import APIError, Invalid, NotFound, RateLimited
from united.hlc import clock
from united.ids import parse_snowflake

MAX_LENGTH = 4000
MAX_ATTACHMENTS = 10
MAX_NONCE = 64
MAX_PAGE = 100
MAX_TTL = timedelta(days=7)
SLOWMODE_CODE = 20016
EMPTY_MESSAGE_CODE = 50006
EDIT_OTHERS_CODE = 50005

_USER_MENTION = re.compile(r"<@!?(\d{1,20})>")
_ROLE_MENTION = re.compile(r"<@&(\d{1,20})>")
_EVERYONE = re.compile(r"@(everyone|here)\b")


def unknown_message() -> NotFound:
    return NotFound("Unknown message", code=errors.UNKNOWN_MESSAGE)


def _gid(channel: Channel) -> str | None:
    return str(channel.guild_id) if channel.guild_id else None


def _validate_content(content: Any, *, allow_empty: bool = False) -> str:
    if content is None and allow_empty:
        return ""
    if not isinstance(content, str):
        raise Invalid(errors={"content": ["Must be a string."]})
    if len(content) > MAX_LENGTH:
        raise Invalid(errors={"content": [f"Must be {MAX_LENGTH} or fewer in length."]})
    if not content.strip() and not allow_empty:
        raise APIError("Cannot send an empty message", code=EMPTY_MESSAGE_CODE)
    # "Zalgo" text: a letter under a thousand combining marks draws over its neighbours.
    names.check_marks(content, "content", names.MESSAGE_MARKS_MAX)
    return content


def _claim_attachments(user, channel_id: int, raw: Any) -> list:
    """The sender's own, not yet sent uploads named by `raw` (ids or {id} objects).

    An upload is either unscoped or made for this very channel (`scope=channel:<id>`, as
    docs/media.md offers, so the file is readable by the channel while the message is being
    written); one scoped to another channel or to a DM stays where it was meant to go."""
    from django.db.models import Q

    from media.models import Attachment, Purpose

    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_ATTACHMENTS:
        raise Invalid(errors={"attachments": [f"A list of at most {MAX_ATTACHMENTS}."]})
    parsed = [parse_snowflake(item.get("id") if isinstance(item, dict) else item) for item in raw]
    ids = [i for i in parsed if i is not None]
    if len(ids) != len(parsed):  # not an id, or past 2**63-1 where the database would raise
        raise Invalid(errors={"attachments": ["Each item is an attachment id."]})
    found = list(
        Attachment.objects.filter(
            Q(scope="") | Q(scope=f"channel:{channel_id}"),
            id__in=ids,
            uploader=user,
            purpose=Purpose.ATTACHMENT,
            messages__isnull=True,  # a channel-scoped upload keeps its scope once sent
        ).distinct()
    )
    if len(found) != len(set(ids)):
        raise Invalid(errors={"attachments": ["Unknown, foreign or already sent attachment."]})
    order = {i: n for n, i in enumerate(ids)}
    return sorted(found, key=lambda a: order[a.id])


def _mentions(
    access: ChannelAccess, content: str, *, mirrored: bool = False
) -> tuple[list[int], list[int], bool]:
    """`mirrored`: the content comes from the guild's host, whose `<@id>` are its own user ids
    (people have a row per node), so only `@name@node` handles name people here."""
    guild_id = access.channel.guild_id
    if guild_id is None:  # a DM: only its recipients can be mentioned
        wanted = {int(x) for x in _USER_MENTION.findall(content)}
        ids = access.channel.recipients.filter(id__in=wanted).values_list("id", flat=True)
        return list(ids), [], False
    # Most messages mention nobody: no query is even built for them (the ORM's compiling was
    # a visible share of a send, docs/performance.md).
    wanted_users = set() if mirrored else {int(x) for x in _USER_MENTION.findall(content)}
    users = (
        list(
            Member.objects.filter(guild_id=guild_id, user_id__in=wanted_users).values_list(
                "user_id", flat=True
            )
        )
        if wanted_users
        else []
    )
    users = list(dict.fromkeys([*users, *handle_mentions(guild_id, content)]))  # @name@node
    may_mention_all = bool(access.permissions & P.MENTION_EVERYONE)
    wanted_roles = {int(x) for x in _ROLE_MENTION.findall(content)}
    roles = Role.objects.filter(guild_id=guild_id, id__in=wanted_roles) if wanted_roles else []
    role_ids = [r.id for r in roles if r.mentionable or may_mention_all]
    everyone = bool(_EVERYONE.search(content)) and may_mention_all
    return users, role_ids, everyone


def _check_slowmode(access: ChannelAccess, author) -> None:
    channel = access.channel
    if not channel.rate_limit_per_user:
        return
    if access.permissions & (P.MANAGE_MESSAGES | P.MANAGE_CHANNELS):
        return
    last = (
        Message.objects.filter(channel=channel, author=author)
        .order_by("-id")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is None:
        return
    wait = channel.rate_limit_per_user - (timezone.now() - last).total_seconds()
    if wait > 0:
        raise RateLimited(
            f"Slow mode: you can send again in {wait:.0f}s", code=SLOWMODE_CODE, retry_after=wait
        )


def refuse_plaintext_dm(user, channel_id: int, channel: Channel | None = None) -> None:
    """DMs and encrypted guild channels take no plaintext body (e2e app)."""
    from messaging.services.dms import DM_TYPES, access_dm, e2e_required

    if channel is None:
        channel = Channel.objects.filter(id=channel_id).first()
    if channel is not None and channel.type in DM_TYPES:
        access_dm(user, channel)  # outsiders get 404, as for any DM
        raise e2e_required(channel.id)
    if channel is not None and channel.guild_id is not None:
        # An end-to-end encrypted guild channel (e2e's MLS groups): no plaintext either.
        refusal = ports.plaintext_refusal(channel)
        if refusal is not None:
            access_channel(user, channel.id, channel=channel)  # outsiders get 404 first
            raise refusal


def check_send_message(
    user,
    channel_id: int,
    *,
    content: Any,
    nonce: Any = None,
    reply_to: Any = None,
    ttl_seconds: Any = None,
    attachments: Any = None,
    message_id: int | None = None,
    stamp: Any = None,
    embeds: list[dict[str, Any]] | None = None,
    access: ChannelAccess | None = None,
    gate: Any = None,
    rich: dict[str, Any] | None = None,
) -> tuple[Message, bool]:
    """Validate and send. Returns (message, created); a repeated nonce returns the first.

    `message_id` and `stamp` (an HLC Stamp) are set only by federation, when a guild's host
    applies a message a member wrote on their own node: it keeps the id and stamp it has
    everywhere else.

    `access` and `gate` are given by the gateway's send door (messaging/sending.py), which
    holds the member's permissions and the guild's moderation state in memory: the same
    checks, without reading the rows again."""
    check_not_moved(user)  # a moved account is read-only (accounts.services.moves)
    if access is None:
        channel = Channel.objects.filter(id=channel_id).first()  # read once for every check
        refuse_plaintext_dm(user, channel_id, channel)
    elif access.channel.guild_id is not None:
        # The socket door knows the member sees the channel; an end-to-end encrypted one (e2e's
        # MLS groups, a cached answer) still takes no plaintext, whichever door it comes by.
        refusal = ports.plaintext_refusal(access.channel)
        if refusal is not None:
            raise refusal
    # `embeds` come validated by the door that accepts them (bots/embeds.py).
    content = _validate_content(
        content, allow_empty=bool(attachments or embeds or (rich or {}).get("components"))
    )
    if nonce is not None:
        nonce = str(nonce)
        if not nonce or len(nonce) > MAX_NONCE:
            raise Invalid(errors={"nonce": [f"1 to {MAX_NONCE} characters."]})
    expires_at = None
    if ttl_seconds is not None:
        if (
            not isinstance(ttl_seconds, int)
            or isinstance(ttl_seconds, bool)
            or not (1 <= ttl_seconds <= MAX_TTL.total_seconds())
        ):
            raise Invalid(errors={"ttl": [f"Seconds from 1 to {int(MAX_TTL.total_seconds())}."]})
        expires_at = timezone.now() + timedelta(seconds=ttl_seconds)
    if access is None:
        access = access_text_channel(user, channel_id, channel=channel)
    access.require(P.SEND_MESSAGES)
    if nonce is not None:
        # A retry of a message already accepted is answered with it and not judged again.
        # Read whole here, so answering the retry needs no query afterwards.
        existing = prefetched(
            Message.objects.filter(channel=access.channel, author=user, nonce=nonce)
        ).first()
        if existing is not None:
            return existing, False
    # Moderation (timeouts, automod) decides before the write transaction opens, so what it
    # records about a refused message outlives the refusal.
    check_message_allowed(user, channel_id, content, access=access, gate=gate)
    try:
        with transaction.atomic():
            files = _claim_attachments(user, access.channel.id, attachments)
            if files:
                access.require(P.ATTACH_FILES)
            reference = None
            if reply_to is not None:
                if not can_read_history(access):
                    raise missing_permissions("READ_MESSAGE_HISTORY")
                try:
                    reference = Message.objects.get(id=int(reply_to), channel=access.channel)
                except (Message.DoesNotExist, ValueError, TypeError):
                    raise Invalid(errors={"message_reference": ["Unknown message"]}) from None
            _check_slowmode(access, user)
            ratelimit.limit_user("message", user.id, channel_id=access.channel.id)
            if expires_at is None and access.channel.default_message_ttl:
                expires_at = timezone.now() + timedelta(seconds=access.channel.default_message_ttl)
            message = do_send_message(
                access,
                user,
                content,
                nonce=nonce,
                reference=reference,
                expires_at=expires_at,
                attachments=files,
                message_id=message_id,
                stamp=stamp,
                embeds=embeds,
                rich=rich,
            )
    except IntegrityError:
        # A concurrent retry with the same nonce won the race: that one is the message. The
        # transaction rolled back whole (it had written nothing else), so no savepoint is
        # needed around the write for this rare case.
        if nonce is None:
            raise
        existing = prefetched(
            Message.objects.filter(channel=access.channel, author=user, nonce=nonce)
        ).first()
        if existing is None:
            raise
        return existing, False
    return message, True


def do_send_message(
    access: ChannelAccess,
    author,
    content: str,
    *,
    nonce: str | None = None,
    reference: Message | None = None,
    expires_at=None,
    attachments: list | None = None,
    message_id: int | None = None,
    stamp: Any = None,
    mirrored: bool = False,
    embeds: list[dict[str, Any]] | None = None,
    rich: dict[str, Any] | None = None,
) -> Message:
    """`mirrored`: a message of a guild hosted by another node, applied here with the host's
    id and stamp; the node applies it (no acting user) and its remote author reads nothing
    here. `rich`: Message fields an adapter validated (an interaction's answer: components,
    flags, application_id, interaction)."""
    users, roles, everyone = _mentions(access, content, mirrored=mirrored)
    stamp = stamp or clock().now()
    extra = {"id": message_id} if message_id is not None else {}
    message = Message.objects.create(
        **extra,
        channel=access.channel,
        author=author,
        content=content,
        content_html=markdown.render(content),
        hlc=stamp.pack(),
        hlc_node=stamp.node,
        nonce=nonce,
        reference=reference,
        mention_everyone=everyone,
        type=Message.REPLY if reference else Message.DEFAULT,
        expires_at=expires_at,
        **{"embeds": embeds or [], **(rich or {})},
    )
    if users:
        message.mentions.set(users)
    if roles:
        message.mention_roles.set(roles)
    if attachments:
        from media.models import Attachment

        # From now on the files are readable by whoever can read this channel.
        Attachment.objects.filter(id__in=[a.id for a in attachments]).update(
            scope=f"channel:{access.channel.id}"
        )
        message.attachments.set(attachments)
    from guilds.services.guilds import note_activity
    from messaging.services.readstates import do_mark_read

    if access.channel.guild_id:
        note_activity(access.channel.guild_id)
    if not mirrored:
        do_mark_read(author, access.channel, message.id, notify=False)
    if access.channel.type == ChannelType.PUBLIC_THREAD:
        from messaging.services.threads import follow_on_send

        follow_on_send(access.channel, None if mirrored else author, users)
    if users or roles or attachments:
        message = prefetched(Message.objects.filter(id=message.id)).get()
    else:
        # The common message mentions nobody and carries no file: what serializing it needs
        # is already in hand (five queries fewer per send): what `prefetched` would have read.
        for name in ("reactions", "mentions", "mention_roles", "attachments"):
            setattr(message, f"prefetched_{name}", [])
    broadcast_to_channel(
        access.channel,
        "MESSAGE_CREATE",
        serialize_message(message),
        actor=None if mirrored else author,
    )
    return message


def access_message(user, channel_id: int, message_id: int) -> tuple[ChannelAccess, Message]:
    access = access_text_channel(user, channel_id)
    if not can_read_history(access):
        raise unknown_message()
    try:
        message = prefetched(Message.objects.filter(id=message_id, channel=access.channel)).get()
    except Message.DoesNotExist:
        raise unknown_message() from None
    return access, message


def get_message(user, channel_id: int, message_id: int) -> dict[str, Any]:
    _, message = access_message(user, channel_id, message_id)
    return serialize_message(message, viewer_id=user.id)


def check_edit_message(
    user,
    channel_id: int,
    message_id: int,
    *,
    content: Any,
    embeds: list[dict[str, Any]] | None = None,
    rich: dict[str, Any] | None = None,
) -> Message:
    """`embeds` (validated by their door) replace the message's; None keeps them, and then
    `content` None keeps the text (Discord's PATCH with only embeds). `rich`: other fields a
    door validated (a bot's `components`), replaced the same way."""
    refuse_plaintext_dm(user, channel_id)
    if content is not None or (embeds is None and not rich):
        content = _validate_content(
            content, allow_empty=bool(embeds or (rich or {}).get("components"))
        )
    with transaction.atomic():
        access, message = access_message(user, channel_id, message_id)
        if message.author_id != user.id:
            raise APIError(
                "Cannot edit a message authored by another user", code=EDIT_OTHERS_CODE, status=403
            )
        if message.deleted:
            raise unknown_message()
        if content is None:
            content = message.content
        changed = (embeds is not None and embeds != message.embeds) or any(
            getattr(message, k) != v for k, v in (rich or {}).items()
        )
        if content != message.content or changed:
            ratelimit.limit_user("edit", user.id, channel_id=access.channel.id)
        return do_edit_message(access, message, content, embeds=embeds, rich=rich)


def do_edit_message(
    access: ChannelAccess,
    message: Message,
    content: str,
    *,
    edited_at: datetime | None = None,
    mirrored: bool = False,
    embeds: list[dict[str, Any]] | None = None,
    rich: dict[str, Any] | None = None,
) -> Message:
    """`mirrored`: the edit was made on the guild's host node (the node applies it, so the
    event has no acting user), at the host's `edited_at`. `embeds` None: unchanged. `rich`:
    other Message fields an adapter validated and changes with the content (an interaction's
    update of its message)."""
    if embeds is not None:
        rich = {**(rich or {}), "embeds": embeds}
    rich = {k: v for k, v in (rich or {}).items() if getattr(message, k) != v}
    if content == message.content and not rich:
        return message
    for key, value in rich.items():
        setattr(message, key, value)
    if content == message.content:
        # Only what rides with the text changed: no edit history entry, mentions as they were.
        message.edited_at = edited_at or timezone.now()
        message.save(update_fields=["edited_at", *rich])
        message = prefetched(Message.objects.filter(id=message.id)).get()
        actor = None if mirrored else message.author_id
        broadcast_to_channel(
            access.channel, "MESSAGE_UPDATE", serialize_message(message), actor=actor
        )
        return message
    MessageEdit.objects.create(message=message, content=message.content)
    users, roles, everyone = _mentions(access, content, mirrored=mirrored)
    message.content = content
    message.content_html = markdown.render(content)
    message.edited_at = edited_at or timezone.now()
    message.mention_everyone = everyone
    message.save(update_fields=["content", "content_html", "edited_at", "mention_everyone", *rich])
    message.mentions.set(users)
    message.mention_roles.set(roles)
    message = prefetched(Message.objects.filter(id=message.id)).get()
    # Only its author edits a message.
    actor = None if mirrored else message.author_id
    broadcast_to_channel(access.channel, "MESSAGE_UPDATE", serialize_message(message), actor=actor)
    return message


def check_delete_message(user, channel_id: int, message_id: int) -> None:
    with transaction.atomic():
        access, message = access_message(user, channel_id, message_id)
        if message.deleted:
            raise unknown_message()
        if message.author_id != user.id:
            access.require(P.MANAGE_MESSAGES)
        do_delete_message(message, actor=user)


def do_delete_message(message: Message, *, actor: Any, hard: bool = False) -> None:
    """Soft delete leaves a tombstone (id, author, time) so replies and federated copies still
    line up; the content, its edit history, reactions and attachments are gone. `hard` (TTL
    expiry) removes the row altogether."""
    from media.services import do_delete_attachment

    channel = message.channel
    payload = {
        "id": str(message.id),
        "channel_id": str(channel.id),
        "guild_id": _gid(channel),
    }
    for attachment in list(message.attachments.all()):
        do_delete_attachment(attachment)
    if hard:
        message.delete()
    else:
        message.edits.all().delete()
        message.reactions.all().delete()
        message.mentions.clear()
        message.mention_roles.clear()
        Message.objects.filter(id=message.id).update(
            content="", content_html="", deleted_at=timezone.now(), pinned=False
        )
    broadcast_to_channel(channel, "MESSAGE_DELETE", payload, actor=actor)


def _cursor(channel: Channel, message_id: Any, name: str) -> tuple[int, int]:
    try:
        row = (
            Message.objects.filter(channel=channel, id=int(message_id))
            .values_list("hlc", "id")
            .get()
        )
    except (Message.DoesNotExist, ValueError, TypeError):
        raise Invalid(errors={name: ["Unknown message"]}) from None
    return row


def history(
    user,
    channel_id: int,
    *,
    before: Any = None,
    after: Any = None,
    around: Any = None,
    limit: Any = 50,
) -> list[dict[str, Any]]:
    """Discord's GET /channels/{id}/messages: newest first, at most 100, by (hlc, id)."""
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise Invalid(errors={"limit": ["Must be a number."]}) from None
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(errors={"limit": [f"From 1 to {MAX_PAGE}."]})
    if sum(x is not None for x in (before, after, around)) > 1:
        raise Invalid(errors={"_errors": ["Use only one of before, after and around."]})
    access = access_text_channel(user, channel_id)
    if not can_read_history(access):
        return []
    base = Message.objects.filter(channel=access.channel)
    if before is not None:
        hlc, mid = _cursor(access.channel, before, "before")
        rows = list(base.before(hlc, mid).order_by("-hlc", "-id")[:limit])
    elif after is not None:
        hlc, mid = _cursor(access.channel, after, "after")
        rows = list(base.after(hlc, mid).order_by("hlc", "id")[:limit])[::-1]
    elif around is not None:
        hlc, mid = _cursor(access.channel, around, "around")
        older = list(
            base.before(hlc, mid, inclusive=True).order_by("-hlc", "-id")[: (limit + 1) // 2]
        )
        newer = list(base.after(hlc, mid).order_by("hlc", "id")[: limit // 2])[::-1]
        rows = newer + older
    else:
        rows = list(base.order_by("-hlc", "-id")[:limit])
    prepare_page(rows, access.channel)
    return [serialize_message(m, viewer_id=user.id) for m in rows]


def check_pin(user, channel_id: int, message_id: int, *, pinned: bool) -> None:
    with transaction.atomic():
        access, message = access_message(user, channel_id, message_id)
        if access.ctx is not None:  # in a DM any participant may pin
            access.require(P.MANAGE_MESSAGES)
        if message.deleted:
            raise unknown_message()
        do_pin(message, pinned=pinned, actor=user)


def do_pin(message: Message, *, pinned: bool, actor: Any) -> bool:
    """Pin or unpin; False if it already was. `actor` None: the guild's host node did it."""
    if message.pinned == pinned:
        return False
    channel = message.channel
    message.pinned = pinned
    message.save(update_fields=["pinned"])
    broadcast_to_channel(channel, "MESSAGE_UPDATE", serialize_message(message), actor=actor)
    broadcast_to_channel(
        channel,
        "CHANNEL_PINS_UPDATE",
        {
            "channel_id": str(channel.id),
            "guild_id": _gid(channel),
            "last_pin_timestamp": timezone.now().isoformat(),
        },
    )
    return True


def pins(user, channel_id: int) -> list[dict[str, Any]]:
    access = access_text_channel(user, channel_id)
    if not can_read_history(access):
        return []
    rows = prefetched(Message.objects.live().filter(channel=access.channel, pinned=True))
    return [serialize_message(m, viewer_id=user.id) for m in rows.order_by("-hlc", "-id")]


def check_typing(user, channel_id: int) -> None:
    access = access_text_channel(user, channel_id)
    access.require(P.SEND_MESSAGES)
    check_not_timed_out(user, access.channel)
    payload = {
        "channel_id": str(access.channel.id),
        "guild_id": _gid(access.channel),
        "user_id": str(user.id),
        "timestamp": int(timezone.now().timestamp()),
    }
    for group in channel_groups(access.channel):
        events.broadcast_ephemeral(group, "TYPING_START", payload)


def check_start_thread(
    user, channel_id: int, message_id: int, *, name: Any, thread_id: int | None = None
) -> Channel:
    """Start a public thread from a guild channel message.

    `thread_id` is set only by federation, when a guild's host applies a thread a member
    started on their own node: the thread keeps the id it has there."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise Invalid(errors={"name": ["1 to 100 characters."]})
    with transaction.atomic():
        access, message = access_message(user, channel_id, message_id)
        access.require(P.SEND_MESSAGES)
        access.require(P.CREATE_PUBLIC_THREADS)
        check_not_timed_out(user, access.channel)
        if access.channel.type == ChannelType.PUBLIC_THREAD or access.ctx is None:
            raise Invalid(errors={"_errors": ["Threads start from guild channel messages."]})
        if message.thread_id:
            raise APIError("A thread has already been created for this message", code=160004)
        if thread_id is not None and Channel.objects.filter(id=thread_id).exists():
            raise Invalid(errors={"thread_id": ["That id is taken."]})
        thread = Channel.objects.create(
            **({"id": thread_id} if thread_id is not None else {}),
            guild_id=access.channel.guild_id,
            type=ChannelType.PUBLIC_THREAD,
            name=name.strip(),
            parent=access.channel,
            permission_synced=True,
            position=0,
        )
        message.thread = thread
        message.save(update_fields=["thread"])
        from messaging.services.threads import do_follow_thread

        do_follow_thread(user, thread)
        from guilds.serialize import serialize_channel

        payload = serialize_channel(thread)
        broadcast_to_channel(access.channel, "THREAD_CREATE", payload, actor=user)
        broadcast_to_channel(
            access.channel, "MESSAGE_UPDATE", serialize_message(message), actor=user
        )
        return thread


def expire_due(now=None, batch: int = 500) -> int:
    """Hard-delete messages whose TTL ran out, telling connected clients."""
    now = now or timezone.now()
    done = 0
    for message in Message.objects.filter(expires_at__lte=now).select_related("channel")[:batch]:
        with transaction.atomic():
            do_delete_message(message, actor=None, hard=True)
        done += 1
    return done
