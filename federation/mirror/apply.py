"""What the host sends: Accept/Reject of our joins and activities, its `GuildState` (applied
by `state.py`), and the `Announce`s of changes in its guild. A change is applied through the
owning app's `do_*` (the same rows and the same gateway event as a local change), inside
`applying(domain)` so its events carry the host as their origin and our observers do not
echo it back."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import User
from federation import remote
from federation.activities import object_id
from federation.guildwire import id_from_uri
from federation.mirror.context import applying, broadcast_message, schedule_sync
from federation.mirror.state import apply_state
from federation.mirror.status import confirm, delivery_event
from federation.models import (
    Activity,
    GuildLink,
    InboxItem,
    InboxState,
    JoinState,
    MessageDelivery,
    MessageDeliveryState,
    RemoteActor,
    RemoteJoin,
)
from federation.people import user_for_actor
from guilds.models import Channel
from guilds.services.access import ChannelAccess
from messaging import markdown
from messaging.models import Message, Reaction
from united.errors import APIError

logger = logging.getLogger(__name__)
Outcome = tuple[str, str]

RESYNC_AFTER_SILENCE = timedelta(minutes=2)


def link_for(group: str) -> GuildLink | None:
    return GuildLink.objects.select_related("guild").filter(group_uri=group).first()


def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome | None:
    """Activities of a Group whose guild we replicate (or want to join), else None."""
    kind = activity["type"]
    inner = activity.get("object")
    if kind in {"Accept", "Reject"} and isinstance(inner, dict):
        join = RemoteJoin.objects.filter(
            activity_uri=object_id(inner) or "", group_uri=actor.uri
        ).first()
        if join is not None:
            join.state = JoinState.ACCEPTED if kind == "Accept" else JoinState.REJECTED
            join.detail = str(activity.get("content") or "")[:300]
            join.save(update_fields=["state", "detail"])
            return InboxState.PROCESSED, f"join {join.state}"
        if kind == "Reject":
            return _refused(inner, str(activity.get("content") or ""), actor.uri)
        return None
    if kind == "Update" and isinstance(inner, dict) and inner.get("type") == "GuildState":
        _after_silence(link_for(actor.uri))
        with applying(remote.domain_of(actor.uri)):
            apply_state(actor.uri, inner)
        return InboxState.PROCESSED, "guild state applied"
    link = link_for(actor.uri)
    if link is None:
        return None
    if kind != "Announce" or not isinstance(inner, dict):
        return InboxState.IGNORED, f"{kind} from a guild is not handled"
    _after_silence(link)
    GuildLink.objects.filter(id=link.id).update(last_heard_at=timezone.now())
    with applying(remote.domain_of(link.group_uri)):
        return apply_announced(link, inner)


def _after_silence(link: GuildLink | None) -> None:
    """The host speaks after a silence (it blocked us, or was down, or the guild was quiet):
    back-fill now, so what we missed meanwhile shows within a minute, not at the next
    periodic sync. Cheap when nothing was missed: one page per channel."""
    if link is None or link.last_heard_at is None:
        return
    if timezone.now() - link.last_heard_at > RESYNC_AFTER_SILENCE:
        schedule_sync(link)


def _refused(inner: dict[str, Any], reason: str, by: str = "") -> Outcome:
    """The host refused one of our activities (a message, an edit…)."""
    row = Activity.objects.filter(uri=object_id(inner) or "").first()
    if row is None:
        return InboxState.IGNORED, "no activity of ours matches the Reject"
    obj = row.payload.get("object")
    if row.type == "Create" and isinstance(obj, dict) and obj.get("type") == "Thread":
        return _thread_refused(obj, reason, by)
    updated = MessageDelivery.objects.filter(activity=row).update(
        state=MessageDeliveryState.FAILED, detail=reason[:300], updated_at=timezone.now()
    )
    if updated:
        delivery_event(MessageDelivery.objects.get(activity=row))
    return InboxState.PROCESSED, f"the host refused {row.type}: {reason}"


def _thread_refused(obj: dict[str, Any], reason: str, by: str) -> Outcome:
    """The host refused a thread one of our members started: the thread we showed while
    waiting goes (it never existed on the host), and its starter message loses the link.
    Only the Group of the thread's guild can refuse it."""
    from messaging.services.dms import broadcast_to_channel

    thread = Channel.objects.filter(
        id=id_from_uri(obj.get("threadId")) or 0, guild__link__group_uri=by
    ).first()
    if thread is None:
        return InboxState.PROCESSED, f"the host refused a thread: {reason}"
    parent = thread.parent
    starter = Message.objects.filter(thread=thread).values_list("id", flat=True).first()
    payload = {
        "id": str(thread.id),
        "guild_id": str(thread.guild_id),
        "parent_id": str(thread.parent_id or ""),
        "type": thread.type,
    }
    with applying(remote.domain_of(by)):
        thread.delete()
        if parent is not None:
            broadcast_to_channel(parent, "CHANNEL_DELETE", payload)
            if starter is not None:
                broadcast_message(starter, "MESSAGE_UPDATE")
    return InboxState.PROCESSED, f"the host refused thread {payload['id']}: {reason}"


