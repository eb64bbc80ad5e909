"""What the bot gateway lets through to a bot, and in which shape (bots/consumers.py
`translate`, the step between the hub and a bot's socket; no database involved)."""

from __future__ import annotations

import pytest

from bots import consumers
from bots.consumers import BotGatewayConsumer

pytestmark = pytest.mark.mode_independent

BOT = 900
GUILD = "100"
ALL = consumers.ALL_INTENTS


def conn(intents: int) -> BotGatewayConsumer:
    c = BotGatewayConsumer()
    c.intents = intents
    c.user_id = BOT
    c.members = {
        int(GUILD): {
            7: {"user": {"id": "7", "username": "alice"}, "roles": ["5"], "joined_at": "x"}
        }
    }
    return c


def message(content: str = "secret", mentions: list | None = None, author: str = "7") -> dict:
    return {
        "id": "1",
        "channel_id": "2",
        "guild_id": GUILD,
        "author": {"id": author, "username": "alice", "global_name": None, "avatar": None},
        "content": content,
        "content_html": "<p>secret</p>",
        "mentions": mentions or [],
        "mention_roles": [],
        "attachments": [],
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "pinned": False,
        "type": 0,
        "hlc": "x",
        "deleted": False,
    }


@pytest.mark.parametrize(
    "t",
    [
        "E2E_ENVELOPE_CREATE",
        "DEVICE_MESSAGE_CREATE",
        "MESSAGE_ACK",
        "PREKEYS_LOW",
        "VOICE_SERVER_UPDATE",
        "MESSAGE_DELIVERY_UPDATE",
    ],
)
def test_what_is_not_a_bots_business_never_reaches_it(t):
    assert conn(ALL).translate(t, {"id": "1", "ciphertext": "AAAA"}) is None


def test_a_message_in_discords_shape_with_its_member():
    out = conn(ALL).translate("MESSAGE_CREATE", message())
    assert out["content"] == "secret"
    assert out["author"]["discriminator"] == "0" and out["author"]["bot"] is False
    assert out["member"]["roles"] == ["5"] and "user" not in out["member"]
    assert out["embeds"] == [] and out["components"] == [] and out["flags"] == 0
    assert "content_html" not in out and "hlc" not in out


def test_without_message_content_only_mentions_and_own_messages_keep_theirs():
    blind = conn(ALL & ~consumers.MESSAGE_CONTENT)
    assert blind.translate("MESSAGE_CREATE", message())["content"] == ""
    assert blind.translate("MESSAGE_UPDATE", message())["content"] == ""
    mentioned = message("<@900> hi", mentions=[{"id": str(BOT), "username": "bot"}])
    assert blind.translate("MESSAGE_CREATE", mentioned)["content"] == "<@900> hi"
    own = message("mine", author=str(BOT))
    assert blind.translate("MESSAGE_CREATE", own)["content"] == "mine"


def test_intents_decide_which_events_arrive():
    no_messages = conn(consumers.GUILDS)
    assert no_messages.translate("MESSAGE_CREATE", message()) is None
    assert no_messages.translate("MESSAGE_REACTION_ADD", {"guild_id": GUILD}) is None
    member = {"guild_id": GUILD, "user": {"id": "8", "username": "bob"}, "roles": []}
    assert no_messages.translate("GUILD_MEMBER_ADD", member) is None
    with_members = conn(consumers.GUILDS | consumers.GUILD_MEMBERS)
    added = with_members.translate("GUILD_MEMBER_ADD", member)
    assert added["user"]["discriminator"] == "0" and added["guild_id"] == GUILD
    assert 8 in with_members.members[int(GUILD)]


def test_a_reaction_carries_discords_extra_fields():
    out = conn(ALL).translate(
        "MESSAGE_REACTION_ADD",
        {
            "user_id": "7",
            "message_id": "1",
            "channel_id": "2",
            "guild_id": GUILD,
            "emoji": {"id": None, "name": "👍"},
        },
    )
    assert out["burst"] is False and out["type"] == 0 and out["member"]["roles"] == ["5"]


def test_the_session_id_carries_the_intents_for_resume():
    assert consumers.session_intents("abcdef.33281") == 33281
    assert consumers.session_intents("abcdef") is None


def test_reactions_in_a_message_event_carry_what_discordpy_reads():
    data = {**message(), "reactions": [{"emoji": {"id": None, "name": "👍"}, "count": 2}]}
    (reaction,) = conn(ALL).translate("MESSAGE_UPDATE", data)["reactions"]
    assert reaction["me"] is False and reaction["count"] == 2
    assert reaction["count_details"] == {"burst": 0, "normal": 2}


def test_without_message_content_embeds_attachments_and_webhook_posts_are_blank_too():
    rich = message("see below")
    rich["embeds"] = [{"type": "rich", "title": "secret embed"}]
    rich["attachments"] = [{"id": "3", "filename": "plan.pdf"}]
    hooked = {**message("from a webhook"), "webhook_id": "55"}
    hooked["author"] = {"id": "55", "username": "CI", "bot": True}
    blind = conn(ALL & ~consumers.MESSAGE_CONTENT)
    out = blind.translate("MESSAGE_CREATE", rich)
    assert (out["content"], out["embeds"], out["attachments"]) == ("", [], [])
    assert blind.translate("MESSAGE_CREATE", hooked)["content"] == ""
    # The grant: everything as sent, the webhook's persona as its author.
    reader = conn(ALL)
    out = reader.translate("MESSAGE_CREATE", rich)
    assert out["embeds"][0]["title"] == "secret embed" and out["attachments"][0]["id"] == "3"
    got = reader.translate("MESSAGE_CREATE", hooked)
    assert got["content"] == "from a webhook" and got["author"]["username"] == "CI"
    assert "member" not in got and got["webhook_id"] == "55"
