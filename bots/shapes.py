"""Discord's JSON shapes for bots, from the node's own (which are close to them already).

Pure functions over dicts: the gateway runs them on the hub's loop for every event a bot
receives, so none of them may touch the database. What they add is what bot libraries read
with `data[...]` and would fail without (discord.py 2.7: a user's `discriminator`, a
message's `embeds`/`components`/`flags`, a guild's `emojis`/`stickers`/`threads`…), and the
one rule Discord applies per bot: without the MESSAGE_CONTENT intent, a message that does not
mention the bot arrives with its content (and embeds, attachments, components) empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from media import links

FLAG_BOT_HTTP_INTERACTIONS = 0
# What GET /oauth2/applications/@me and READY say about the application: none of Discord's
# flags (they concern verification and intents granted by Discord staff).
APPLICATION_FLAGS = 0


def user(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": data["id"],
        "username": data.get("username", ""),
        "discriminator": "0",
        "global_name": data.get("global_name"),
        "avatar": data.get("avatar"),
        "bot": bool(data.get("bot", False)),
        "system": False,
        "public_flags": 0,
        "flags": 0,
    }


def member(data: dict[str, Any]) -> dict[str, Any]:
    out = {
        "user": user(data["user"]) if data.get("user") else None,
        "nick": data.get("nick"),
        "avatar": None,
        "roles": list(data.get("roles", [])),
        "joined_at": data.get("joined_at"),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": data.get("communication_disabled_until"),
    }
    if out["user"] is None:
        del out["user"]
    return out


def attachment(data: dict[str, Any], base: str | None = None) -> dict[str, Any]:
    """Discord's attachment: `url` and `proxy_url` absolute and signed for a day, so a bot
    library reads the file without credentials, as from Discord's CDN (media/links.py).
    `base`: the origin the bot reached the node at, when known."""
    out = dict(data)
    if out.get("id"):
        out["url"] = out["proxy_url"] = links.signed_url(int(out["id"]), base=base)
    return out


def message(
    data: dict[str, Any],
    members: dict[int, dict[str, Any]] | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    """A message as Discord sends it. `members`: the guild's members this connection knows
    (user id → member), for the `member` field of a guild message; `base`: the origin its
    attachments' links start with (the node's public one if None)."""
    out = dict(data)
    for ours in ("content_html", "hlc", "deleted", "expires_at"):
        out.pop(ours, None)
    author = data.get("author")
    out["author"] = user(author) if author else None
    out["mentions"] = [user(u) for u in data.get("mentions", [])]
    out.setdefault("mention_roles", [])
    out.setdefault("mention_everyone", False)
    out.setdefault("embeds", [])
    out.setdefault("components", [])
    out["attachments"] = [attachment(a, base) for a in data.get("attachments", [])]
    out.setdefault("sticker_items", [])
    out["flags"] = data.get("flags") or 0
    out["tts"] = False
    out.setdefault("pinned", False)
    out.setdefault("type", 0)
    out.setdefault("edited_timestamp", None)
    if out.get("reactions"):
        # A stored event is the same for every viewer and cannot say whether this bot is among
        # the reactors (the REST routes can, and do); discord.py reads `me` with [].
        out["reactions"] = [
            {
                "me": False,
                "me_burst": False,
                "burst_colors": [],
                "count_details": {"burst": 0, "normal": r.get("count", 0)},
                **r,
            }
            for r in out["reactions"]
        ]
    else:
        out.pop("reactions", None)
    if author and data.get("guild_id") and members is not None:
        found = members.get(int(author["id"]))
        if found is not None:
            out["member"] = {k: v for k, v in member(found).items() if k != "user"}
    if out.get("guild_id") is None:
        out.pop("guild_id", None)
    return out


def blank_content(data: dict[str, Any], bot_id: int) -> dict[str, Any]:
    """What a bot without MESSAGE_CONTENT sees of a message: Discord keeps the content of
    messages the bot wrote, and of messages that mention it, and of DMs to it."""
    author = data.get("author") or {}
    if str(author.get("id")) == str(bot_id):
        return data
    if any(str(u.get("id")) == str(bot_id) for u in data.get("mentions", [])):
        return data
    if not data.get("guild_id"):
        return data
    return {**data, "content": "", "embeds": [], "attachments": [], "components": []}


def role(data: dict[str, Any], bot_id: str | None = None) -> dict[str, Any]:
    """`bot_id`: the bot a managed role was made for. Discord sends `tags` only on roles that
    have some (discord.js reads a present `tags` as "this role is tagged")."""
    out = {
        **data,
        "managed": bot_id is not None,
        "color": data.get("color", 0),
        "flags": data.get("flags", 0),
    }
    out.pop("tags", None)
    if bot_id is not None:
        out["tags"] = {"bot_id": bot_id}
    return out


def channel(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k not in ("default_message_ttl", "permission_synced")}
    out.setdefault("permission_overwrites", [])
    out.setdefault("position", 0)
    out.setdefault("nsfw", False)
    out.setdefault("flags", 0)
    out.setdefault("last_message_id", None)
    return out


def guild(
    data: dict[str, Any],
    members: list[dict[str, Any]],
    *,
    managed_roles: Mapping[str, str] | None = None,
    large: bool = False,
) -> dict[str, Any]:
    """GUILD_CREATE (and GET /guilds/{id}) as discord.py's Guild._from_data reads it."""
    out = {
        k: v
        for k, v in data.items()
        if k not in ("settings", "search_hides_banned", "show_ban_reasons", "tags", "created_at")
    }
    managed = managed_roles or {}
    out["roles"] = [role(r, managed.get(r["id"])) for r in data.get("roles", [])]
    out["channels"] = [channel(c) for c in data.get("channels", [])]
    out["members"] = [member(m) for m in members]
    out.update(
        emojis=[],
        stickers=[],
        threads=[],
        presences=[],
        voice_states=[],
        stage_instances=[],
        guild_scheduled_events=[],
        soundboard_sounds=[],
        large=large,
        unavailable=False,
        afk_channel_id=None,
        afk_timeout=300,
        default_message_notifications=1,
        explicit_content_filter=0,
        mfa_level=0,
        nsfw_level=0,
        premium_tier=0,
        premium_subscription_count=0,
        preferred_locale="en-US",
        system_channel_flags=0,
        rules_channel_id=None,
        public_updates_channel_id=None,
        banner=None,
        splash=None,
        discovery_splash=None,
        vanity_url_code=None,
        application_id=None,
    )
    out.pop("guild_id", None)
    return out
