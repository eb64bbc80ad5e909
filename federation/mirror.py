"""A member's node: the local replica of a guild hosted elsewhere.

Joining: a local user opens an invite link of another node; we show that node's privacy
manifest and the guild, then send `Follow` (with the invite code) to the guild's Group. The
host answers `Accept` or `Reject` by its own rules and sends its `GuildState`.

The replica is ordinary guild rows (same ids as on the host) plus a GuildLink, so the web UI,
the gateway and the permission checks work unchanged; people of other nodes are `name@node`
rows (federation.people). The host is authoritative: its `GuildState` replaces channels,
roles and memberships, and its `Announce`s are applied as they are (no second permission
check: the host already made it). While we apply what the host sent, `applying()` is set, so
our own observers do not echo it back.

What a local member does in a replica (send, edit, delete, react, pin, leave) goes through
the usual services, which check it against the replica (the member's node enforces the
host's permissions for display too); the events observer then sends the matching activity to
the Group, and the message shows `sending` until the host announces it back (`delivered`)
or refuses it (`failed`, with the reason). Back-fill: `sync()` fetches the state and pages the
host's history, newest first, until it reaches what we had before we lost contact.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from federation import activities, actors, delivery, http, remote
from federation.activities import object_id
from federation.guildwire import id_from_uri
from federation.models import (
    Activity,
    DeliveryState,
    GuildLink,
    InboxItem,
    InboxState,
    JoinState,
    MessageDelivery,
    MessageDeliveryState,
    RemoteActor,
    RemoteJoin,
)
from federation.people import actor_uri, is_remote, user_for_actor
from guilds.models import Channel, Guild, Member, PermissionOverwrite, Role
from messaging import markdown
from messaging.models import Message, MessageEdit, Reaction
from united.errors import Forbidden, Invalid, NotFound

logger = logging.getLogger(__name__)
Outcome = tuple[str, str]

_applying: contextvars.ContextVar[bool] = contextvars.ContextVar("fed_applying", default=False)
BACKFILL_MARGIN = timedelta(minutes=10)
BACKFILL_MAX_PAGES = 40
RESYNC_AFTER_SILENCE = timedelta(minutes=2)


@contextlib.contextmanager
def applying() -> Iterator[None]:
    token = _applying.set(True)
    try:
        yield
    finally:
        _applying.reset(token)


def is_applying() -> bool:
    return _applying.get()


# --- joining -------------------------------------------------------------------------------


def parse_invite(raw: Any) -> tuple[str, str]:
    """(domain, code) from an invite link of another node (`https://node/invite/CODE`)."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(errors={"invite": ["Paste an invite link."]})
    parts = urlsplit(raw.strip())
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in {"http", "https"} or len(segments) != 2 or segments[0] != "invite":
        raise Invalid(errors={"invite": ["Expected a link like https://node/invite/CODE."]})
    domain = parts.netloc.lower()
    if domain == settings.FEDERATION_DOMAIN:
        raise Invalid(errors={"invite": ["That invite is for this node: open it directly."]})
    return domain, segments[1]


def _remote_error(exc: Exception, domain: str) -> Exception:
    reason = getattr(exc, "reason", "")
    if reason == "refused":
        return Forbidden(f"This node does not federate with {domain}")
    if reason in {"status", "not_found"}:
        return NotFound("Unknown Invite", code=10006)
    return Invalid(f"Could not reach {domain}: {reason or exc}")


