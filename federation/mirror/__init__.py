"""A member's node: the local replica of a guild hosted elsewhere.

Joining: a local user opens an invite link of another node; we show that node's privacy
manifest and the guild, then send `Follow` (with the invite code) to the guild's Group. The
host answers `Accept` or `Reject` by its own rules and sends its `GuildState`.

The replica is ordinary guild rows (same ids as on the host) plus a GuildLink, so the web UI,
the gateway and the permission checks work unchanged; people of other nodes are `name@node`
rows (federation.people). The host is authoritative: its `GuildState` replaces channels,
roles and memberships, and its `Announce`s are applied as they are (no second permission
check: the host already made it). While we apply what the host sent, `applying(domain)` is set:
its events carry the host as their origin, so our observers do not echo them back.

What a local member does in a replica (send, edit, delete, react, pin, leave) goes through
the usual services, which check it against the replica (the member's node enforces the
host's permissions for display too); the events observer then sends the matching activity to
the Group, and the message shows `sending` until the host announces it back (`delivered`)
or refuses it (`failed`, with the reason). Back-fill: `sync()` fetches the state and pages the
host's history, newest first, until it reaches what we had before we lost contact.

One module per job: `join` (invite links, Follow), `apply` (what the host sends, applied
through the owning app's `do_*`), `state` (the host's GuildState, through the guilds app's
`do_*`), `outbound` (what our members do, sent to the host),
`backfill` (state and history after a silence) and `status` (delivery state of our
members' messages, the replica's notice). The names below are the package's interface.
"""

from __future__ import annotations

from federation.mirror.apply import apply_announced, handle, link_for, upsert_note
from federation.mirror.backfill import resume_node, sync, sync_all, sync_all_for
from federation.mirror.context import applying, schedule_sync
from federation.mirror.join import check_join, do_join, parse_invite, preview, serialize_join
from federation.mirror.outbound import on_local_event
from federation.mirror.state import apply_state
from federation.mirror.status import (
    annotate_delivery,
    check_retry,
    delivery_states,
    guild_notice,
)

__all__ = [
    "annotate_delivery",
    "apply_announced",
    "apply_state",
    "applying",
    "check_join",
    "check_retry",
    "delivery_states",
    "do_join",
    "guild_notice",
    "handle",
    "link_for",
    "on_local_event",
    "parse_invite",
    "preview",
    "resume_node",
    "schedule_sync",
    "serialize_join",
    "sync",
    "sync_all",
    "sync_all_for",
    "upsert_note",
]
