"""Interactions end to end through the doors a member and a bot use: the web client's invoke
route (session), INTERACTION_CREATE as the bot's gateway stores it, Discord's callback and
follow-up routes (the interaction token), ephemeral answers seen by the invoker alone, and
an application's HTTP endpoint signed with Ed25519 (a real loopback HTTP server verifies the
signature with the public key the Developer page shows)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.utils import timezone
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from bots import interactions
from bots.models import Application, Interaction
from guilds.models import Role
from guilds.permissions import Permissions as P
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from messaging.models import GatewayEvent, Message
from tests.bots.test_api import bot_client, create

pytestmark = pytest.mark.django_db
SEND = int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY)
ROW = {
    "type": 1,
    "components": [
        {"type": 2, "style": 1, "label": "Again", "custom_id": "again"},
        {"type": 2, "style": 5, "label": "Docs", "url": "https://example.org/docs"},
        {"type": 2, "style": 4, "label": "Off", "custom_id": "off", "disabled": True},
    ],
}
SELECT = {
    "type": 1,
    "components": [
        {
            "type": 3,
            "custom_id": "colour",
            "placeholder": "Pick a colour",
            "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}],
        }
    ],
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _short_wait(monkeypatch):
    # Nothing answers inside a test's one thread while the invoke route waits: keep it short.
    monkeypatch.setattr(interactions, "RESPOND_WITHIN", 0.3)


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def browser(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def guild(alice):
    return guild_services.check_create_guild(alice, name="Lab")


@pytest.fixture
def bot(browser, guild):
    app, token = create(browser)
    browser.post(
        "/oauth2/authorize", {"client_id": app.id, "permissions": SEND, "guild_id": guild.id}
    )
    client = bot_client(token)
    made = client.put(
        f"/api/v10/applications/{app.id}/guilds/{guild.id}/commands",
        [
            {
                "name": "roll",
                "description": "Roll a die",
                "options": [
                    {
                        "type": 4,
                        "name": "sides",
                        "description": "Sides",
                        "required": True,
                        "min_value": 2,
                        "max_value": 100,
                    },
                    {"type": 3, "name": "label", "description": "What for", "autocomplete": True},
                ],
            },
            {"name": "Quote", "type": 3},
            {"name": "Wave at", "type": 2},
        ],
        content_type="application/json",
    ).json()
    return app, client, {c["name"]: c["id"] for c in made}


def invoke(client: Client, body: dict) -> tuple[int, dict]:
    answer = client.post("/interactions/invoke", body, content_type="application/json")
    return answer.status_code, answer.json()


def created(app: Application) -> dict:
    event = GatewayEvent.objects.filter(group=f"user.{app.bot_id}", t="INTERACTION_CREATE").latest(
        "id"
    )
    return event.d


def start(alice, guild, ids, **extra) -> tuple[Interaction, str]:
    return interactions.check_invoke_command(
        alice,
        {
            "type": 2,
            "channel_id": guild.default_channel_id,
            "command_id": ids["roll"],
            "options": [{"name": "sides", "type": 4, "value": 6}],
            **extra,
        },
    )


def callback(bot_http: Client, interaction: Interaction, token: str, body: dict, query: str = ""):
    return bot_http.post(
        f"/api/v10/interactions/{interaction.id}/{token}/callback{query}",
        body,
        content_type="application/json",
    )


def test_invoking_hands_discords_interaction_to_the_bot_and_says_when_it_is_silent(
    browser, guild, bot, alice
):
    app, _, ids = bot
    status, body = invoke(
        browser,
        {
            "type": 2,
            "channel_id": str(guild.default_channel_id),
            "command_id": ids["roll"],
            "options": [{"name": "sides", "type": 4, "value": 20}],
        },
    )
    assert status == 200 and body["outcome"] == "timeout"
    assert body["message"] == "The application did not respond"
    d = created(app)
    assert d["type"] == 2 and d["application_id"] == str(app.id)
    assert d["data"]["name"] == "roll" and d["data"]["options"] == [
        {"name": "sides", "type": 4, "value": 20}
    ]
    assert d["guild_id"] == str(guild.id) and d["channel_id"] == str(guild.default_channel_id)
    assert (
        d["member"]["user"]["id"] == str(alice.id)
        and int(d["member"]["permissions"]) & P.USE_APPLICATION_COMMANDS
    )
    assert d["token"].startswith(interactions.TOKEN_PREFIX) and d["version"] == 1
    assert "attachment_size_limit" in d and d["app_permissions"] != "0"
    # Only the digest of the token is kept with the interaction.
    stored = Interaction.objects.get(id=d["id"])
    assert d["token"] not in stored.token_digest
    # The answer after the 3 seconds is refused as Discord refuses it.
    Interaction.objects.filter(id=stored.id).update(
        created_at=timezone.now() - timedelta(seconds=4)
    )
    late = callback(Client(), stored, d["token"], {"type": 4, "data": {"content": "late"}})
    assert late.status_code == 404 and late.json()["code"] == 10062


def test_a_reply_with_buttons_is_a_channel_message_and_a_click_edits_it(
    browser, guild, bot, alice, make_user
):
    app, _, ids = bot
    interaction, token = start(alice, guild, ids)
    http = Client()  # the callback needs no bot token: the interaction token is the credential
    answer = callback(
        http,
        interaction,
        token,
        {"type": 4, "data": {"content": "You rolled 4", "components": [ROW, SELECT]}},
        "?with_response=1",
    )
    assert answer.status_code == 200, answer.content
    resource = answer.json()["resource"]["message"]
    assert resource["content"] == "You rolled 4" and resource["author"]["id"] == str(app.bot_id)
    again = callback(http, interaction, token, {"type": 4, "data": {"content": "twice"}})
    assert again.status_code == 400 and again.json()["code"] == 40060

    message = Message.objects.get(id=resource["id"])
    assert (
        message.application_id == app.id
        and message.components[0]["components"][0]["custom_id"] == "again"
    )
    assert message.interaction["name"] == "roll" and message.interaction["user"]["id"] == str(
        alice.id
    )
    # Everyone in the channel sees it, with its buttons and menu, in the web client.
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    viewer = Client()
    viewer.force_login(bob)
    page = viewer.get(
        f"/app/guilds/{guild.id}/channels/{guild.default_channel_id}/"
    ).content.decode()
    assert 'data-custom-id="again"' in page and ">Again</button>" in page
    assert 'href="https://example.org/docs"' in page and "Pick a colour" in page
    assert "used <strong>/roll</strong>" in page
    assert 'data-custom-id="off" disabled' in page

    # Bob clicks "Again": the bot hears a MESSAGE_COMPONENT and updates the message.
    status, body = invoke(
        viewer,
        {
            "type": 3,
            "channel_id": str(guild.default_channel_id),
            "message_id": str(message.id),
            "custom_id": "again",
        },
    )
    assert status == 200 and body["outcome"] == "timeout"
    d = created(app)
    assert d["type"] == 3 and d["data"] == {"custom_id": "again", "component_type": 2}
    assert d["message"]["id"] == str(message.id) and d["member"]["user"]["id"] == str(bob.id)
    click = Interaction.objects.get(id=d["id"])
    updated = callback(
        http, click, d["token"], {"type": 7, "data": {"content": "You rolled 6", "components": []}}
    )
    assert updated.status_code == 204
    message.refresh_from_db()
    assert message.content == "You rolled 6" and message.components == []
    assert message.edited_at is not None
    # A disabled button, an unknown one and a bad pick are refused.
    for bad in ({"custom_id": "off"}, {"custom_id": "nope"}):
        status, body = invoke(
            viewer,
            {
                "type": 3,
                "channel_id": str(guild.default_channel_id),
                "message_id": str(message.id),
                **bad,
            },
        )
        assert status == 400, bad


def test_a_select_sends_the_picked_values(browser, guild, bot, alice):
    app, _, ids = bot
    interaction, token = start(alice, guild, ids)
    sent = callback(
        Client(),
        interaction,
        token,
        {"type": 4, "data": {"content": "Choose", "components": [SELECT]}},
        "?with_response=1",
    )
    message_id = sent.json()["resource"]["message"]["id"]
    base = {
        "type": 3,
        "channel_id": str(guild.default_channel_id),
        "message_id": message_id,
        "custom_id": "colour",
    }
    status, _ = invoke(browser, {**base, "values": ["blue"]})
    assert status == 200 and created(app)["data"] == {
        "custom_id": "colour",
        "component_type": 3,
        "values": ["blue"],
    }
    for values in (["green"], ["red", "blue"], [], "red", None):
        status, body = invoke(browser, {**base, "values": values})
        assert status == 400, values


def test_ephemeral_answers_reach_the_invoker_alone(browser, guild, bot, alice, make_user):
    app, bot_http, ids = bot
    interaction, token = start(alice, guild, ids)
    answered = callback(
        Client(), interaction, token, {"type": 4, "data": {"content": "Only for you", "flags": 64}}
    )
    assert answered.status_code == 204
    assert not Message.objects.filter(content="Only for you").exists()
    assert interactions.outcome(alice, interaction.id)["outcome"] == "ephemeral"
    mine = browser.get(f"/interactions/{interaction.id}/ephemeral").content.decode()
    assert "Only for you" in mine and "Only you can see this" in mine
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    other = Client()
    other.force_login(bob)
    refused = other.get(f"/interactions/{interaction.id}/ephemeral")
    assert refused.status_code == 404 and "Only for you" not in refused.content.decode()
    # The bot's own view of the channel has no trace of it either.
    history = bot_http.get(f"/api/v10/channels/{guild.default_channel_id}/messages").json()
    assert all(m["content"] != "Only for you" for m in history)

    # Follow-ups: an ephemeral one is kept for alice, a public one is a channel message.
    base = f"/api/v10/webhooks/{app.id}/{token}"
    secret = Client().post(base, {"content": "psst", "flags": 64}, content_type="application/json")
    assert secret.status_code == 200 and secret.json()["flags"] == 64
    public = Client().post(base, {"content": "Hello all"}, content_type="application/json").json()
    assert Message.objects.get(id=public["id"]).author_id == app.bot_id
    assert "psst" in browser.get(f"/interactions/{interaction.id}/ephemeral").content.decode()
    # The original answer is read and edited through @original.
    original = Client().get(f"{base}/messages/@original").json()
    assert original["content"] == "Only for you"
    edited = Client().patch(
        f"{base}/messages/@original", {"content": "Changed"}, content_type="application/json"
    )
    assert edited.status_code == 200 and edited.json()["content"] == "Changed"
    assert "Changed" in browser.get(f"/interactions/{interaction.id}/ephemeral").content.decode()
    # A public follow-up is edited and deleted by its id.
    path = f"{base}/messages/{public['id']}"
    assert (
        Client().patch(path, {"content": "Bye"}, content_type="application/json").json()["content"]
        == "Bye"
    )
    assert Client().delete(path).status_code == 204
    assert Message.objects.get(id=public["id"]).deleted_at is not None
    # A wrong token or another application's id finds nothing.
    assert (
        Client()
        .get(f"/api/v10/webhooks/{app.id}/{interactions.TOKEN_PREFIX}x/messages/@original")
        .status_code
        == 404
    )
    assert (
        Client()
        .post(f"/api/v10/webhooks/1/{token}", {"content": "x"}, content_type="application/json")
        .status_code
        == 404
    )


def test_answers_carry_embeds_public_and_ephemeral(browser, guild, bot, alice):
    """discord.py's `interaction.response.send_message(embed=...)`: the answer's embeds are
    validated with Discord's rules, stored on a public answer, kept on an ephemeral one, drawn
    for the invoker, and changed by an edit of @original."""
    app, bot_http, ids = bot
    interaction, token = start(alice, guild, ids)
    card = {"title": "Rolled 4", "description": "on **d6**", "color": 0x3366FF}
    answered = callback(Client(), interaction, token, {"type": 4, "data": {"embeds": [card]}})
    assert answered.status_code == 204, answered.content
    message = Message.objects.get(application_id=app.id, interaction__id=str(interaction.id))
    assert message.content == "" and message.embeds[0]["title"] == "Rolled 4"
    page = browser.get(f"/app/guilds/{guild.id}/channels/{guild.default_channel_id}/")
    assert "Rolled 4" in page.content.decode()
    base = f"/api/v10/webhooks/{app.id}/{token}"
    changed = Client().patch(
        f"{base}/messages/@original",
        {"embeds": [{**card, "title": "Rolled 5"}]},
        content_type="application/json",
    )
    assert changed.status_code == 200 and changed.json()["embeds"][0]["title"] == "Rolled 5"
    assert Message.objects.get(id=message.id).embeds[0]["title"] == "Rolled 5"

    # Ephemeral: kept on the interaction for the invoker alone, drawn in her page's answer.
    interaction, token = start(alice, guild, ids)
    secret = {"title": "Only yours", "fields": [{"name": "Seed", "value": "42"}]}
    answered = callback(
        Client(), interaction, token, {"type": 4, "data": {"embeds": [secret], "flags": 64}}
    )
    assert answered.status_code == 204, answered.content
    drawn = browser.get(f"/interactions/{interaction.id}/ephemeral").content.decode()
    assert "Only yours" in drawn and "Seed" in drawn and "Only you can see this" in drawn
    stored = [m.embeds for m in Message.objects.all()]
    assert all(not e or e[0].get("title") != "Only yours" for e in stored)


def test_a_deferred_answer_shows_thinking_then_the_edit(browser, guild, bot, alice):
    app, _, ids = bot
    interaction, token = start(alice, guild, ids)
    assert callback(Client(), interaction, token, {"type": 5}).status_code == 204
    message = Message.objects.get(application_id=app.id)
    assert message.flags & interactions.LOADING
    page = browser.get(
        f"/app/guilds/{guild.id}/channels/{guild.default_channel_id}/"
    ).content.decode()
    assert "is thinking…" in page
    done = Client().patch(
        f"/api/v10/webhooks/{app.id}/{token}/messages/@original",
        {"content": "Rolled 3"},
        content_type="application/json",
    )
    assert done.status_code == 200
    message.refresh_from_db()
    assert message.content == "Rolled 3" and not message.flags & interactions.LOADING
    # After 15 minutes the token is worthless.
    Interaction.objects.filter(id=interaction.id).update(
        created_at=timezone.now() - timedelta(minutes=16)
    )
    stale = Client().post(
        f"/api/v10/webhooks/{app.id}/{token}", {"content": "x"}, content_type="application/json"
    )
    assert stale.status_code == 404 and stale.json()["code"] == 10062


def test_autocomplete_and_modals(browser, guild, bot, alice):
    app, _, ids = bot
    asked, token = interactions.check_invoke_command(
        alice,
        {
            "type": 4,
            "channel_id": guild.default_channel_id,
            "command_id": ids["roll"],
            "options": [{"name": "label", "type": 3, "value": "da", "focused": True}],
        },
    )
    assert created(app)["type"] == 4 and created(app)["data"]["options"][0]["focused"] is True
    refused = callback(Client(), asked, token, {"type": 4, "data": {"content": "no"}})
    assert refused.status_code == 400  # an autocomplete request is answered with choices only
    choices = [{"name": "damage", "value": "damage"}, {"name": "dare", "value": "dare"}]
    assert (
        callback(Client(), asked, token, {"type": 8, "data": {"choices": choices}}).status_code
        == 204
    )
    assert interactions.outcome(alice, asked.id) == {
        "id": str(asked.id),
        "type": 4,
        "outcome": "choices",
        "choices": choices,
    }

    opener, token = start(alice, guild, ids)
    modal = {
        "custom_id": "feedback",
        "title": "Tell us",
        "components": [
            {
                "type": 1,
                "components": [
                    {
                        "type": 4,
                        "custom_id": "why",
                        "label": "Why?",
                        "style": 2,
                        "min_length": 3,
                        "max_length": 50,
                    }
                ],
            }
        ],
    }
    assert callback(Client(), opener, token, {"type": 9, "data": modal}).status_code == 204
    shown = interactions.outcome(alice, opener.id)
    assert (
        shown["outcome"] == "modal"
        and shown["modal"]["components"][0]["components"][0]["label"] == "Why?"
    )
    status, body = invoke(
        browser, {"type": 5, "interaction_id": str(opener.id), "values": {"why": "no"}}
    )
    assert status == 400  # shorter than min_length
    status, body = invoke(
        browser, {"type": 5, "interaction_id": str(opener.id), "values": {"why": "because"}}
    )
    assert status == 200
    submitted = created(app)
    assert submitted["type"] == 5 and submitted["data"]["custom_id"] == "feedback"
    assert submitted["data"]["components"][0]["components"][0] == {
        "type": 4,
        "custom_id": "why",
        "value": "because",
    }
    # A modal is submitted once.
    status, body = invoke(
        browser, {"type": 5, "interaction_id": str(opener.id), "values": {"why": "again!"}}
    )
    assert status == 404 and body["code"] == 10062


def test_context_menu_commands_carry_their_target(browser, guild, bot, alice, make_user):
    app, bot_http, ids = bot
    said = bot_http.post(
        f"/api/v10/channels/{guild.default_channel_id}/messages",
        {"content": "quotable"},
        content_type="application/json",
    ).json()
    interactions.check_invoke_command(
        alice,
        {
            "type": 2,
            "channel_id": guild.default_channel_id,
            "command_id": ids["Quote"],
            "target_id": said["id"],
        },
    )
    d = created(app)
    assert d["data"]["target_id"] == said["id"] and d["data"]["type"] == 3
    assert d["data"]["resolved"]["messages"][said["id"]]["content"] == "quotable"
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    interactions.check_invoke_command(
        alice,
        {
            "type": 2,
            "channel_id": guild.default_channel_id,
            "command_id": ids["Wave at"],
            "target_id": str(bob.id),
        },
    )
    d = created(app)
    assert d["data"]["target_id"] == str(bob.id)
    assert d["data"]["resolved"]["users"][str(bob.id)]["username"] == "bob"
    assert "joined_at" in d["data"]["resolved"]["members"][str(bob.id)]
    status, _ = invoke(
        browser,
        {
            "type": 2,
            "channel_id": str(guild.default_channel_id),
            "command_id": ids["Wave at"],
            "target_id": "1",
        },
    )
    assert status == 400


def test_permissions_and_bad_input_are_refused_clearly(browser, guild, bot, alice, make_user):
    app, bot_http, ids = bot
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    member = Client()
    member.force_login(bob)
    channel = str(guild.default_channel_id)
    ok = {
        "type": 2,
        "channel_id": channel,
        "command_id": ids["roll"],
        "options": [{"name": "sides", "type": 4, "value": 6}],
    }
    # The picker lists the guild's bots' commands, not to outsiders.
    listed = member.get(f"/interactions/commands?channel_id={channel}").json()["commands"]
    assert {c["name"] for c in listed} == {"roll", "Quote", "Wave at"}
    outsider = Client()
    outsider.force_login(make_user("eve"))
    assert outsider.get(f"/interactions/commands?channel_id={channel}").status_code == 404
    assert invoke(outsider, ok)[0] == 404
    assert (
        Client().post("/interactions/invoke", ok, content_type="application/json").status_code
        == 401
    )
    # Without USE_APPLICATION_COMMANDS (taken from @everyone), a member cannot invoke.
    everyone = Role.objects.get(id=guild.id)
    Role.objects.filter(id=everyone.id).update(
        permissions=everyone.permissions & ~int(P.USE_APPLICATION_COMMANDS)
    )
    status, body = invoke(member, ok)
    assert status == 403 and body["code"] == 50013
    Role.objects.filter(id=everyone.id).update(permissions=everyone.permissions)
    # default_member_permissions: a command for those who can manage messages.
    bot_http.patch(
        f"/api/v10/applications/{app.id}/guilds/{guild.id}/commands/{ids['roll']}",
        {"default_member_permissions": str(int(P.MANAGE_MESSAGES))},
        content_type="application/json",
    )
    assert invoke(member, ok)[0] == 403
    assert invoke(browser, ok)[0] == 200  # the owner may
    # Option values are checked against the command.
    for options in (
        [],
        [{"name": "sides", "type": 4, "value": 1}],
        [{"name": "sides", "type": 4, "value": "x"}],
        [{"name": "nope", "type": 4, "value": 3}],
        "sides",
        [{"name": "sides", "type": 4, "value": 2**80}],
    ):
        status, body = invoke(browser, {**ok, "options": options})
        assert status == 400, options
    hostile = [None, "x", 2**64, -1, [], {}, "\u0000", True]
    for value in hostile:
        for key in (
            "type",
            "channel_id",
            "command_id",
            "message_id",
            "custom_id",
            "interaction_id",
            "target_id",
            "values",
        ):
            for kind in (2, 3, 4, 5):
                status, _ = invoke(browser, {**ok, "type": kind, key: value})
                assert status < 500, (kind, key, value)
    for raw in (b"[", b"[]", b'"x"', b"null"):
        answer = browser.generic("POST", "/interactions/invoke", raw, "application/json")
        assert 400 <= answer.status_code < 500
    # Callbacks with bad bodies or bad tokens are 4xx.
    interaction, token = start(alice, guild, ids)
    for body in (
        {"type": 99},
        {"type": 4, "data": {"content": ""}},
        {"type": 4, "data": {"content": "x" * 2001}},
        {"type": 4, "data": {"content": "x", "flags": 1}},
        {"type": 4, "data": {"content": "x", "components": [{"type": 2}]}},
        {"type": 4, "data": {"content": "x", "embeds": [{"title": "t" * 257}]}},
        {"type": 4, "data": {"content": "x", "attachments": [{"id": 0}]}},
        {"type": 9, "data": {"title": "x"}},
        {"type": 7, "data": {"content": "x"}},
        [],
        {"type": True},
    ):
        answer = callback(Client(), interaction, token, body)
        assert 400 <= answer.status_code < 500, body
    assert (
        callback(Client(), interaction, "wrong", {"type": 4, "data": {"content": "x"}}).status_code
        == 404
    )


def test_no_commands_in_dms(browser, guild, bot, alice, make_user):
    # DMs are end-to-end encrypted: no application may be invoked where it could read them.
    from messaging.services.dms import check_open_dm

    _, _, ids = bot
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    dm, _ = check_open_dm(alice, bob.id)
    status, body = invoke(
        browser,
        {
            "type": 2,
            "channel_id": str(dm.id),
            "command_id": ids["roll"],
            "options": [{"name": "sides", "type": 4, "value": 6}],
        },
    )
    assert status == 400 and "guild channels only" in json.dumps(body)
    assert browser.get(f"/interactions/commands?channel_id={dm.id}").json() == {"commands": []}
    assert not Interaction.objects.exists()


class Endpoint(BaseHTTPRequestHandler):
    """An application's interactions endpoint as Discord's docs ask for one: verify the
    signature with the public key, answer PING with PONG, answer commands."""

    public_key = ""
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            VerifyKey(bytes.fromhex(self.public_key)).verify(
                self.headers["X-Signature-Timestamp"].encode() + body,
                bytes.fromhex(self.headers["X-Signature-Ed25519"]),
            )
        except (BadSignatureError, ValueError, TypeError):
            self.send_response(401)
            self.end_headers()
            return
        data = json.loads(body)
        self.seen.append(data)
        if data["type"] == 1:
            answer = {"type": 1}
        else:
            answer = {"type": 4, "data": {"content": f"Signed answer to /{data['data']['name']}"}}
        out = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class Careless(Endpoint):
    """Answers PONG without checking the signature: the node must refuse to save it."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        out = json.dumps({"type": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        del body


