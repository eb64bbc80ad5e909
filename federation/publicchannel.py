"""A guild's public announcement channel, followable from Mastodon-compatible servers.

Each announcement channel that @everyone can see, in a guild this node hosts, is a `Group`
actor at `/announcements/<channel id>` (WebFinger `acct:news-<channel id>@<domain>`). Following
it is accepted at once (`Accept` by the channel actor); `Undo` of the Follow ends it.

A message posted in the channel goes to every follower's (shared) inbox as `Create` of a
`Note` the way Mastodon takes a public post: the activity's and the Note's `to` is
`as:Public`, `cc` the channel's followers collection, `attributedTo` the channel actor (the
activity's actor, as Mastodon checks), `content` is our Markdown rendered to the same safe
HTML the web client shows (nh3-sanitised), `published`/`url` set, and attachments are
`Document`s with `mediaType`, `url` (served without an account, only for such channels) and
`name`. Edits go out as `Update`, deletions as `Delete` of a `Tombstone`.

A reply from there (`Create` of a Note whose `inReplyTo` is one of the channel's Notes) lands
in a thread on that message, authored by the replier's `name@server` account, where the
guild's moderators see and moderate it like any other message. Its HTML is reduced to plain
text before it is stored (our renderer makes the only HTML we ever show).
"""

from __future__ import annotations

import html
import re
from typing import Any, TypeGuard

from django.db import transaction

from federation import activities, actors, delivery
from federation.activities import object_id
from federation.guildwire import id_from_uri
from federation.models import (
    ChannelFollower,
    InboxItem,
    InboxState,
    ReceivedObject,
    RemoteActor,
)
from federation.people import user_for_actor
from guilds import permissions as perms
from guilds.models import Channel, ChannelType, Guild, PermissionOverwrite, Role
from messaging.models import Message

PREFIX = "news-"
PUBLIC = actors.PUBLIC
Outcome = tuple[str, str]


def channel_actor_uri(channel_id: int) -> str:
    return f"{actors.base_url()}/announcements/{channel_id}"


def public_note_uri(message_id: int) -> str:
    return f"{actors.base_url()}/announcements/notes/{message_id}"


def attachment_url(attachment_id: int) -> str:
    return f"{actors.base_url()}/announcements/media/{attachment_id}"


def followable(channel: Channel | None) -> TypeGuard[Channel]:
    """An announcement channel of a guild we host that @everyone may read."""
    if channel is None or channel.type != ChannelType.GUILD_ANNOUNCEMENT or not channel.guild_id:
        return False
    if hasattr(channel.guild, "link"):
        return False
    everyone = Role.objects.filter(id=channel.guild_id).values_list("permissions", flat=True)
    base = everyone.first() or 0
    if perms.has(base, perms.P.ADMINISTRATOR):
        return True
    overwrite = PermissionOverwrite.objects.filter(
        channel=channel, target_id=channel.guild_id
    ).first()
    if overwrite is not None:
        base = (base & ~overwrite.deny) | overwrite.allow
    return perms.has(base, perms.P.VIEW_CHANNEL)


def lookup(name: str) -> Channel | None:
    if not name.startswith(PREFIX) or not name[len(PREFIX) :].isdigit():
        return None
    channel = Channel.objects.select_related("guild").filter(id=int(name[len(PREFIX) :])).first()
    return channel if followable(channel) else None


def render(channel: Channel) -> dict[str, Any]:
    uri = channel_actor_uri(channel.id)
    # Followable channels, the only ones rendered, are guild channels.
    guild: Guild = channel.guild  # type: ignore[assignment]
    doc = actors.render_actor(
        uri, "Group", f"{PREFIX}{channel.id}", f"{guild.name} · #{channel.name}"
    )
    doc["summary"] = html.escape(channel.topic or f"Announcements of {guild.name}")
    doc["url"] = uri
    doc["discoverable"] = True
    return doc


actors.register_actor_kind("announcements", lookup, render)


def public_note(message: Message) -> dict[str, Any]:
    from media.models import Attachment

    uri = channel_actor_uri(message.channel_id)
    doc: dict[str, Any] = {
        "id": public_note_uri(message.id),
        "type": "Note",
        "attributedTo": uri,
        "to": [PUBLIC],
        "cc": [f"{uri}/followers"],
        "content": message.content_html,
        "mediaType": "text/html",
        "published": message.created_at.isoformat().replace("+00:00", "Z"),
        "url": public_note_uri(message.id),
        "sensitive": False,
        "tag": [],
        "attachment": [
            {
                "type": "Document",
                "mediaType": a.content_type,
                "url": attachment_url(a.id),
                "name": a.filename,
            }
            for a in Attachment.objects.filter(messages=message).order_by("id")
        ],
    }
    if message.edited_at:
        doc["updated"] = message.edited_at.isoformat().replace("+00:00", "Z")
    return doc


