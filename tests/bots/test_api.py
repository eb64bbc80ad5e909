"""Applications, bot tokens, the install (consent) page and the Discord-compatible REST
routes, through the Django test client (the doors a person and a bot use)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from bots.models import Application, Installation
from guilds.models import Member
from guilds.permissions import Permissions as P
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import roles as role_services
from messaging.models import Message
from moderation.services import sanctions, timeouts
from tests import ratelimits
from united import ratelimit

pytestmark = pytest.mark.django_db
SEND = int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.ADD_REACTIONS)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _discords_message_limit(settings, monkeypatch):
    # The suite's settings raise every limit; these tests count against the node's default,
    # inside one window (the windows are aligned on the clock: a real one could end mid-test).
    settings.UNITED_RATE_LIMITS = {**settings.UNITED_RATE_LIMITS, "message.channel": (5, 5)}
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_001.0)


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


def general(guild) -> int:
    return guild.default_channel_id


def create(browser, name: str = "Helper") -> tuple[Application, str]:
    page = browser.post("/settings/developer/new/", {"name": name})
    assert page.status_code == 200
    token = re.search(r'data-bot-token value="([^"]+)"', page.content.decode()).group(1)
    return Application.objects.get(name=name), token


def bot_client(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bot {token}")


def test_the_token_is_shown_once_and_stored_as_a_digest(browser):
    app, token = create(browser)
    assert app.bot.is_bot and not app.bot.has_usable_password()
    assert token not in app.token_digest
    again = browser.get("/settings/developer/").content.decode()
    assert "Helper" in again and token not in again
    me = bot_client(token).get("/api/v10/users/@me")
    assert me.status_code == 200
    body = me.json()
    assert body["id"] == str(app.bot_id)
    assert body["bot"] is True and body["discriminator"] == "0"
    assert body["global_name"] == "Helper" and "avatar" in body


def test_reset_invalidates_the_old_token(browser):
    app, old = create(browser)
    page = browser.post(f"/settings/developer/{app.id}/reset-token/")
    new = re.search(r'data-bot-token value="([^"]+)"', page.content.decode()).group(1)
    assert new != old
    refused = bot_client(old).get("/api/v10/users/@me")
    assert refused.status_code == 401
    assert refused.json()["code"] == 0 and refused.json()["message"] == "401: Unauthorized"
    assert bot_client(new).get("/api/v9/users/@me").status_code == 200


@pytest.mark.parametrize(
    "header", ["Bot not-a-token", "Bearer whatever", "Bot", "Bot a b", ""], ids=repr
)
def test_a_wrong_token_gets_discords_401(header):
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()
    response = client.get("/api/v10/users/@me")
    assert response.status_code == 401
    assert response.json() == {"code": 0, "message": "401: Unauthorized", "errors": {}}


def test_someone_else_cannot_reset_a_token(browser, make_user):
    app, token = create(browser)
    mallory = Client()
    mallory.force_login(make_user("mallory"))
    assert mallory.post(f"/settings/developer/{app.id}/reset-token/").status_code == 404
    assert bot_client(token).get("/api/v10/users/@me").status_code == 200


def test_gateway_bot_says_where_to_connect(browser):
    _, token = create(browser)
    body = bot_client(token).get("/api/v10/gateway/bot").json()
    assert body["url"] == "ws://testserver/bot-gateway"
    assert body["shards"] == 1 and body["session_start_limit"]["max_concurrency"] == 1
    assert Client().get("/api/v10/gateway").json() == {"url": "ws://testserver/bot-gateway"}


def test_the_consent_page_says_what_the_bot_may_do_in_plain_words(browser, guild):
    app, _ = create(browser)
    page = browser.get(
        f"/oauth2/authorize?client_id={app.id}&scope=bot&permissions={int(P.SEND_MESSAGES)}"
    ).content.decode()
    assert "Send Messages" in page
    assert "Manage Server" not in page.split("It will be allowed to")[1].split("</ul>")[0]
    assert f'<option value="{guild.id}">Lab</option>' in page


def test_installing_needs_manage_guild_and_gives_a_role_with_the_permissions(
    browser, guild, alice, make_user
):
    app, token = create(browser)
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    bobs = Client()
    bobs.force_login(bob)
    url = f"/oauth2/authorize?client_id={app.id}&scope=bot&permissions={SEND}"
    assert f'value="{guild.id}"' not in bobs.get(url).content.decode()
    refused = bobs.post(
        "/oauth2/authorize", {"client_id": app.id, "permissions": SEND, "guild_id": guild.id}
    )
    assert refused.status_code == 403
    assert not Member.objects.filter(guild=guild, user=app.bot).exists()

    done = browser.post(
        "/oauth2/authorize", {"client_id": app.id, "permissions": SEND, "guild_id": guild.id}
    )
    assert done.status_code == 302
    member = Member.objects.get(guild=guild, user=app.bot)
    role = Installation.objects.get(application=app, guild=guild).role
    assert list(member.roles.all()) == [role] and role.permissions == SEND
    roles = bot_client(token).get(f"/api/v10/guilds/{guild.id}/roles").json()
    assert [r["managed"] for r in roles if r["id"] == str(role.id)] == [True]
    # The bot now shows in the member list, marked as a bot.
    members = browser.get(f"/app/guilds/{guild.id}/members/").content.decode()
    assert app.bot.username in members and "data-bot-tag" in members


def test_nobody_gives_a_bot_permissions_they_lack(browser, guild, alice, make_user):
    app, _ = create(browser)
    carol = make_user("carol")
    member_services.do_add_member(guild, carol)
    role = role_services.check_create_role(
        alice, guild.id, {"name": "helpers", "permissions": int(P.MANAGE_GUILD)}
    )
    member_services.check_member_role(alice, guild.id, carol.id, role.id, add=True)
    carols = Client()
    carols.force_login(carol)
    refused = carols.post(
        "/oauth2/authorize",
        {"client_id": app.id, "permissions": int(P.BAN_MEMBERS), "guild_id": guild.id},
    )
    assert refused.status_code == 403
    assert not Member.objects.filter(guild=guild, user=app.bot).exists()
    assert (
        carols.post(
            "/oauth2/authorize", {"client_id": app.id, "permissions": 8, "guild_id": guild.id}
        ).status_code
        == 400
    )  # ADMINISTRATOR is never installable


def installed(browser, guild) -> tuple[Application, Client]:
    app, token = create(browser)
    browser.post(
        "/oauth2/authorize", {"client_id": app.id, "permissions": SEND, "guild_id": guild.id}
    )
    return app, bot_client(token)


def test_a_bot_sends_edits_reacts_and_deletes_with_discords_shapes(browser, guild):
    app, bot = installed(browser, guild)
    channel = general(guild)
    sent = bot.post(
        f"/api/v10/channels/{channel}/messages",
        {"content": "hello", "nonce": 12345, "tts": False},
        content_type="application/json",
    )
    assert sent.status_code == 200, sent.content
    body = sent.json()
    for key in (
        "author",
        "member",
        "mentions",
        "mention_roles",
        "embeds",
        "attachments",
        "components",
        "type",
        "tts",
        "pinned",
        "timestamp",
        "edited_timestamp",
        "flags",
    ):
        assert key in body, key
    assert body["author"]["bot"] is True and body["author"]["discriminator"] == "0"
    # Discord's rate-limit headers on a rate-limited route.
    assert sent["X-RateLimit-Limit"] == "5" and sent["X-RateLimit-Remaining"] == "4"
    assert sent["X-RateLimit-Reset-After"] == "4.000" and sent["X-RateLimit-Bucket"]
    message_id = body["id"]
    edited = bot.patch(
        f"/api/v10/channels/{channel}/messages/{message_id}",
        {"content": "hello again"},
        content_type="application/json",
    )
    assert edited.json()["content"] == "hello again" and edited.json()["edited_timestamp"]
    assert (
        bot.put(
            f"/api/v10/channels/{channel}/messages/{message_id}/reactions/%F0%9F%91%8D/@me"
        ).status_code
        == 204
    )
    got = bot.get(f"/api/v10/channels/{channel}/messages/{message_id}").json()
    assert got["reactions"][0]["emoji"]["name"] == "👍" and got["reactions"][0]["me"] is True
    assert bot.delete(f"/api/v10/channels/{channel}/messages/{message_id}").status_code == 204
    assert Message.objects.get(id=message_id).deleted
    gone = bot.get(f"/api/v10/channels/{channel}/messages/{message_id}")
    assert gone.status_code == 404 and gone.json()["code"] == 10008
    history = bot.get(f"/api/v10/channels/{channel}/messages").json()
    assert message_id not in [m["id"] for m in history]


def test_a_bot_is_rate_limited_like_a_member_with_discords_429(browser, guild):
    _, bot = installed(browser, guild)
    url = f"/api/v10/channels/{general(guild)}/messages"
    answers = [
        bot.post(url, {"content": f"m{i}"}, content_type="application/json") for i in range(6)
    ]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[-1]
    assert refused.json()["retry_after"] > 0 and refused.json()["global"] is False
    assert refused["Via"] and refused["X-RateLimit-Remaining"] == "0"


def test_a_bot_obeys_moderation(browser, guild, alice):
    app, bot = installed(browser, guild)
    url = f"/api/v10/channels/{general(guild)}/messages"
    timeouts.check_timeout(alice, guild.id, app.bot_id, timezone.now() + timedelta(minutes=5))
    timed_out = bot.post(url, {"content": "hi"}, content_type="application/json")
    assert timed_out.status_code == 403
    timeouts.check_timeout(alice, guild.id, app.bot_id, None)
    sanctions.check_ban(alice, guild.id, app.bot_id)
    banned = bot.post(url, {"content": "hi"}, content_type="application/json")
    assert banned.status_code in (403, 404)
    assert not Message.objects.filter(author=app.bot).exists()
    # Banned: the install link cannot bring it back.
    again = browser.post(
        "/oauth2/authorize", {"client_id": app.id, "permissions": SEND, "guild_id": guild.id}
    )
    assert again.status_code == 403


def test_a_bot_reads_the_guild_as_discordpy_does(browser, guild):
    app, bot = installed(browser, guild)
    data = bot.get(f"/api/v10/guilds/{guild.id}").json()
    assert data["name"] == "Lab" and data["emojis"] == [] and data["roles"]
    channels = bot.get(f"/api/v10/guilds/{guild.id}/channels").json()
    assert "general" in [c["name"] for c in channels]
    member = bot.get(f"/api/v10/guilds/{guild.id}/members/{app.bot_id}").json()
    assert member["user"]["bot"] is True and member["roles"]
    assert bot.get(f"/api/v10/channels/{general(guild)}").json()["name"] == "general"
    assert bot.get("/api/v10/guilds/1234").status_code == 404
    app_info = bot.get("/api/v10/oauth2/applications/@me").json()
    assert app_info["id"] == str(app.id) and app_info["owner"]["username"] == "alice"


def test_stickers_are_refused_clearly_and_bad_components_name_the_field(browser, guild):
    # Embeds are accepted (tests/bots/test_webhooks.py), components too (test_interactions.py).
    _, bot = installed(browser, guild)
    url = f"/api/v10/channels/{general(guild)}/messages"
    stickers = bot.post(
        url, {"content": "x", "sticker_ids": ["1"]}, content_type="application/json"
    )
    assert stickers.status_code == 400 and "sticker_ids" in stickers.json()["errors"]
    bad = bot.post(
        url,
        {"content": "x", "components": [{"type": 1, "components": [{"type": 2}]}]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["components.0.components.0.style"]
    assert not Message.objects.exists()


def test_a_kicked_bot_takes_its_managed_role_along(browser, guild, alice):
    app, _ = installed(browser, guild)
    role = Installation.objects.get(application=app, guild=guild).role
    sanctions.check_kick(alice, guild.id, app.bot_id)
    assert not Installation.objects.filter(application=app).exists()
    assert not guild.roles.filter(id=role.id).exists()
    # Installed again, it gets a fresh role.
    installed_again = browser.post(
        "/oauth2/authorize", {"client_id": app.id, "permissions": SEND, "guild_id": guild.id}
    )
    assert installed_again.status_code == 302
    assert Installation.objects.get(application=app, guild=guild).role_id != role.id


HOSTILE = [2**63, "99999999999999999999999", -1, 1.5, None, True, [], {}, "\u0000", "\ud800"]


def test_hostile_values_get_a_4xx_never_a_500(browser, guild):
    app, bot = installed(browser, guild)
    channel = general(guild)
    message = bot.post(
        f"/api/v10/channels/{channel}/messages", {"content": "x"}, content_type="application/json"
    ).json()["id"]
    statuses = set()
    for value in HOSTILE:
        for body in (
            {"content": value},
            {"content": "x", "nonce": value},
            {"content": "x", "message_reference": value},
            {"content": "x", "message_reference": {"message_id": value}},
            {"content": "x", "embeds": value},
        ):
            for method, url in (
                ("post", f"/api/v10/channels/{channel}/messages"),
                ("patch", f"/api/v10/channels/{channel}/messages/{message}"),
            ):
                ratelimits.reset()  # a 429 would hide what the body gets
                answer = getattr(bot, method)(url, body, content_type="application/json")
                statuses.add(answer.status_code)
                assert answer.status_code < 500, (method, body)
        if value == "\ud800":
            continue  # the test client cannot put a lone surrogate in a query string
        for query in ("limit", "before", "after", "around"):
            answer = bot.get(f"/api/v10/channels/{channel}/messages", {query: str(value)})
            assert answer.status_code < 500, (query, value)
        answer = bot.get(f"/api/v10/guilds/{guild.id}/members", {"limit": str(value)})
        assert answer.status_code < 500, value
    for body in (b"[]", b"not json", b'{"content": NaN}'):
        answer = bot.generic(
            "POST", f"/api/v10/channels/{channel}/messages", body, "application/json"
        )
        assert 400 <= answer.status_code < 500
    assert (
        bot.put(f"/api/v10/channels/{channel}/messages/{message}/reactions/%00/@me").status_code
        == 400
    )
    assert 400 in statuses


def test_the_operator_locks_a_bot_out_from_the_admin(browser, make_user):
    app, token = create(browser)
    operator = Client()
    operator.force_login(make_user("oscar", is_staff=True, is_superuser=True))
    assert operator.get(f"/admin/bots/application/{app.id}/change/").status_code == 200
    done = operator.post(
        "/admin/bots/application/",
        {"action": "reset_tokens", "_selected_action": [app.id]},
    )
    assert done.status_code == 302
    assert bot_client(token).get("/api/v10/users/@me").status_code == 401


def test_a_bot_sends_files_in_discords_multipart_form(browser, guild, alice, make_user):
    """discord.py's `send(file=...)` and discord.js's `files: [...]`: `payload_json` beside
    `files[n]`; the files become the message's attachments, readable by the channel's members.
    A bot that may not attach files, too many files and a refused message store nothing."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from media.models import Attachment
    from moderation.services import automod
    from tests.bots.test_webhooks import png

    app, bot = installed(browser, guild)
    url = f"/api/v10/channels/{general(guild)}/messages"
    sent = bot.post(
        url,
        {
            "payload_json": '{"content": "the chart", "attachments": [{"id": 0}]}',
            "files[0]": SimpleUploadedFile("chart.png", png(), "image/png"),
            "files[1]": SimpleUploadedFile("notes.txt", b"three notes", "text/plain"),
        },
    )
    assert sent.status_code == 200, sent.content
    body = sent.json()
    assert body["content"] == "the chart"
    assert [a["filename"] for a in body["attachments"]] == ["chart.png", "notes.txt"]
    assert body["attachments"][0]["content_type"] == "image/png"
    bob = make_user("bob")
    member_services.do_add_member(guild, bob)
    reader = Client()
    reader.force_login(bob)
    got = reader.get(body["attachments"][1]["url"])
    assert got.status_code == 200 and b"".join(got.streaming_content) == b"three notes"
    # The link is absolute and signed, as Discord's CDN links are: a bot library reads it with
    # no credentials; a tampered, expired or borrowed signature reads nothing.
    link = body["attachments"][1]["url"]
    assert link.startswith("http://testserver/api/v1/attachments/") and "&hm=" in link
    anonymous = Client().get(link)
    assert anonymous.status_code == 200
    assert b"".join(anonymous.streaming_content) == b"three notes"
    assert Client().get(link[:-1] + ("0" if link[-1] != "0" else "1")).status_code == 401
    from media import links

    first, second = (int(a["id"]) for a in body["attachments"])
    expired = links.signed_path(second, now=1_000_000)
    assert Client().get(expired).status_code == 401
    borrowed = links.signed_path(first).replace(f"/{first}/", f"/{second}/")
    assert Client().get(borrowed).status_code == 401
    assert Client().get(body["attachments"][1]["url"].split("?")[0]).status_code == 401

    def stored() -> int:
        return Attachment.objects.filter(uploader=app.bot).count()

    # Eleven files: refused before anything is stored.
    many = {f"files[{i}]": SimpleUploadedFile(f"{i}.txt", b"x", "text/plain") for i in range(11)}
    too_many = bot.post(url, {"payload_json": '{"content": "spam"}', **many})
    assert too_many.status_code == 400 and "files" in too_many.json()["errors"]
    assert stored() == 2
    # A message automod refuses takes its files along.
    automod.check_create_rule(
        alice,
        guild.id,
        {"name": "no spam", "type": "keyword", "config": {"words": ["spam"]}, "action": "block"},
    )
    refused = bot.post(
        url,
        {
            "payload_json": '{"content": "spam"}',
            "files[0]": SimpleUploadedFile("spam.txt", b"buy", "text/plain"),
        },
    )
    assert refused.status_code == 400, refused.content
    assert stored() == 2
    # Without ATTACH_FILES (taken from @everyone; the bot's role never had it): 403, nothing kept.
    everyone = guild.roles.get(id=guild.id)
    role_services.check_update_role(
        alice, guild.id, everyone.id, {"permissions": str(everyone.permissions & ~P.ATTACH_FILES)}
    )
    no_files = bot.post(
        url,
        {
            "payload_json": '{"content": "a file"}',
            "files[0]": SimpleUploadedFile("a.txt", b"a", "text/plain"),
        },
    )
    assert no_files.status_code == 403, no_files.content
    assert stored() == 2
    assert list(Message.objects.filter(author=app.bot).values_list("content", flat=True)) == [
        "the chart"
    ]