@pytest.fixture
def serve():
    servers = []

    def start(handler):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/interactions"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_http_endpoint_gets_signed_interactions(
    browser, guild, bot, alice, settings, serve, monkeypatch
):
    app, bot_http, ids = bot
    monkeypatch.setattr(interactions, "RESPOND_WITHIN", 3.0)
    settings.BOTS_ALLOW_PRIVATE = ["127.0.0.0/8"]
    page = browser.get("/settings/developer/").content.decode()
    app.refresh_from_db()
    assert len(app.public_key) == 64 and app.public_key in page
    assert bot_http.get("/api/v10/oauth2/applications/@me").json()["verify_key"] == app.public_key
    Endpoint.public_key = app.public_key
    Endpoint.seen = []
    url = serve(Endpoint)
    saved = browser.post(
        f"/settings/developer/{app.id}/interactions/",
        {"interactions_endpoint_url": url},
        follow=True,
    )
    assert "it answered the PING" in saved.content.decode()
    app.refresh_from_db()
    assert app.interactions_endpoint_url == url and Endpoint.seen[0]["type"] == 1

    status, body = invoke(
        browser,
        {
            "type": 2,
            "channel_id": str(guild.default_channel_id),
            "command_id": ids["roll"],
            "options": [{"name": "sides", "type": 4, "value": 6}],
        },
    )
    assert status == 200 and body["outcome"] == "message", body
    assert Endpoint.seen[-1]["type"] == 2 and Endpoint.seen[-1]["data"]["name"] == "roll"
    assert Message.objects.get(id=body["message_id"]).content == "Signed answer to /roll"
    # Over HTTP, not over the gateway.
    assert not GatewayEvent.objects.filter(t="INTERACTION_CREATE").exists()

    # An endpoint that does not verify signatures, or does not answer, is not saved.
    careless = serve(Careless)
    refused = browser.post(
        f"/settings/developer/{app.id}/interactions/",
        {"interactions_endpoint_url": careless},
        follow=True,
    )
    assert "wrong signature" in refused.content.decode()
    closed = browser.post(
        f"/settings/developer/{app.id}/interactions/",
        {"interactions_endpoint_url": "http://127.0.0.1:9/x"},
        follow=True,
    )
    assert "could not reach" in closed.content.decode()
    app.refresh_from_db()
    assert app.interactions_endpoint_url == url
    # Outside the allowlist a private address is never contacted.
    settings.BOTS_ALLOW_PRIVATE = []
    private = browser.post(
        f"/settings/developer/{app.id}/interactions/",
        {"interactions_endpoint_url": url.replace("http:", "https:")},
        follow=True,
    )
    assert "could not reach" in private.content.decode()
    # Emptying the field sends interactions over the gateway again.
    browser.post(f"/settings/developer/{app.id}/interactions/", {"interactions_endpoint_url": ""})
    app.refresh_from_db()
    assert app.interactions_endpoint_url == ""


