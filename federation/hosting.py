"""The hosting node's side of a federated guild.

Members on other nodes talk to the guild's Group actor: `Follow` (with an invite code) joins,
`Create`/`Update`/`Delete` of a Note, `EmojiReact` and their `Undo` act on messages, `Create`
of a `Thread` starts a thread from a message, `Undo` of the Follow leaves. Each is applied
through the same services a local member's request goes through, as the member's `name@node`
account, so permissions, bans, timeouts, slow mode and automod hold for remote members exactly
as for local ones; a refusal goes back as `Reject` naming the refused activity and the reason.

Every change the guild's gateway group hears (united.events observers) is then announced:
the Group `Announce`s an activity describing it to every node with a member (FEP-1b12 style),
and guild-state changes (members, roles, channels) send the new `GuildState` in an `Update`.
Both are written in the transaction of the change (the delivery engine's outbox).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from federation import activities, actors, delivery
from federation.activities import object_id
from federation.guildwire import group_uri, hosted_guild, id_from_uri, note, note_uri, state
from federation.models import Activity, InboxItem, InboxState, RemoteActor, RemoteUser
from federation.people import actor_uri, user_for_actor
from guilds.models import Guild, Member
from messaging.models import Message
from united.errors import APIError

logger = logging.getLogger(__name__)
Outcome = tuple[str, str]

STATE_EVENTS = frozenset(
    {
        "GUILD_UPDATE",
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_REMOVE",
        "GUILD_MEMBER_UPDATE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "THREAD_CREATE",
        "GUILD_BAN_ADD",
    }
)
BAN_EVENTS = frozenset({"GUILD_BAN_ADD", "GUILD_BAN_REMOVE"})
_pending_state = threading.local()


def member_nodes(guild_id: int, also: list[str] | None = None) -> list[RemoteActor]:
    """One actor per node that has a member in the guild (deliveries go to its shared inbox)."""
    uris = list(
        RemoteUser.objects.filter(user__memberships__guild_id=guild_id).values_list(
            "actor_uri", flat=True
        )
    )
    uris += also or []
    chosen: dict[int, RemoteActor] = {}
    for actor in RemoteActor.objects.filter(uri__in=uris).select_related("node"):
        chosen.setdefault(actor.node_id, actor)
    return list(chosen.values())


def announce(guild_id: int, inner: dict[str, Any], also: list[str] | None = None) -> None:
    recipients = member_nodes(guild_id, also)
    if not recipients:
        return
    group = group_uri(guild_id)
    delivery.fan_out(activities.build("Announce", group, inner, to=[group]), recipients)


def _send_state(guild_id: int, also: list[str]) -> None:
    """One GuildState Update per guild per transaction, carrying the state at commit time:
    later changes in the same transaction rewrite the stored payload."""
    guild = hosted_guild(guild_id)
    if guild is None:
        return
    pending: dict[int, int] = getattr(_pending_state, "rows", None) or {}
    payload_state = state(guild)
    known = pending.get(guild_id)
    if known is not None:
        row = Activity.objects.filter(id=known).first()
        if row is not None:
            row.payload = {**row.payload, "object": payload_state}
            row.save(update_fields=["payload"])
            if also:
                _deliver_also(row, also)
            return
    recipients = member_nodes(guild_id, also)
    if not recipients:
        return
    group = group_uri(guild_id)
    row = delivery.fan_out(activities.build("Update", group, payload_state, to=[group]), recipients)
    pending[guild_id] = row.id
    _pending_state.rows = pending
    transaction.on_commit(lambda: pending.pop(guild_id, None))


def _deliver_also(row: Activity, also: list[str]) -> None:
    from federation.models import Delivery

    for actor in RemoteActor.objects.filter(uri__in=also).select_related("node"):
        Delivery.objects.get_or_create(
            activity=row, inbox=delivery.destination_inbox(actor), defaults={"node": actor.node}
        )


def _user_uri(user_id: Any) -> str | None:
    user = User.objects.filter(id=int(user_id)).first() if user_id else None
    return actor_uri(user) if user else None


def _announce_ban(guild_id: int, target: str, *, lift: bool, also: list[str]) -> None:
    """A ban (Block) or its lifting (Undo Block), so member nodes apply it through their own
    do_ban / do_unban and show the same GUILD_BAN_ADD / GUILD_BAN_REMOVE as here. No reason
    and no moderator: those stay in this node's moderation log."""
    group = group_uri(guild_id)
    block = activities.build("Block", group, target, to=[group])
    if lift:
        block = activities.build("Undo", group, block, to=[group])
    announce(guild_id, block, also)