def _note_fields(note: dict[str, Any]) -> dict[str, Any]:
    from united.hlc import Stamp

    stamp = Stamp.decode(str(note.get("hlc", "")))
    given = note.get("source")
    source: dict[str, Any] = given if isinstance(given, dict) else {}
    content = str(source.get("content") or "")[:4000]
    fields: dict[str, Any] = {
        "hlc": stamp.pack(),
        "hlc_node": stamp.node[:255],
        "content": content,
        "content_html": markdown.render(content),  # never the remote HTML
        "pinned": bool(note.get("pinned")),
    }
    for name, key in (("expires_at", "expiresAt"), ("edited_at", "edited")):
        value = note.get(key)
        fields[name] = datetime.fromisoformat(value) if isinstance(value, str) else None
    reply = id_from_uri(note.get("inReplyTo"))
    fields["reference_id"] = reply if reply and Message.objects.filter(id=reply).exists() else None
    fields["type"] = Message.REPLY if fields["reference_id"] else Message.DEFAULT
    fields["embeds"] = _remote_embeds(note.get("embeds"))
    return fields


# What a replica keeps of a host's embeds: Discord's count, and a bound on their size. They
# are drawn only through the web client's validator (bots/embeds_view.py), which drops what is not
# Discord's shape, so a hostile host cannot put anything else before a member.
REMOTE_EMBEDS_MAX = 10
REMOTE_EMBEDS_BYTES = 32 * 1024


def _remote_embeds(raw: Any) -> list[dict[str, Any]]:
    import json

    if not isinstance(raw, list) or len(raw) > REMOTE_EMBEDS_MAX:
        return []
    if not all(isinstance(item, dict) for item in raw):
        return []
    if len(json.dumps(raw)) > REMOTE_EMBEDS_BYTES:
        return []
    return raw


def _persona(raw: Any) -> dict[str, Any] | None:
    """A webhook post's persona as the host sent it, or None if the note is not one."""
    webhook_id = id_from_uri(str(raw.get("id") or "")) if isinstance(raw, dict) else None
    if webhook_id is None or webhook_id >= 2**63:
        return None
    avatar = raw.get("avatarUrl")
    ok_avatar = isinstance(avatar, str) and avatar.startswith(("https://", "http://"))
    return {
        "webhook_id": webhook_id,
        "username": str(raw.get("name") or "Webhook")[:80],
        "avatar_url": avatar[:2048] if ok_avatar else None,
    }


def _upsert_webhook_note(
    channel: Channel, message: Message | None, mid: int, fields: dict[str, Any], persona: dict
) -> str:
    """A webhook's post on the host: no author here either, the same persona."""
    from messaging.services.webhook_posts import do_edit_webhook_message, do_post_webhook_message
    from united.hlc import Stamp

    if message is None:
        do_post_webhook_message(
            channel,
            webhook_id=persona["webhook_id"],
            persona={"username": persona["username"], "avatar_url": persona["avatar_url"]},
            content=fields["content"],
            embeds=fields["embeds"],
            message_id=mid,
            stamp=Stamp.unpack(fields["hlc"], fields["hlc_node"]),
            mirrored=True,
        )
        confirm(mid)
        return "created"
    if message.deleted or message.webhook_id != persona["webhook_id"]:
        return "unchanged"
    if fields["content"] == message.content and fields["embeds"] == message.embeds:
        return "unchanged"
    do_edit_webhook_message(
        message,
        content=fields["content"],
        embeds=fields["embeds"],
        edited_at=fields["edited_at"],
        mirrored=True,
    )
    return "updated"