def preview(raw: Any) -> dict[str, Any]:
    """What the member sees before joining: the guild and the host's privacy manifest."""
    from federation import policy

    domain, code = parse_invite(raw)
    if policy.refusal(domain):
        raise Forbidden(f"This node does not federate with {domain}")
    try:
        node = remote.check_node(domain)
        invite, _ = http.get_json(
            f"{settings.FEDERATION_SCHEME}://{domain}/api/v1/invites/{code}",
            sign=False,
            accept="application/json",
        )
    except (http.FetchError, remote.RemoteError) as exc:
        raise _remote_error(exc, domain) from None
    if policy.refusal(domain):  # the manifest we just read may fail our requirements
        raise Forbidden(f"This node does not federate with {domain}: {node.manifest_problems}")
    guild = invite.get("guild") if isinstance(invite.get("guild"), dict) else {}
    if not str(guild.get("id", "")).isdigit():
        raise NotFound("Unknown Invite", code=10006)
    return {
        "domain": domain,
        "code": code,
        "guild": {
            "id": str(guild["id"]),
            "name": str(guild.get("name", ""))[:100],
            "description": str(guild.get("description") or "")[:300],
        },
        "member_count": invite.get("approximate_member_count"),
        "group": f"{settings.FEDERATION_SCHEME}://{domain}/groups/{guild['id']}",
        "manifest": node.manifest,
        "software": node.software or "unknown",
    }


def check_join(user: User, raw: Any) -> RemoteJoin:
    info = preview(raw)
    try:
        group = remote.fetch_actor(info["group"], refresh=True)
    except remote.RemoteError as exc:
        raise _remote_error(exc, info["domain"]) from None
    if group.kind != "Group":
        raise NotFound("Unknown Invite", code=10006)
    return do_join(user, group, int(info["guild"]["id"]), info["code"])


@transaction.atomic
def do_join(user: User, group: RemoteActor, guild_id: int, code: str) -> RemoteJoin:
    payload = activities.follow(actors.user_uri(user.username), group.uri, code)
    join = RemoteJoin.objects.create(
        user=user, group_uri=group.uri, guild_id=guild_id, activity_uri=payload["id"]
    )
    delivery.fan_out(payload, [group])
    return join


def serialize_join(join: RemoteJoin) -> dict[str, Any]:
    return {
        "id": str(join.id),
        "guild_id": str(join.guild_id),
        "group": join.group_uri,
        "state": join.state,
        "detail": join.detail,
    }


# --- what the host sends --------------------------------------------------------------------


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
        with applying():
            apply_state(actor.uri, inner)
        return InboxState.PROCESSED, "guild state applied"
    link = link_for(actor.uri)
    if link is None:
        return None
    if kind != "Announce" or not isinstance(inner, dict):
        return InboxState.IGNORED, f"{kind} from a guild is not handled"
    _after_silence(link)
    GuildLink.objects.filter(id=link.id).update(last_heard_at=timezone.now())
    with applying():
        return apply_announced(link, inner)


def _after_silence(link: GuildLink | None) -> None:
    """The host speaks after a silence (it blocked us, or was down, or the guild was quiet):
    back-fill now, so what we missed meanwhile shows within a minute, not at the next
    periodic sync. Cheap when nothing was missed: one page per channel."""
    if link is None or link.last_heard_at is None:
        return
    if timezone.now() - link.last_heard_at > RESYNC_AFTER_SILENCE:
        _schedule_sync(link)


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
        _delivery_event(MessageDelivery.objects.get(activity=row))
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
    with applying():
        thread.delete()
        if parent is not None:
            broadcast_to_channel(parent, "CHANNEL_DELETE", payload)
            if starter is not None:
                _broadcast(starter, "MESSAGE_UPDATE")
    return InboxState.PROCESSED, f"the host refused thread {payload['id']}: {reason}"


def _link_starters(guild: Guild, channels: list[dict[str, Any]]) -> None:
    """Each thread's starter message (the host's `message_id`) points at it here too."""
    for c in channels:
        mid = int(c["message_id"]) if str(c.get("message_id") or "").isdigit() else None
        if mid is None:
            continue
        cid = int(c["id"])
        Message.objects.filter(thread_id=cid).exclude(id=mid).update(thread=None)
        if (
            Message.objects.filter(id=mid, channel__guild=guild)
            .exclude(thread_id=cid)
            .update(thread_id=cid)
        ):
            _broadcast(mid, "MESSAGE_UPDATE")


