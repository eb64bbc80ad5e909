"""Guild services: every change to a guild, channel, role, member or invite goes through here.

Each `check_*` function loads the actor's standing (`access.guild_context` /
`access_channel`), checks permissions with the pure `guilds.permissions`, validates input
(`united.errors.Invalid` with per-field errors) and writes; in the same transaction it
publishes the domain event (`united.events.broadcast`: stored and sent to the gateway on
commit, Discord's event names and payloads, always with `guild_id`), carrying the audit entry
the change makes (`united.audit.Audit`), which moderation's observer appends to the log.

403 or 404: what a user may not *see* is 404, what they may see but not change is 403.
  - A guild you are not a member of (or that does not exist): 404 Unknown Guild (10004), and
    its channels, roles and members 404 Unknown Channel/Role/Member.
  - A channel you lack VIEW_CHANNEL in: 404 Unknown Channel (10003), even inside your guild,
    and it is absent from channel lists, from GUILD_CREATE and from `visible_channel_ids`
    (which the gateway uses to filter events). Discord answers 403 Missing Access there;
    a privacy-first node does not confirm that a private channel exists.
  - Visible, but a permission or the role hierarchy forbids the change: 403 Missing
    Permissions (50013).
  - Not signed in: 401.

Modules: `access` (who sees what), `guilds`, `channels`, `overwrites`, `roles`, `members`,
`invites`, `directory`.
"""

from guilds.services.access import (
    GuildContext,
    access_channel,
    access_guild,
    guild_context,
    visible_channel_ids,
)

__all__ = [
    "GuildContext",
    "access_channel",
    "access_guild",
    "guild_context",
    "visible_channel_ids",
]