def on_event(guild_id: int, t: str, d: dict[str, Any]) -> None:
    """A change in a guild this node hosts: tell the nodes of its remote members."""
    if t in STATE_EVENTS or t == "GUILD_BAN_REMOVE":
        also: list[str] = []
        removed = d.get("user") if t in {"GUILD_MEMBER_REMOVE", *BAN_EVENTS} else None
        uri = _user_uri(removed.get("id")) if isinstance(removed, dict) else None
        if uri and not actors.is_local(uri):
            also.append(uri)  # the node of who was removed must hear it too
        if t in BAN_EVENTS and uri:
            _announce_ban(guild_id, uri, lift=t == "GUILD_BAN_REMOVE", also=also)
        if t in STATE_EVENTS:
            _send_state(guild_id, also)
        return
    if t == "VOICE_STATE_UPDATE":
        from federation.voice import announce_state

        announce_state(guild_id, d)
        return
    group = group_uri(guild_id)
    if t in {"MESSAGE_CREATE", "MESSAGE_UPDATE"}:
        message = Message.objects.select_related("channel", "author").filter(id=d["id"]).first()
        if message is None or message.deleted:
            return
        author = actor_uri(message.author) if message.author else group
        kind = "Create" if t == "MESSAGE_CREATE" else "Update"
        announce(guild_id, activities.build(kind, author, note(message), to=[group]))
    elif t == "MESSAGE_DELETE":
        tombstone = {
            "id": note_uri(int(d["id"])),
            "type": "Tombstone",
            "messageId": str(d["id"]),
            "channelId": str(d["channel_id"]),
        }
        announce(guild_id, activities.build("Delete", group, tombstone, to=[group]))
    elif t in {"MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"}:
        who = _user_uri(d.get("user_id"))
        if who is None:
            return
        emoji = d["emoji"]["name"]
        react = activities.build(
            "EmojiReact", who, note_uri(int(d["message_id"])), content=emoji, to=[group]
        )
        if t == "MESSAGE_REACTION_REMOVE":
            react = activities.build("Undo", who, react, to=[group])
        announce(guild_id, react)


# --- activities from members' nodes --------------------------------------------------------


def _guild_of(activity: dict[str, Any]) -> Guild | None:
    """The hosted guild an activity is addressed to (its `to`, or the Group it follows)."""
    targets = activity.get("to") or []
    if isinstance(targets, str):
        targets = [targets]
    if activity.get("type") == "Follow":
        targets = [object_id(activity.get("object"))]
    for target in targets:
        if isinstance(target, str) and target.startswith(group_uri(0)[: -len("0")]):
            gid = id_from_uri(target)
            guild = hosted_guild(gid) if gid else None
            if guild is not None:
                return guild
    return None


def _refuse(guild: Guild, activity: dict[str, Any], actor: RemoteActor, reason: str) -> Outcome:
    delivery.fan_out(activities.reject_activity(group_uri(guild.id), activity, reason), [actor])
    return InboxState.PROCESSED, f"refused: {reason}"


def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome | None:
    """Our guild's business, or None to let the generic handlers have it."""
    guild = _guild_of(activity)
    if guild is None:
        return None
    kind = activity["type"]
    user = user_for_actor(actor.uri, actor.username)
    try:
        if kind == "Follow":
            return _join(guild, activity, actor, user)
        inner = activity.get("object")
        if kind == "Create" and isinstance(inner, dict) and inner.get("type") == "Thread":
            return _create_thread(guild, inner, user, actor)
        if kind == "Create" and isinstance(inner, dict):
            return _create(guild, inner, user, actor)
        if kind == "Update" and isinstance(inner, dict):
            return _update(guild, inner, user)
        if kind == "Delete":
            return _delete(guild, inner, user)
        if kind == "EmojiReact":
            return _react(guild, activity, user, add=True)
        if kind == "Undo" and isinstance(inner, dict):
            if inner.get("type") == "EmojiReact":
                return _react(guild, inner, user, add=False)
            if inner.get("type") == "Follow":
                from guilds.services.members import do_remove_member

                do_remove_member(guild, user, actor=user, audit=False)
                return InboxState.PROCESSED, f"{actor.uri} left"
    except APIError as exc:
        return _refuse(guild, activity, actor, exc.message)
    return InboxState.IGNORED, f"{kind} is not handled for a guild"


