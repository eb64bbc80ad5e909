"""What our members do in a replica (send, edit, delete, react, pin, start a thread,
leave) goes through the usual services; the events observer hands each event here, and we
send the matching activity to the host's Group as the member's."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from federation import activities, actors, delivery, remote
from federation.models import GuildLink, MessageDelivery, MessageDeliveryState, RemoteJoin
from federation.people import is_remote
from guilds.models import Channel
from messaging.models import Message


def on_local_event(link: GuildLink, t: str, d: dict[str, Any], actor_id: int | None) -> None:
    """A change in a replica made by one of our members (the event's actor): send it to the
    host as theirs. A change with no member behind it (a sweep) is the host's to make. The
    observer hands only local changes here (a mirrored one has its origin set)."""
    if actor_id is None:
        return
    user = User.objects.filter(id=actor_id).first()
    if user is None or is_remote(user):
        return
    group = remote.RemoteActor.objects.filter(uri=link.group_uri).select_related("node").first()
    if group is None:
        return
    me = actors.user_uri(user.username)
    to = [link.group_uri]
    from federation.guildwire import note, note_uri

    if t in {"MESSAGE_CREATE", "MESSAGE_UPDATE"}:
        message = Message.objects.select_related("channel", "author").filter(id=d["id"]).first()
        if message is None:
            return
        kind = "Create" if t == "MESSAGE_CREATE" else "Update"
        if kind == "Create" and message.author_id != user.id:
            return
        doc = note(message)
        if message.author_id != user.id:
            # A moderator's pin of someone else's message: the host refuses an Update whose
            # attributedTo is not its sender (federation.origin), and only `pinned` matters.
            doc.pop("attributedTo", None)
        row = delivery.fan_out(activities.build(kind, me, doc, to=to), [group])
        if kind == "Create":
            MessageDelivery.objects.update_or_create(
                message_id=message.id,
                defaults={"activity": row, "state": MessageDeliveryState.SENDING, "detail": ""},
            )
    elif t == "THREAD_CREATE":
        thread = Channel.objects.filter(id=int(d["id"]), guild=link.guild).first()
        starter = Message.objects.filter(thread=thread).first() if thread else None
        if thread is None or starter is None:
            return
        from federation.guildwire import thread_doc

        delivery.fan_out(
            activities.build("Create", me, thread_doc(thread, starter.id), to=to), [group]
        )
    elif t == "MESSAGE_DELETE":
        tombstone = {
            "id": note_uri(int(d["id"])),
            "type": "Tombstone",
            "messageId": str(d["id"]),
            "channelId": str(d["channel_id"]),
        }
        delivery.fan_out(activities.build("Delete", me, tombstone, to=to), [group])
    elif t in {"MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"}:
        if str(d.get("user_id")) != str(user.id):
            return
        react = activities.build(
            "EmojiReact", me, note_uri(int(d["message_id"])), content=d["emoji"]["name"], to=to
        )
        if t == "MESSAGE_REACTION_REMOVE":
            react = activities.build("Undo", me, react, to=to)
        delivery.fan_out(react, [group])
    elif t == "GUILD_MEMBER_REMOVE" and str((d.get("user") or {}).get("id")) == str(user.id):
        join = RemoteJoin.objects.filter(user=user, group_uri=link.group_uri).last()
        follow_uri = join.activity_uri if join else activities.new_activity_uri()
        delivery.fan_out(activities.undo_follow(me, follow_uri, link.group_uri), [group])
