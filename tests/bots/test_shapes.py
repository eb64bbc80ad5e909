"""Discord's shapes where discord.js reads them more strictly than discord.py (bots/shapes.py;
pure functions, no database)."""

from __future__ import annotations

import pytest

from bots import shapes

pytestmark = pytest.mark.mode_independent

ROLE = {
    "id": "5",
    "name": "Relay",
    "color": 0,
    "hoist": False,
    "position": 1,
    "permissions": "3072",
    "managed": False,
    "mentionable": False,
    "flags": 0,
}


def test_a_managed_role_is_tagged_with_its_bots_id():
    # discord.js finds a bot's own role (`guild.roles.botRoleFor`, `members.me.roles.botRole`)
    # by `tags.bot_id`; Discord sends the bot's user id there.
    out = shapes.role(ROLE, "900")
    assert out["managed"] is True and out["tags"] == {"bot_id": "900"}


def test_a_role_without_tags_has_no_tags_key():
    # discord.js reads any `tags` object as "tagged" (`role.tags` is then {} instead of null).
    out = shapes.role(ROLE)
    assert out["managed"] is False and "tags" not in out


def test_a_guild_tags_only_the_managed_roles():
    everyone = {**ROLE, "id": "100", "name": "@everyone"}
    guild = shapes.guild(
        {"id": "100", "name": "Lab", "roles": [everyone, ROLE], "features": []},
        [],
        managed_roles={"5": "900"},
    )
    by_id = {r["id"]: r for r in guild["roles"]}
    assert by_id["5"]["tags"] == {"bot_id": "900"} and "tags" not in by_id["100"]
    assert guild["features"] == []


def test_a_message_keeps_its_flags():
    base = {
        "id": "1",
        "channel_id": "2",
        "author": {"id": "7", "username": "alice"},
        "content": "hi",
        "timestamp": "2026-01-01T00:00:00+00:00",
    }
    assert shapes.message({**base, "flags": 4})["flags"] == 4  # SUPPRESS_EMBEDS
    assert shapes.message({**base, "flags": None})["flags"] == 0
    assert shapes.message(base)["flags"] == 0