def apply_state(group: str, data: dict[str, Any]) -> Guild:
    """Make the replica what the host says: guild, roles, channels, overwrites, members."""
    from guilds.services.members import do_add_member, do_remove_member

    info = data.get("guild") or {}
    gid = int(info["id"])
    if id_from_uri(group) != gid or remote.origin(data.get("id", "")) != remote.origin(group):
        raise ValueError("a guild state must come from the guild's own Group")
    existing = Guild.objects.filter(id=gid).first()
    if existing is not None and not GuildLink.objects.filter(guild=existing, group_uri=group):
        raise ValueError(f"guild {gid} exists here and is not a replica of {group}")
    owner = user_for_actor(str(info["owner"]))
    guild, _ = Guild.objects.update_or_create(
        id=gid,
        defaults={
            "name": str(info.get("name", ""))[:100] or "guild",
            "description": str(info.get("description") or "")[:300],
            "owner": owner,
            "verification_level": int(info.get("verification_level") or 0),
        },
    )
    link, new_link = GuildLink.objects.get_or_create(
        guild=guild, defaults={"group_uri": group, "domain": remote.domain_of(group)}
    )
    if new_link:
        _schedule_sync(link)  # a new replica back-fills the history it joins into
    GuildLink.objects.filter(id=link.id).update(
        last_heard_at=timezone.now(), state_version=int(data.get("revision") or 0)
    )
    role_ids = []
    for r in data.get("roles") or []:
        Role.objects.update_or_create(
            id=int(r["id"]),
            defaults={
                "guild": guild,
                "name": str(r.get("name", ""))[:100],
                "color": int(r.get("color") or 0),
                "position": int(r.get("position") or 0),
                "hoist": bool(r.get("hoist")),
                "mentionable": bool(r.get("mentionable")),
                "permissions": int(r.get("permissions") or 0),
            },
        )
        role_ids.append(int(r["id"]))
    Role.objects.filter(guild=guild).exclude(id__in=role_ids).delete()
    channel_ids = [int(c["id"]) for c in data.get("channels") or []]
    for c in data.get("channels") or []:
        Channel.objects.update_or_create(
            id=int(c["id"]),
            defaults={
                "guild": guild,
                "type": int(c["type"]),
                "name": str(c.get("name", ""))[:100],
                "topic": str(c.get("topic") or "")[:1024],
                "position": int(c.get("position") or 0),
                "nsfw": bool(c.get("nsfw")),
                "rate_limit_per_user": min(21600, int(c.get("rate_limit_per_user") or 0)),
                "default_message_ttl": int(c.get("default_message_ttl") or 0),
                "permission_synced": bool(c.get("permission_synced")),
            },
        )
    for c in data.get("channels") or []:
        parent = int(c["parent_id"]) if str(c.get("parent_id") or "").isdigit() else None
        Channel.objects.filter(id=int(c["id"])).update(
            parent_id=parent if parent in channel_ids else None
        )
    Channel.objects.filter(guild=guild).exclude(id__in=channel_ids).delete()
    _link_starters(guild, data.get("channels") or [])
    default = str(info.get("default_channel_id") or "")
    if default.isdigit() and int(default) in channel_ids:
        Guild.objects.filter(id=gid).update(default_channel_id=int(default))
    wanted: dict[int, list[int]] = {}
    for m in data.get("members") or []:
        user = user_for_actor(str(m["actor"]), str(m.get("username") or ""))
        wanted[user.id] = [int(x) for x in m.get("roles") or [] if int(x) in role_ids]
    PermissionOverwrite.objects.filter(channel__guild=guild).delete()
    for c in data.get("channels") or []:
        for o in c.get("overwrites") or []:
            if "role" in o:
                target, kind = int(o["role"]), PermissionOverwrite.ROLE
            else:
                target, kind = user_for_actor(str(o["member"])).id, PermissionOverwrite.MEMBER
            PermissionOverwrite.objects.create(
                channel_id=int(c["id"]),
                target_id=target,
                type=kind,
                allow=int(o.get("allow") or 0),
                deny=int(o.get("deny") or 0),
            )
    guild.refresh_from_db()
    for member in Member.objects.filter(guild=guild).select_related("user"):
        if member.user_id not in wanted:
            do_remove_member(guild, member.user, actor=None, audit=False)
    for user_id, roles in wanted.items():
        member, _ = do_add_member(guild, User.objects.get(id=user_id))
        member.roles.set(roles)
    return guild