def test_a_bot_s_own_message_with_a_button_is_clicked_into_an_interaction(bot, guild, make_user):
    """discord.py's `channel.send(view=…)`, discord.js's `channel.send({components})`: the
    buttons of an ordinary bot message work like those of an interaction's answer."""
    app, http, _ = bot
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    channel = guild.default_channel_id
    sent = http.post(
        f"/api/v10/channels/{channel}/messages",
        {"content": "Pick one", "components": [ROW]},
        content_type="application/json",
    )
    assert sent.status_code == 200, sent.content
    assert sent.json()["components"][0]["components"][0]["custom_id"] == "again"
    message = Message.objects.get(id=sent.json()["id"])
    assert message.application_id == app.id
    viewer = Client()
    viewer.force_login(bob)
    page = viewer.get(f"/app/guilds/{guild.id}/channels/{channel}/").content.decode()
    assert 'data-custom-id="again"' in page
    status, body = invoke(
        viewer,
        {
            "type": 3,
            "channel_id": str(channel),
            "message_id": str(message.id),
            "custom_id": "again",
        },
    )
    assert status == 200
    d = created(app)
    assert d["type"] == 3 and d["data"] == {"custom_id": "again", "component_type": 2}
    assert d["message"]["id"] == str(message.id)
    # The bot takes its buttons away with an ordinary edit (discord.py's `view=None`).
    edited = http.patch(
        f"/api/v10/channels/{channel}/messages/{message.id}",
        {"components": []},
        content_type="application/json",
    )
    assert edited.status_code == 200, edited.content
    message.refresh_from_db()
    assert message.components == [] and message.content == "Pick one"