def _join(guild: Guild, activity: dict[str, Any], actor: RemoteActor, user: User) -> Outcome:
    from guilds.models import Invite
    from guilds.services.invites import check_accept_invite

    code = activity.get("inviteCode")
    invite = (
        Invite.objects.filter(code=code, guild=guild).first() if isinstance(code, str) else None
    )
    group = group_uri(guild.id)
    if invite is None:
        reason = "Unknown Invite"
    else:
        try:
            check_accept_invite(user, invite.code)
            reason = ""
        except APIError as exc:
            reason = exc.message
    if reason:
        delivery.fan_out(activities.reject(group, item_uri(activity), actor.uri, reason), [actor])
        return InboxState.PROCESSED, f"join refused: {reason}"
    delivery.fan_out(activities.accept(group, item_uri(activity), actor.uri), [actor])
    _send_state(guild.id, [actor.uri])  # whether or not the join was new: they need it now
    return InboxState.PROCESSED, f"{actor.uri} joined"


def item_uri(activity: dict[str, Any]) -> str:
    return str(activity["id"])


def _message_id(inner: Any) -> int | None:
    if isinstance(inner, dict) and inner.get("messageId"):
        try:
            return int(inner["messageId"])
        except (TypeError, ValueError):
            return None
    return id_from_uri(object_id(inner))


def _channel_in(guild: Guild, inner: dict[str, Any]) -> int:
    from guilds.models import Channel

    try:
        channel_id = int(inner.get("channelId") or 0)
    except (TypeError, ValueError):
        channel_id = 0
    if not Channel.objects.filter(id=channel_id, guild=guild).exists():
        raise APIError("Unknown Channel", code=10003, status=404)
    return channel_id


def _create(guild: Guild, inner: dict[str, Any], user: User, actor: RemoteActor) -> Outcome:
    from messaging.services.messages import check_send_message
    from united.hlc import ClockDriftError, Stamp, clock

    channel_id = _channel_in(guild, inner)
    message_id = _message_id(inner)
    if message_id is None:
        raise APIError("A message needs its id", code=50035)
    if id_from_uri(object_id(inner)) != message_id:
        # The Note's id names the message, so a repeated Note (a new activity, the same id)
        # is one message: a second messageId under the same Note id is refused.
        raise APIError("The Note's id and its messageId differ", code=50035)
    if Message.objects.filter(id=message_id).exists():
        return InboxState.PROCESSED, "already have that message"
    try:
        stamp = Stamp.decode(str(inner.get("hlc", "")))
        clock().update(stamp)
    except (ValueError, ClockDriftError) as exc:
        raise APIError(f"Bad HLC stamp: {exc}", code=50035) from None
    if stamp.node != actor.node.domain:
        raise APIError("The HLC stamp is not the sender node's", code=50035)
    source = inner.get("source") if isinstance(inner.get("source"), dict) else {}
    content = source.get("content") if isinstance(source, dict) else None
    reply_to = id_from_uri(inner.get("inReplyTo")) if inner.get("inReplyTo") else None
    ttl = None
    if isinstance(inner.get("expiresAt"), str):
        from datetime import datetime

        try:
            expires = datetime.fromisoformat(inner["expiresAt"])
            ttl = max(1, int((expires - timezone.now()).total_seconds()))
        except ValueError:
            ttl = None
    check_send_message(
        user,
        channel_id,
        content=content,
        reply_to=reply_to,
        ttl_seconds=ttl,
        message_id=message_id,
        stamp=stamp,
    )
    return InboxState.PROCESSED, f"message {message_id} from {actor.uri}"


def _snowflake(raw: Any) -> int | None:
    text = str(raw) if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    return int(text) if text.isdigit() and 0 < int(text) < 2**63 else None


