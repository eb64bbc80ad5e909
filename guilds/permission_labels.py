"""Every permission flag in plain words: its group, a human name and one line saying what it
lets a member do, and where it means something (guild-wide only, or in which channels).

One table, so the role editor, the channel overwrite editor and the "view as role" preview
all say the same thing, and a test can check that no flag of `guilds.permissions` is missing
(a flag added there without a row here would show as a raw name in the editors).

`scope` decides which channel overwrite editors offer a flag: "guild" flags mean nothing in
a channel (Discord ignores them in overwrites), "text" and "voice" only in channels of that
kind, "channel" in every channel. A category's editor offers every channel flag, since its
overwrites flow to the text and voice channels synced with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from guilds.permissions import Permissions as P

GENERAL = "General"
MEMBERSHIP = "Membership"
TEXT = "Text"
VOICE = "Voice"
ADVANCED = "Advanced"
GROUPS = (GENERAL, MEMBERSHIP, TEXT, VOICE, ADVANCED)

GUILD = "guild"
CHANNEL = "channel"
TEXT_ONLY = "text"
VOICE_ONLY = "voice"


@dataclass(frozen=True)
class Label:
    flag: P
    group: str
    name: str
    description: str
    scope: str

    @property
    def bit(self) -> int:
        return int(self.flag)


LABELS: tuple[Label, ...] = (
    # General: seeing the community and looking after its shape.
    Label(
        P.VIEW_CHANNEL,
        GENERAL,
        "View Channels",
        "See the channel and read new messages in it.",
        CHANNEL,
    ),
    Label(
        P.MANAGE_CHANNELS,
        GENERAL,
        "Manage Channels",
        "Create, rename, move and delete channels and categories.",
        CHANNEL,
    ),
    Label(
        P.MANAGE_ROLES,
        GENERAL,
        "Manage Roles",
        "Create and edit roles below their own, and set channel permission overwrites.",
        CHANNEL,
    ),
    Label(
        P.MANAGE_GUILD,
        GENERAL,
        "Manage Community",
        "Change the community's name, description and settings, and manage its invites.",
        GUILD,
    ),
    Label(
        P.VIEW_AUDIT_LOG,
        GENERAL,
        "View Audit Log",
        "Read the record of who changed what in the community.",
        GUILD,
    ),
    Label(
        P.VIEW_GUILD_INSIGHTS,
        GENERAL,
        "View Insights",
        "See the community's activity statistics.",
        GUILD,
    ),
    Label(
        P.VIEW_CREATOR_MONETIZATION_ANALYTICS,
        GENERAL,
        "View Creator Analytics",
        "See subscription statistics (kept for Discord bots; unused here).",
        GUILD,
    ),
    Label(
        P.MANAGE_WEBHOOKS,
        GENERAL,
        "Manage Webhooks",
        "Create, edit and delete webhooks that post into channels.",
        CHANNEL,
    ),
    Label(
        P.MANAGE_GUILD_EXPRESSIONS,
        GENERAL,
        "Manage Expressions",
        "Edit or remove any custom emoji, sticker or sound.",
        GUILD,
    ),
    Label(
        P.CREATE_GUILD_EXPRESSIONS,
        GENERAL,
        "Create Expressions",
        "Add custom emoji, stickers and sounds, and edit their own.",
        GUILD,
    ),
    Label(
        P.MANAGE_EVENTS, GENERAL, "Manage Events", "Edit or cancel any scheduled event.", CHANNEL
    ),
    Label(
        P.CREATE_EVENTS, GENERAL, "Create Events", "Schedule events and edit their own.", CHANNEL
    ),
    # Membership: who is here and what they are called.
    Label(
        P.CREATE_INSTANT_INVITE,
        MEMBERSHIP,
        "Create Invite",
        "Make invite links that bring new people in.",
        CHANNEL,
    ),
    Label(
        P.CHANGE_NICKNAME,
        MEMBERSHIP,
        "Change Nickname",
        "Change their own nickname in this community.",
        GUILD,
    ),
    Label(
        P.MANAGE_NICKNAMES,
        MEMBERSHIP,
        "Manage Nicknames",
        "Change other members' nicknames.",
        GUILD,
    ),
    Label(
        P.KICK_MEMBERS,
        MEMBERSHIP,
        "Kick Members",
        "Remove members; they can come back with an invite.",
        GUILD,
    ),
    Label(
        P.BAN_MEMBERS,
        MEMBERSHIP,
        "Ban Members",
        "Remove members for good and delete their recent messages.",
        GUILD,
    ),
    Label(
        P.MODERATE_MEMBERS,
        MEMBERSHIP,
        "Time Out Members",
        "Stop a member from talking or reacting for a while.",
        GUILD,
    ),
    # Text: messages and what goes in them.
    Label(P.SEND_MESSAGES, TEXT, "Send Messages", "Post messages in text channels.", TEXT_ONLY),
    Label(
        P.SEND_MESSAGES_IN_THREADS,
        TEXT,
        "Send Messages in Threads",
        "Reply inside threads.",
        TEXT_ONLY,
    ),
    Label(
        P.CREATE_PUBLIC_THREADS,
        TEXT,
        "Create Public Threads",
        "Start threads everyone in the channel can see.",
        TEXT_ONLY,
    ),
    Label(
        P.CREATE_PRIVATE_THREADS,
        TEXT,
        "Create Private Threads",
        "Start invite-only threads.",
        TEXT_ONLY,
    ),
    Label(P.EMBED_LINKS, TEXT, "Embed Links", "Links they post show a preview.", TEXT_ONLY),
    Label(
        P.ATTACH_FILES,
        TEXT,
        "Attach Files",
        "Upload pictures and files with their messages.",
        TEXT_ONLY,
    ),
    Label(
        P.ADD_REACTIONS,
        TEXT,
        "Add Reactions",
        "React to messages with new emoji (anyone may join existing ones).",
        TEXT_ONLY,
    ),
    Label(
        P.USE_EXTERNAL_EMOJIS,
        TEXT,
        "Use External Emoji",
        "Use custom emoji from other communities.",
        CHANNEL,
    ),
    Label(
        P.USE_EXTERNAL_STICKERS,
        TEXT,
        "Use External Stickers",
        "Use stickers from other communities.",
        TEXT_ONLY,
    ),
    Label(
        P.MENTION_EVERYONE,
        TEXT,
        "Mention @everyone and All Roles",
        "Notify everyone in the channel, and mention roles that are not mentionable.",
        TEXT_ONLY,
    ),
    Label(P.MANAGE_MESSAGES, TEXT, "Manage Messages", "Delete other members' messages.", TEXT_ONLY),
    Label(
        P.PIN_MESSAGES, TEXT, "Pin Messages", "Pin and unpin messages in the channel.", TEXT_ONLY
    ),
    Label(
        P.MANAGE_THREADS,
        TEXT,
        "Manage Threads",
        "Rename, lock, archive and delete threads.",
        TEXT_ONLY,
    ),
    Label(
        P.READ_MESSAGE_HISTORY,
        TEXT,
        "Read Message History",
        "Read messages sent before they arrived or while away.",
        TEXT_ONLY,
    ),
    Label(
        P.SEND_TTS_MESSAGES,
        TEXT,
        "Send Text-to-Speech Messages",
        "Send messages read aloud to those viewing the channel.",
        TEXT_ONLY,
    ),
    Label(
        P.SEND_VOICE_MESSAGES, TEXT, "Send Voice Messages", "Post recorded voice clips.", TEXT_ONLY
    ),
    Label(P.SEND_POLLS, TEXT, "Create Polls", "Post polls.", TEXT_ONLY),
    Label(
        P.BYPASS_SLOWMODE,
        TEXT,
        "Bypass Slow Mode",
        "Post without waiting for the channel's slow mode.",
        TEXT_ONLY,
    ),
    # Voice: talking, listening and keeping order in voice channels.
    Label(P.CONNECT, VOICE, "Connect", "Join voice channels.", VOICE_ONLY),
    Label(P.SPEAK, VOICE, "Speak", "Talk in voice channels.", VOICE_ONLY),
    Label(P.STREAM, VOICE, "Video", "Share their camera or screen in voice channels.", VOICE_ONLY),
    Label(
        P.USE_VAD,
        VOICE,
        "Use Voice Activity",
        "Talk without holding a push-to-talk key.",
        VOICE_ONLY,
    ),
    Label(
        P.PRIORITY_SPEAKER,
        VOICE,
        "Priority Speaker",
        "Be heard over others, who get quieter while they talk.",
        VOICE_ONLY,
    ),
    Label(
        P.MUTE_MEMBERS,
        VOICE,
        "Mute Members",
        "Silence other members in voice channels.",
        VOICE_ONLY,
    ),
    Label(
        P.DEAFEN_MEMBERS,
        VOICE,
        "Deafen Members",
        "Stop other members from hearing in voice channels.",
        VOICE_ONLY,
    ),
    Label(
        P.MOVE_MEMBERS,
        VOICE,
        "Move Members",
        "Move members between voice channels or disconnect them.",
        VOICE_ONLY,
    ),
    Label(
        P.REQUEST_TO_SPEAK, VOICE, "Request to Speak", "Ask to speak in stage channels.", VOICE_ONLY
    ),
    Label(
        P.USE_SOUNDBOARD,
        VOICE,
        "Use Soundboard",
        "Play soundboard sounds in voice channels.",
        VOICE_ONLY,
    ),
    Label(
        P.USE_EXTERNAL_SOUNDS,
        VOICE,
        "Use External Sounds",
        "Play sounds from other communities' soundboards.",
        VOICE_ONLY,
    ),
    Label(
        P.USE_EMBEDDED_ACTIVITIES,
        VOICE,
        "Use Activities",
        "Start shared activities in voice channels.",
        CHANNEL,
    ),
    # Advanced: powerful or for bots.
    Label(
        P.ADMINISTRATOR,
        ADVANCED,
        "Administrator",
        "Every permission, in every channel, whatever the overwrites say. Grant with care.",
        GUILD,
    ),
    Label(
        P.USE_APPLICATION_COMMANDS, ADVANCED, "Use Commands", "Use bots' slash commands.", CHANNEL
    ),
    Label(
        P.USE_EXTERNAL_APPS,
        ADVANCED,
        "Use External Apps",
        "Let apps they added themselves post replies here.",
        CHANNEL,
    ),
)

BY_FLAG: dict[int, Label] = {label.bit: label for label in LABELS}


def name_of(flag: int) -> str:
    label = BY_FLAG.get(int(flag))
    return label.name if label else str(flag)


def applies_to_channel(label: Label, channel_kind: str) -> bool:
    """`channel_kind` is "text", "voice" or "category" (a category shows every channel flag)."""
    if label.scope == GUILD:
        return False
    if channel_kind == "category" or label.scope == CHANNEL:
        return True
    return label.scope == channel_kind


def grouped(labels: tuple[Label, ...] | list[Label] = LABELS) -> list[tuple[str, list[Label]]]:
    """The labels by group, in GROUPS order, empty groups left out."""
    return [
        (group, [label for label in labels if label.group == group])
        for group in GROUPS
        if any(label.group == group for label in labels)
    ]
