"""The wire form of federated guilds: the Group actor, its state, and messages as Notes.

A guild hosted here is the ActivityPub `Group` at `/groups/<guild id>`. Guild, channel, role
and message ids are snowflakes and travel as they are, so every node holding a replica uses
the same ids (history cursors, replies, pins and reactions line up without translation);
people travel as actor ids and each node maps them to its own rows (federation.people).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from federation import actors
from federation.people import actor_uri
from guilds.models import Channel, Guild, Member, PermissionOverwrite, Role
from messaging.models import Message
from united.hlc import Stamp

GROUP_PREFIX = "guild-"


def group_uri(guild_id: int) -> str:
    return f"{actors.base_url()}/groups/{guild_id}"


def note_uri(message_id: int) -> str:
    return f"{actors.base_url()}/messages/{message_id}"


def channel_uri(guild_id: int, channel_id: int) -> str:
    return f"{group_uri(guild_id)}/channels/{channel_id}"


def id_from_uri(uri: Any) -> int | None:
    """The snowflake at the end of one of our URIs (`…/messages/<id>`, `…/groups/<id>`)."""
    if not isinstance(uri, str):
        return None
    tail = uri.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() and len(tail) <= 20 else None


def hosted_guild(guild_id: int) -> Guild | None:
    """A guild this node hosts (not a replica of somebody else's)."""
    return Guild.objects.filter(id=guild_id, link__isnull=True).first()


def lookup_group(name: str) -> Guild | None:
    if not name.startswith(GROUP_PREFIX):
        return None
    gid = id_from_uri(name[len(GROUP_PREFIX) :])
    return hosted_guild(gid) if gid else None


def render_group(guild: Guild) -> dict[str, Any]:
    doc = actors.render_actor(group_uri(guild.id), "Group", f"{GROUP_PREFIX}{guild.id}", guild.name)
    doc["manuallyApprovesFollowers"] = True  # joining takes a valid invite
    if guild.description:
        doc["summary"] = guild.description
    return doc


actors.register_actor_kind("guild", lookup_group, render_group)


def state(guild: Guild) -> dict[str, Any]:
    """Everything a member's node needs to show and check the guild: channels with their
    overwrites, roles, and who is a member with which roles. The host is authoritative."""
    roles = list(Role.objects.filter(guild=guild))
    channels = list(Channel.objects.filter(guild=guild).order_by("id"))
    overwrites: dict[int, list[PermissionOverwrite]] = {}
    for row in PermissionOverwrite.objects.filter(channel__guild=guild):
        overwrites.setdefault(row.channel_id, []).append(row)
    members = list(Member.objects.filter(guild=guild).select_related("user"))
    starters = dict(
        Message.objects.filter(thread__guild=guild).values_list("thread_id", "id")
    )  # a thread's starter message: member nodes link it too
    uri_of = {m.user_id: actor_uri(m.user) for m in members}
    member_roles: dict[int, list[str]] = {}
    for member_id, role_id in Member.roles.through.objects.filter(member__guild=guild).values_list(
        "member_id", "role_id"
    ):
        member_roles.setdefault(member_id, []).append(str(role_id))

    def overwrite(row: PermissionOverwrite) -> dict[str, Any] | None:
        if row.type == PermissionOverwrite.MEMBER:
            target = uri_of.get(row.target_id)
            if target is None:
                return None
            return {"member": target, "allow": str(row.allow), "deny": str(row.deny)}
        return {"role": str(row.target_id), "allow": str(row.allow), "deny": str(row.deny)}

    return {
        "id": f"{group_uri(guild.id)}/state",
        "type": "GuildState",
        "revision": int(timezone.now().timestamp() * 1000),
        "guild": {
            "id": str(guild.id),
            "name": guild.name,
            "description": guild.description,
            "owner": uri_of.get(guild.owner_id) or actor_uri(guild.owner),
            "verification_level": guild.verification_level,
            "default_channel_id": str(guild.default_channel_id or ""),
        },
        "channels": [
            {
                "id": str(c.id),
                "type": c.type,
                "name": c.name,
                "topic": c.topic,
                "position": c.position,
                "parent_id": str(c.parent_id or ""),
                "nsfw": c.nsfw,
                "rate_limit_per_user": c.rate_limit_per_user,
                "default_message_ttl": c.default_message_ttl,
                "permission_synced": c.permission_synced,
                "overwrites": [o for o in map(overwrite, overwrites.get(c.id, [])) if o],
                **({"message_id": str(starters[c.id])} if c.id in starters else {}),
            }
            for c in channels
        ],
        "roles": [
            {
                "id": str(r.id),
                "name": r.name,
                "color": r.color,
                "position": r.position,
                "hoist": r.hoist,
                "mentionable": r.mentionable,
                "permissions": str(r.permissions),
            }
            for r in roles
        ],
        "members": [
            {
                "actor": uri_of[m.user_id],
                "username": m.user.username.split("@", 1)[0],
                "nick": m.nick or "",
                "roles": member_roles.get(m.id, []),
            }
            for m in members
        ],
    }


def thread_doc(thread: Channel, starter_id: int) -> dict[str, Any]:
    """A thread a member started on their node, as sent to the guild's host: the thread
    keeps its id (`threadId`) on every node, like a message does."""
    return {
        # A thread always belongs to a guild channel.
        "id": channel_uri(thread.guild_id, thread.id),  # type: ignore[arg-type]
        "type": "Thread",
        # A thread always belongs to a guild channel.
        "audience": group_uri(thread.guild_id),  # type: ignore[arg-type]
        "channelId": str(thread.parent_id),
        "threadId": str(thread.id),
        "messageId": str(starter_id),
        "name": thread.name,
    }


def note(message: Message, *, with_reactions: bool = False) -> dict[str, Any]:
    """A message as our Note. `content` is the host's safe HTML; `source` the Markdown every
    receiving node renders again itself (remote HTML is never trusted)."""
    channel = message.channel
    stamp = Stamp.unpack(message.hlc, message.hlc_node).encode()
    if message.deleted:
        return {
            "id": note_uri(message.id),
            "type": "Tombstone",
            "messageId": str(message.id),
            "channelId": str(channel.id),
            "hlc": stamp,
        }
    doc: dict[str, Any] = {
        "id": note_uri(message.id),
        "type": "Note",
        "attributedTo": actor_uri(message.author) if message.author else group_uri(0),
        # A guild channel here: guild_id is null on DM channels only.
        "audience": group_uri(channel.guild_id),  # type: ignore[arg-type]
        "channelId": str(channel.id),
        "messageId": str(message.id),
        "hlc": stamp,
        "content": message.content_html,
        "mediaType": "text/html",
        "source": {"content": message.content, "mediaType": "text/markdown"},
        "pinned": message.pinned,
    }
    if message.webhook_id:
        # A webhook's post has no author: the guild's Group stands for it, and the persona it
        # posted under travels along (federation.mirror.apply shows it the same way).
        persona = message.persona or {}
        doc["attributedTo"] = group_uri(channel.guild_id)  # type: ignore[arg-type]
        doc["webhook"] = {
            "id": str(message.webhook_id),
            "name": persona.get("username") or "Webhook",
            "avatarUrl": persona.get("avatar_url"),
        }
    if message.embeds:
        doc["embeds"] = message.embeds
    if message.reference_id:
        doc["inReplyTo"] = note_uri(message.reference_id)
    if message.expires_at:
        doc["expiresAt"] = message.expires_at.isoformat()
    if message.edited_at:
        doc["edited"] = message.edited_at.isoformat()
    if with_reactions:
        summary: dict[str, list[str]] = {}
        for reaction in message.reactions.select_related("user"):
            summary.setdefault(reaction.emoji, []).append(actor_uri(reaction.user))
        doc["reactions"] = [{"emoji": e, "actors": a} for e, a in summary.items()]
    return doc