def _create_thread(guild: Guild, inner: dict[str, Any], user: User, actor: RemoteActor) -> Outcome:
    """A member started a thread on their node: start it here, under the member's
    permissions, with the id it has there. The GuildState that follows brings it to every
    member node (the starter message linked through the channel's `message_id`)."""
    from guilds.models import Channel
    from messaging.services.messages import check_start_thread

    channel_id = _channel_in(guild, inner)
    message_id = _snowflake(inner.get("messageId"))
    thread_id = _snowflake(inner.get("threadId"))
    if message_id is None or thread_id is None:
        raise APIError("A thread needs its id and its starter message's id", code=50035)
    if Channel.objects.filter(id=thread_id, guild=guild, starter_message__id=message_id):
        return InboxState.PROCESSED, "already have that thread"
    if Channel.objects.filter(id=thread_id).exists():
        raise APIError("That thread id is taken", code=50035)
    check_start_thread(user, channel_id, message_id, name=inner.get("name"), thread_id=thread_id)
    return InboxState.PROCESSED, f"thread {thread_id} from {actor.uri}"


def _update(guild: Guild, inner: dict[str, Any], user: User) -> Outcome:
    from messaging.services.messages import check_edit_message, check_pin

    channel_id = _channel_in(guild, inner)
    message_id = _message_id(inner)
    # An id that did not parse matches no row (None filters to nothing).
    message = Message.objects.filter(id=message_id, channel_id=channel_id).first()  # type: ignore[misc]
    if message is None:
        raise APIError("Unknown Message", code=10008, status=404)
    source = inner.get("source") if isinstance(inner.get("source"), dict) else {}
    content = source.get("content") if isinstance(source, dict) else None
    if isinstance(content, str) and content != message.content:
        check_edit_message(user, channel_id, message.id, content=content)
    if isinstance(inner.get("pinned"), bool) and inner["pinned"] != message.pinned:
        check_pin(user, channel_id, message.id, pinned=inner["pinned"])
    return InboxState.PROCESSED, f"message {message_id} updated"


def _delete(guild: Guild, inner: Any, user: User) -> Outcome:
    from messaging.services.messages import check_delete_message

    message_id = _message_id(inner)
    # An id that did not parse matches no row (None filters to nothing).
    message = Message.objects.filter(id=message_id, channel__guild=guild).first()  # type: ignore[misc]
    if message is None or message.deleted:
        return InboxState.PROCESSED, "already gone"
    check_delete_message(user, message.channel_id, message.id)
    return InboxState.PROCESSED, f"message {message_id} deleted"


def _react(guild: Guild, react: dict[str, Any], user: User, *, add: bool) -> Outcome:
    from messaging.services.reactions import check_add_reaction, check_remove_reaction

    message_id = _message_id(react.get("object"))
    # An id that did not parse matches no row (None filters to nothing).
    message = Message.objects.filter(id=message_id, channel__guild=guild).first()  # type: ignore[misc]
    if message is None:
        raise APIError("Unknown Message", code=10008, status=404)
    emoji = react.get("content")
    if add:
        check_add_reaction(user, message.channel_id, message.id, emoji)
    else:
        check_remove_reaction(user, message.channel_id, message.id, emoji)
    return InboxState.PROCESSED, f"reaction on {message_id}"


def history_page(
    guild: Guild, channel_id: int, before: int | None, limit: int = 50
) -> dict[str, Any]:
    """A page of a channel's history for a member node's back-fill, newest first, with
    tombstones, edits, pins and reactions, so the replica converges on the host's."""
    rows = Message.objects.filter(channel_id=channel_id, channel__guild=guild)
    if before is not None:
        cursor = Message.objects.filter(id=before).values_list("hlc", "id").first()
        if cursor is not None:
            rows = rows.before(*cursor)
    page = list(rows.select_related("channel", "author").order_by("-hlc", "-id")[:limit])
    return {
        "type": "OrderedCollectionPage",
        "orderedItems": [note(m, with_reactions=True) for m in page],
        "last": len(page) < limit,
    }


def member_node_of(guild: Guild, domain: str) -> bool:
    return Member.objects.filter(guild=guild, user__remote_identity__domain=domain).exists()