def _note_fields(note: dict[str, Any]) -> dict[str, Any]:
    from united.hlc import Stamp

    stamp = Stamp.decode(str(note.get("hlc", "")))
    source = note.get("source") if isinstance(note.get("source"), dict) else {}
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
    return fields


def _broadcast(message_id: int, t: str) -> None:
    from messaging.services.dms import broadcast_to_channel
    from messaging.services.serialize import prefetched, serialize_message

    message = prefetched(Message.objects.filter(id=message_id)).get()
    broadcast_to_channel(message.channel, t, serialize_message(message))


def upsert_note(link: GuildLink, note: dict[str, Any], *, full: bool = False) -> str:
    """Apply one message as the host has it. Returns what happened (for logs and tests)."""
    from messaging.search.indexing import note_change
    from messaging.services.handles import handle_mentions
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
    author = user_for_actor(str(note["attributedTo"]))
    if message is None:
        message = Message.objects.create(id=mid, channel=channel, author=author, **fields)
        message.mentions.set(handle_mentions(link.guild_id, fields["content"]))  # @name@node
        note_change(message)
        _confirm(mid)
        _broadcast(mid, "MESSAGE_CREATE")
        result = "created"
    elif message.deleted:
        return "unchanged"
    else:
        _confirm(mid)
        changed = {k: v for k, v in fields.items() if getattr(message, k) != v}
        changed.pop("hlc", None), changed.pop("hlc_node", None)
        if not changed:
            result = "unchanged"
        else:
            if "content" in changed:
                MessageEdit.objects.create(message=message, content=message.content)
            Message.objects.filter(id=mid).update(**changed)
            if "content" in changed:
                message.mentions.set(handle_mentions(link.guild_id, fields["content"]))
            note_change(message)
            _broadcast(mid, "MESSAGE_UPDATE")
            result = "updated"
    if full and isinstance(note.get("reactions"), list):
        _set_reactions(message, note["reactions"])
    return result


def _set_reactions(message: Message, summary: list[Any]) -> None:
    wanted = set()
    for entry in summary:
        if isinstance(entry, dict):
            for uri in entry.get("actors") or []:
                wanted.add((user_for_actor(str(uri)).id, str(entry.get("emoji", ""))[:64]))
    have = set(Reaction.objects.filter(message=message).values_list("user_id", "emoji"))
    for user_id, emoji in have - wanted:
        Reaction.objects.filter(message=message, user_id=user_id, emoji=emoji).delete()
    for user_id, emoji in wanted - have:
        Reaction.objects.create(message=message, user_id=user_id, emoji=emoji)


def _confirm(message_id: int) -> None:
    updated = MessageDelivery.objects.filter(
        message_id=message_id, state=MessageDeliveryState.SENDING
    ).update(state=MessageDeliveryState.DELIVERED, updated_at=timezone.now())
    if updated:
        _delivery_event(MessageDelivery.objects.get(message_id=message_id))


def _delivery_event(row: MessageDelivery) -> None:
    from messaging import events

    message = Message.objects.select_related("channel").filter(id=row.message_id).first()
    if message is None or message.author_id is None:
        return
    events.broadcast(
        events.user_group(message.author_id),
        "MESSAGE_DELIVERY_UPDATE",
        {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "guild_id": str(message.channel.guild_id),
            "state": row.state,
            "detail": row.detail,
        },
    )