def on_event(guild_id: int, t: str, d: dict[str, Any]) -> None:
    """Messages of a followed channel go out to its fediverse followers."""
    if t not in {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"}:
        return
    channel_id = int(d.get("channel_id") or 0)
    followers = list(
        RemoteActor.objects.filter(
            id__in=ChannelFollower.objects.filter(channel_id=channel_id).values("actor_id")
        ).select_related("node")
    )
    if not followers:
        return
    uri = channel_actor_uri(channel_id)
    if t == "MESSAGE_DELETE":
        tombstone = {"id": public_note_uri(int(d["id"])), "type": "Tombstone"}
        payload = activities.build("Delete", uri, tombstone, to=[PUBLIC])
    else:
        message = Message.objects.select_related("channel").filter(id=d["id"]).first()
        if (
            message is None
            or message.deleted
            or message.channel.type != ChannelType.GUILD_ANNOUNCEMENT
        ):
            return
        if t == "MESSAGE_UPDATE" and not message.edited_at:
            return  # a pin or a reaction changes nothing a follower sees
        kind = "Create" if t == "MESSAGE_CREATE" else "Update"
        payload = activities.build(
            kind, uri, public_note(message), to=[PUBLIC], cc=[f"{uri}/followers"]
        )
        payload["@context"] = activities.AS2_CONTEXT
    delivery.fan_out(payload, followers)


def _channel_for(uri: str | None) -> Channel | None:
    prefix = f"{actors.base_url()}/announcements/"
    if not uri or not uri.startswith(prefix) or not uri[len(prefix) :].isdigit():
        return None
    channel = Channel.objects.select_related("guild").filter(id=int(uri[len(prefix) :])).first()
    return channel if followable(channel) else None


_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p)\s*/?>", re.I)


def plain_text(value: Any) -> str:
    text = _BREAK.sub("\n", str(value or ""))
    return html.unescape(_TAG.sub("", text)).strip()[:4000]


def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome | None:
    kind = activity["type"]
    inner = activity.get("object")
    if kind == "Follow":
        target = object_id(inner)
        channel = _channel_for(target)
        if channel is None:
            return None
        ChannelFollower.objects.update_or_create(
            channel=channel, actor=actor, defaults={"follow_uri": activity["id"]}
        )
        # The inbox accepts only activities that carry an id.
        delivery.fan_out(activities.accept(target, activity["id"], actor.uri), [actor])  # type: ignore[arg-type]
        return InboxState.PROCESSED, f"{actor.uri} follows #{channel.name}"
    if kind == "Undo" and isinstance(inner, dict) and inner.get("type") == "Follow":
        channel = _channel_for(object_id(inner.get("object")))
        if channel is None:
            return None
        ChannelFollower.objects.filter(channel=channel, actor=actor).delete()
        return InboxState.PROCESSED, "unfollowed"
    if kind == "Create" and isinstance(inner, dict) and inner.get("type") == "Note":
        parent_uri = object_id(inner.get("inReplyTo"))
        prefix = f"{actors.base_url()}/announcements/notes/"
        if not parent_uri or not parent_uri.startswith(prefix):
            return None
        parent = (
            # An id that did not parse matches no row (None filters to nothing).
            Message.objects.select_related("channel").filter(id=id_from_uri(parent_uri)).first()  # type: ignore[misc]
        )
        if parent is None or not followable(parent.channel):
            return InboxState.IGNORED, "a reply to nothing we publish"
        return _reply(parent, inner, actor)
    return None


def _reply(parent: Message, note: dict[str, Any], actor: RemoteActor) -> Outcome:
    from messaging.services.access import access_text_channel
    from messaging.services.messages import do_send_message

    text = plain_text(note.get("content"))
    if not text:
        return InboxState.IGNORED, "an empty reply"
    note_id = object_id(note)
    if not note_id:
        return InboxState.FAILED, "a reply without an id"
    if ReceivedObject.objects.filter(uri=note_id).exists():
        return InboxState.IGNORED, f"already have {note_id}"  # the same Note, a new activity
    author = user_for_actor(actor.uri, actor.username)
    with transaction.atomic():
        received = ReceivedObject.objects.create(uri=note_id)
        thread = parent.thread
        if thread is None:
            thread = Channel.objects.create(
                guild_id=parent.channel.guild_id,
                type=ChannelType.PUBLIC_THREAD,
                name="Replies from the fediverse"[:100],
                parent=parent.channel,
                permission_synced=True,
            )
            Message.objects.filter(id=parent.id).update(thread=thread)
        # Followable channels are guild channels.
        owner = parent.channel.guild.owner  # type: ignore[union-attr]
        access = access_text_channel(owner, thread.id)  # the reply is already public: no gate
        message = do_send_message(access, author, text)
        ReceivedObject.objects.filter(id=received.id).update(message=message)
    return InboxState.PROCESSED, f"reply {message.id} in thread {thread.id}"
