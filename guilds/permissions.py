"""Discord's permission bits and its documented algorithm, as pure functions (no ORM).

    base = @everyone.permissions | every role of the member
    owner                       -> ALL
    base has ADMINISTRATOR      -> ALL
    channel overwrites, in order:
        the @everyone overwrite (its id is the guild id): deny, then allow
        all the member's role overwrites OR-ed together:  deny, then allow
        the member's own overwrite:                        deny, then allow
    no VIEW_CHANNEL in the channel -> nothing at all in that channel
    no SEND_MESSAGES in a text channel -> none of the permissions that only make sense when
        sending (mention @everyone, TTS, attachments, embeds), Discord's implicit rule.

A channel whose `permission_synced` flag is set and that sits in a category has no overwrites
of its own: it uses its category's (`effective_overwrites`). Callers (guilds.services) load
the rows and pass plain values in, so this module is checkable line by line against Discord's
documentation and can be property-tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntFlag


class Permissions(IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52


P = Permissions
NONE = 0
ALL = 0
for _flag in Permissions:
    ALL |= int(_flag)

# What @everyone gets in a new guild: Discord's defaults for a community server, without
# mention-everyone (opt in per role on a privacy-first node).
DEFAULT_EVERYONE = int(
    P.CREATE_INSTANT_INVITE
    | P.ADD_REACTIONS
    | P.STREAM
    | P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.USE_EXTERNAL_EMOJIS
    | P.CONNECT
    | P.SPEAK
    | P.USE_VAD
    | P.CHANGE_NICKNAME
    | P.USE_APPLICATION_COMMANDS
    | P.REQUEST_TO_SPEAK
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.USE_EXTERNAL_STICKERS
    | P.SEND_MESSAGES_IN_THREADS
    | P.USE_EMBEDDED_ACTIVITIES
    | P.SEND_VOICE_MESSAGES
    | P.SEND_POLLS
)

# Lost in a text channel without SEND_MESSAGES (Discord's implicit permissions).
NEEDS_SEND_MESSAGES = int(P.MENTION_EVERYONE | P.SEND_TTS_MESSAGES | P.ATTACH_FILES | P.EMBED_LINKS)

OVERWRITE_ROLE = 0
OVERWRITE_MEMBER = 1


@dataclass(frozen=True)
class Overwrite:
    """One channel permission overwrite: `type` 0 targets a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


def has(permissions: int, flag: int) -> bool:
    return permissions & flag == flag


def parse_bitfield(value: object) -> int:
    """A permission bitfield from JSON (Discord sends decimal strings); ValueError if bad."""
    if isinstance(value, bool):
        raise ValueError("not a bitfield")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise ValueError("not a bitfield")
    if number < 0 or number & ~ALL:
        raise ValueError("unknown permission bits")
    return number


def compute_base_permissions(
    *,
    is_owner: bool,
    everyone_permissions: int,
    role_permissions: Iterable[int],
) -> int:
    if is_owner:
        return ALL
    permissions = everyone_permissions
    for role in role_permissions:
        permissions |= role
    if has(permissions, P.ADMINISTRATOR):
        return ALL
    return permissions


def compute_overwrites(
    base_permissions: int,
    *,
    guild_id: int,
    member_id: int,
    member_role_ids: Iterable[int],
    overwrites: Iterable[Overwrite],
) -> int:
    if has(base_permissions, P.ADMINISTRATOR):
        return ALL
    roles: dict[int, Overwrite] = {}
    member: Overwrite | None = None
    for overwrite in overwrites:
        if overwrite.type == OVERWRITE_ROLE:
            roles[overwrite.id] = overwrite
        elif overwrite.id == member_id:
            member = overwrite
    permissions = base_permissions
    everyone = roles.get(guild_id)
    if everyone is not None:
        permissions &= ~everyone.deny
        permissions |= everyone.allow
    allow = deny = NONE
    for role_id in member_role_ids:
        role_overwrite = roles.get(role_id)
        if role_overwrite is not None and role_id != guild_id:
            allow |= role_overwrite.allow
            deny |= role_overwrite.deny
    permissions &= ~deny
    permissions |= allow
    if member is not None:
        permissions &= ~member.deny
        permissions |= member.allow
    return permissions


def compute_permissions(
    *,
    guild_id: int,
    owner_id: int,
    member_id: int,
    member_role_ids: Iterable[int],
    role_permissions: Mapping[int, int],
    overwrites: Iterable[Overwrite] | None = None,
    text_channel: bool = False,
) -> int:
    """Effective permissions of a member, guild-wide (`overwrites` None) or in a channel.

    `role_permissions` maps every role id of the guild (including @everyone, whose id is the
    guild id) to its bitfield; `member_role_ids` are the member's roles besides @everyone.
    """
    role_ids = [r for r in member_role_ids if r != guild_id and r in role_permissions]
    base = compute_base_permissions(
        is_owner=member_id == owner_id,
        everyone_permissions=role_permissions.get(guild_id, NONE),
        role_permissions=(role_permissions[r] for r in role_ids),
    )
    if overwrites is None:
        return base
    permissions = compute_overwrites(
        base,
        guild_id=guild_id,
        member_id=member_id,
        member_role_ids=role_ids,
        overwrites=overwrites,
    )
    if not has(permissions, P.VIEW_CHANNEL):
        return NONE
    if text_channel and not has(permissions, P.SEND_MESSAGES):
        permissions &= ~NEEDS_SEND_MESSAGES
    return permissions


def effective_overwrites(
    own: Iterable[Overwrite],
    parent: Iterable[Overwrite] | None,
    *,
    synced: bool,
) -> list[Overwrite]:
    """A synced channel in a category uses the category's overwrites instead of its own."""
    if synced and parent is not None:
        return list(parent)
    return list(own)