def apply_announced(link: GuildLink, inner: dict[str, Any]) -> Outcome:
    from messaging.services.dms import broadcast_to_channel

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
            _schedule_sync(link)
            return InboxState.FAILED, f"{exc}; back-filling"
    if kind == "Delete":
        mid = id_from_uri(obj.get("messageId") if isinstance(obj, dict) else object_id(obj))
        message = Message.objects.filter(id=mid, channel__guild=link.guild).first()
        if message is not None and not message.deleted:
            from messaging.services.messages import do_delete_message

            do_delete_message(message, actor=None)
            return InboxState.PROCESSED, "deleted"
        return InboxState.PROCESSED, "already gone"
    react = obj if kind == "Undo" and isinstance(obj, dict) else inner
    if react.get("type") == "EmojiReact":
        mid = id_from_uri(object_id(react.get("object")))
        message = Message.objects.filter(id=mid, channel__guild=link.guild).first()
        if message is None:
            return InboxState.IGNORED, "reaction to an unknown message"
        user = user_for_actor(str(object_id(react.get("actor"))))
        emoji = str(react.get("content") or "")[:64]
        payload = {
            "user_id": str(user.id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "guild_id": str(link.guild_id),
            "emoji": {"id": None, "name": emoji},
        }
        if kind == "Undo":
            deleted, _ = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
            if deleted:
                broadcast_to_channel(message.channel, "MESSAGE_REACTION_REMOVE", payload)
        else:
            _, created = Reaction.objects.get_or_create(message=message, user=user, emoji=emoji)
            if created:
                broadcast_to_channel(message.channel, "MESSAGE_REACTION_ADD", payload)
        return InboxState.PROCESSED, f"reaction {kind}"
    return InboxState.IGNORED, f"announced {kind} is not handled"


# --- what our members do in a replica ---------------------------------------------------------


def on_local_event(link: GuildLink, t: str, d: dict[str, Any], actor_id: int | None) -> None:
    """A change in a replica made by one of our members (the event's actor): send it to the
    host as theirs. A change with no member behind it (a sweep) is the host's to make."""
    if is_applying() or actor_id is None:
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


def delivery_states(message_ids: list[int]) -> dict[int, MessageDelivery]:
    """Delivery state of messages our members sent to remote guilds: a message whose
    activity the engine gave up on (dead) shows as failed."""
    rows = MessageDelivery.objects.filter(message_id__in=message_ids).select_related("activity")
    found = {row.message_id: row for row in rows}
    sending = [r.activity_id for r in found.values() if r.state == MessageDeliveryState.SENDING]
    if sending:
        from federation.models import Delivery

        dead = set(
            Delivery.objects.filter(activity_id__in=sending, state=DeliveryState.DEAD).values_list(
                "activity_id", flat=True
            )
        )
        for row in found.values():
            if row.activity_id in dead and row.state == MessageDeliveryState.SENDING:
                row.state = MessageDeliveryState.FAILED
                row.detail = "The guild's node could not be reached."
    return found


def check_retry(user: User, message_id: int) -> MessageDelivery:
    """Send a failed message again (a new activity; the host ignores a message it has)."""
    message = Message.objects.select_related("channel").filter(id=message_id, author=user).first()
    link = GuildLink.objects.filter(guild_id=message.channel.guild_id).first() if message else None
    row = delivery_states([message_id]).get(message_id)
    if message is None or link is None or row is None or message.deleted:
        raise NotFound("Unknown Message", code=10008)
    if row.state != MessageDeliveryState.FAILED:
        raise Invalid(errors={"_errors": ["Only a failed message can be sent again."]})
    group = RemoteActor.objects.filter(uri=link.group_uri).first()
    if group is None:
        raise Forbidden("This node no longer federates with the guild's node")
    from federation.guildwire import note

    with transaction.atomic():
        activity = delivery.fan_out(
            activities.build("Create", actor_uri(user), note(message), to=[link.group_uri]),
            [group],
        )
        MessageDelivery.objects.filter(message_id=message_id).update(
            activity=activity,
            state=MessageDeliveryState.SENDING,
            detail="",
            updated_at=timezone.now(),
        )
        row = MessageDelivery.objects.get(message_id=message_id)
        _delivery_event(row)
    return row


# --- back-fill --------------------------------------------------------------------------------


def _schedule_sync(link: GuildLink) -> None:
    from jobs.services import enqueue

    transaction.on_commit(
        lambda: enqueue("federation.sync_guild", {"link_id": link.id}, dedupe_key=f"sync:{link.id}")
    )


def sync(link_id: int) -> dict[str, int]:
    """Fetch the host's state and page its history back to before we lost contact.
    Idempotent: messages are upserted by id, so nothing is duplicated."""
    link = GuildLink.objects.select_related("guild").get(id=link_id)
    counts = {"created": 0, "updated": 0, "deleted": 0, "tombstone": 0, "unchanged": 0}
    base = link.group_uri
    if not RemoteActor.objects.filter(uri=base).exists():
        remote.fetch_actor(base)  # purged by a block since: our members' sends need it
    state_doc = remote.fetch_document(f"{base}/state")
    with transaction.atomic(), applying():
        apply_state(base, state_doc)
    since = (link.synced_at or link.last_heard_at or timezone.now()) - BACKFILL_MARGIN
    if link.synced_at is None:
        since = None  # first sync: the whole history the host lets us page
    channels = Channel.objects.filter(guild=link.guild, type__in=(0, 5, 11))
    for channel in channels:
        before: str | None = None
        for _ in range(BACKFILL_MAX_PAGES):
            url = f"{base}/channels/{channel.id}/messages" + (f"?before={before}" if before else "")
            page = remote.fetch_document(url)
            items = [i for i in page.get("orderedItems") or [] if isinstance(i, dict)]
            with transaction.atomic(), applying():
                for note in reversed(items):
                    result = upsert_note(link, note, full=True)
                    counts[result] = counts.get(result, 0) + 1
            if not items or page.get("last"):
                break
            oldest = Message.objects.filter(id=int(items[-1]["messageId"])).first()
            if since is not None and oldest is not None and oldest.created_at < since:
                break
            before = items[-1]["messageId"]
    GuildLink.objects.filter(id=link.id).update(synced_at=timezone.now())
    logger.info("synced %s: %s", link.group_uri, counts)
    return counts


def resume_node(domain: str) -> None:
    """After our operator unblocks `domain`: refetch the actors blocking purged (network
    first, outside any transaction), give its people their memberships back (which sends each
    guild's state to the node), and back-fill our replicas of its guilds now."""
    from federation import policy
    from federation.models import RemoteUser, SuspendedMembership
    from federation.people import restore_node_members

    if policy.refusal(domain):
        return
    uris = set(
        RemoteUser.objects.filter(
            domain=domain,
            user_id__in=SuspendedMembership.objects.filter(domain=domain).values("user_id"),
        ).values_list("actor_uri", flat=True)
    )
    for uri in sorted(uris):
        try:
            remote.fetch_actor(uri)
        except remote.RemoteError as exc:
            logger.info("could not refetch %s after unblocking %s: %s", uri, domain, exc)
    restored = restore_node_members(domain)
    for link in GuildLink.objects.filter(domain=domain):
        sync_all_for(link)
    logger.info("unblocked %s: %s memberships restored, replicas back-filling", domain, restored)


def sync_all_for(link: GuildLink) -> None:
    from jobs.services import enqueue

    with transaction.atomic():
        enqueue("federation.sync_guild", {"link_id": link.id}, dedupe_key=f"sync:{link.id}")


def sync_all() -> None:
    for link in GuildLink.objects.all():
        sync_all_for(link)


def annotate_delivery(messages: list[dict[str, Any]]) -> None:
    """Add `delivery` (state, detail) to the viewer's own messages in remote guilds."""
    mine = [int(m["id"]) for m in messages if m.get("mine")]
    if not mine:
        return
    states = delivery_states(mine)
    for message in messages:
        row = states.get(int(message["id"]))
        if row is not None:
            message["delivery"] = {"state": row.state, "detail": row.detail}


def guild_notice(guild_id: int) -> dict[str, Any] | None:
    """For a replica: is its host defederated by our operator, or unreachable?"""
    from federation.models import NodeStatus, RemoteNode

    link = GuildLink.objects.filter(guild_id=guild_id).first()
    if link is None:
        return None
    node = RemoteNode.objects.filter(domain=link.domain).first()
    if node is None:
        return None
    if node.blocked:
        return {"kind": "defederated", "domain": node.domain}
    if node.status == NodeStatus.UNREACHABLE:
        return {"kind": "offline", "domain": node.domain, "since": node.unreachable_since}
    return None