def upsert_note(link: GuildLink, note: dict[str, Any], *, full: bool = False) -> str:
    """Apply one message as the host has it. Returns what happened (for logs and tests)."""
    from messaging.services.messages import do_delete_message

    mid = int(note["messageId"])
    channel = Channel.objects.filter(id=int(note["channelId"]), guild=link.guild).first()
    if channel is None:
        raise LookupError(f"channel {note['channelId']} is not in the replica")
    message = Message.objects.filter(id=mid).first()
    if note.get("type") == "Tombstone":
        if message is None:
            from united.hlc import Stamp

            stamp = Stamp.decode(str(note.get("hlc") or "0-0-"))
            Message.objects.create(
                id=mid,
                channel=channel,
                hlc=stamp.pack(),
                hlc_node=stamp.node,
                deleted_at=timezone.now(),
            )
            return "tombstone"
        if not message.deleted:
            do_delete_message(message, actor=None)
            return "deleted"
        return "unchanged"
    fields = _note_fields(note)
    persona = _persona(note.get("webhook"))
    if persona is not None:
        return _upsert_webhook_note(channel, message, mid, fields, persona)
    author = user_for_actor(str(note["attributedTo"]))
    if message is None:
        message = _create_note(channel, author, mid, fields)
        confirm(mid)
        result = "created"
    elif message.deleted:
        return "unchanged"
    else:
        confirm(mid)
        result = _update_note(message, author, fields)
    if full and isinstance(note.get("reactions"), list):
        _set_reactions(message, note["reactions"])
    return result


def _create_note(channel: Channel, author: User, mid: int, fields: dict[str, Any]) -> Message:
    """A message of the host we do not have, through do_send_message with the host's id and
    stamp. A back-filled message may have been edited or pinned since: that follows as the
    update a client would have seen then."""
    from messaging.services.messages import do_pin, do_send_message
    from united.hlc import Stamp

    reference = Message.objects.filter(id=fields["reference_id"]).first()
    message = do_send_message(
        _author_access(author, channel),
        author,
        fields["content"],
        reference=reference,
        expires_at=fields["expires_at"],
        message_id=mid,
        stamp=Stamp.unpack(fields["hlc"], fields["hlc_node"]),
        mirrored=True,
        embeds=fields["embeds"],
    )
    if fields["edited_at"] is not None:
        Message.objects.filter(id=mid).update(edited_at=fields["edited_at"])
        broadcast_message(mid, "MESSAGE_UPDATE")
    if fields["pinned"]:
        message.refresh_from_db()
        do_pin(message, pinned=True, actor=None)
    return message


def _author_access(author: User, channel: Channel) -> ChannelAccess:
    """The author's access to the replica's channel, for what an edit may mention. The host
    already allowed the edit: when the replica lags (the author's membership not yet here),
    the edit still applies, mentioning no role and not @everyone."""
    from messaging.services.access import access_text_channel

    try:
        return access_text_channel(author, channel.id, channel=channel)
    except APIError:
        return ChannelAccess(None, channel, 0)  # type: ignore[arg-type]


def _update_note(message: Message, author: User, fields: dict[str, Any]) -> str:
    """The host's version of a message we have: its content through do_edit_message and its
    pin through do_pin, so the events are those of a local edit or pin."""
    from messaging.services.messages import do_edit_message, do_pin

    changed = {k: v for k, v in fields.items() if getattr(message, k) != v}
    for same in ("hlc", "hlc_node", "content_html"):
        changed.pop(same, None)
    if not changed:
        return "unchanged"
    content = changed.pop("content", None)
    pinned = changed.pop("pinned", None)
    if content is not None:
        changed.pop("edited_at", None)
    if changed:  # expiry, reply: no service changes these after sending
        Message.objects.filter(id=message.id).update(**changed)
        if content is None:
            broadcast_message(message.id, "MESSAGE_UPDATE")
    if content is not None:
        message.refresh_from_db()
        channel = message.channel
        do_edit_message(
            _author_access(author, channel),
            message,
            content,
            edited_at=fields["edited_at"],
            mirrored=True,
        )
    if pinned is not None:
        message.refresh_from_db()
        do_pin(message, pinned=pinned, actor=None)
    return "updated"


def _set_reactions(message: Message, summary: list[Any]) -> None:
    wanted = set()
    for entry in summary:
        if isinstance(entry, dict):
            for uri in entry.get("actors") or []:
                wanted.add((user_for_actor(str(uri)).id, str(entry.get("emoji", ""))[:64]))
    from messaging.services.reactions import do_add_reaction, do_remove_reaction

    have = set(Reaction.objects.filter(message=message).values_list("user_id", "emoji"))
    for user_id, emoji in have - wanted:
        do_remove_reaction(message, user_id, emoji, actor=None)
    users = User.objects.in_bulk({user_id for user_id, _ in wanted - have})
    for user_id, emoji in wanted - have:
        do_add_reaction(message, users[user_id], emoji, actor=None)


def apply_announced(link: GuildLink, inner: dict[str, Any]) -> Outcome:

    kind = inner.get("type")
    obj = inner.get("object")
    if kind == "Update" and isinstance(obj, dict) and obj.get("type") == "VoiceState":
        from federation.voice import apply_state

        apply_state(link, obj)
        return InboxState.PROCESSED, "voice state"
    if kind in {"Create", "Update"} and isinstance(obj, dict):
        try:
            return InboxState.PROCESSED, upsert_note(link, obj)
        except LookupError as exc:
            schedule_sync(link)
            return InboxState.FAILED, f"{exc}; back-filling"
    if kind == "Delete":
        mid = id_from_uri(obj.get("messageId") if isinstance(obj, dict) else object_id(obj))
        message = Message.objects.filter(id=mid or 0, channel__guild=link.guild).first()
        if message is not None and not message.deleted:
            from messaging.services.messages import do_delete_message

            do_delete_message(message, actor=None)
            return InboxState.PROCESSED, "deleted"
        return InboxState.PROCESSED, "already gone"
    react = obj if kind == "Undo" and isinstance(obj, dict) else inner
    if react.get("type") == "EmojiReact":
        mid = id_from_uri(object_id(react.get("object")))
        message = Message.objects.filter(id=mid or 0, channel__guild=link.guild).first()
        if message is None:
            return InboxState.IGNORED, "reaction to an unknown message"
        from messaging.services.reactions import do_add_reaction, do_remove_reaction

        user = user_for_actor(str(object_id(react.get("actor"))))
        emoji = str(react.get("content") or "")[:64]
        if kind == "Undo":
            do_remove_reaction(message, user.id, emoji, actor=None)
        else:
            do_add_reaction(message, user, emoji, actor=None)
        return InboxState.PROCESSED, f"reaction {kind}"
    ban = obj if kind == "Undo" and isinstance(obj, dict) else inner
    if ban.get("type") == "Block" and object_id(ban.get("actor")) == link.group_uri:
        return _ban(link, ban, lift=kind == "Undo")
    return InboxState.IGNORED, f"announced {kind} is not handled"


def _ban(link: GuildLink, block: dict[str, Any], *, lift: bool) -> Outcome:
    """The host banned (Block) or unbanned (Undo Block) someone: the same do_ban / do_unban as
    a local ban, with no moderator (the host's moderator is the host's to name). The ban
    shows in the replica as it does on the host."""
    from moderation.models import GuildBan
    from moderation.services.sanctions import do_ban, do_unban

    target = object_id(block.get("object"))
    if not target:
        return InboxState.IGNORED, "a ban of nobody"
    user = user_for_actor(target)
    if lift:
        row = GuildBan.objects.filter(guild=link.guild, user=user).first()
        if row is not None:
            do_unban(row, None)
        return InboxState.PROCESSED, f"unbanned {target}"
    if user.id == link.guild.owner_id:
        return InboxState.IGNORED, "the owner cannot be banned"
    do_ban(link.guild, None, user)
    return InboxState.PROCESSED, f"banned {target}"
