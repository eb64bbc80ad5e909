"""Incoming webhooks and embeds through the doors people, bots and other services use: the
Discord-shaped routes (token forms without an account), the Integrations settings page,
the bot message routes' embeds, and the MESSAGE_CONTENT rule on the HTTP API."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from bots.models import Webhook
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from messaging.models import Message
from messaging.services import messages as message_services
from united import ratelimit

pytestmark = pytest.mark.django_db
SEND = int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def owner(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def guild(alice):
    return guild_services.check_create_guild(alice, name="Lab")


@pytest.fixture
def bob(guild, make_user):
    user = make_user("bob")
    member_services.do_add_member(guild, user)
    return user


def as_member(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_webhook(client: Client, channel_id: int, name: str = "Captain Hook") -> dict:
    made = client.post(
        f"/api/v10/channels/{channel_id}/webhooks",
        {"name": name},
        content_type="application/json",
    )
    assert made.status_code == 200, made.content
    return made.json()


EMBED = {
    "title": "Build passed",
    "url": "https://ci.example.org/runs/42",
    "description": "All **green** on `main`",
    "color": 0x23A55A,
    "fields": [
        {"name": "Duration", "value": "3 min", "inline": True},
        {"name": "Commit", "value": "cf8e8fc", "inline": True},
    ],
    "footer": {"text": "CI"},
    "timestamp": "2026-12-07T16:00:00Z",
    "image": {"url": "https://tracker.example.net/pixel.png"},
}


def test_a_manager_makes_a_webhook_whose_url_posts_with_a_persona_and_embeds(owner, guild, bob):
    channel = guild.default_channel_id
    hook = make_webhook(owner, channel)
    assert hook["type"] == 1 and hook["channel_id"] == str(channel) and hook["token"]
    stored = Webhook.objects.get(id=hook["id"])
    assert hook["token"] not in stored.token_digest and len(stored.token_digest) == 64
    # The token is in that answer only.
    again = owner.get(f"/api/v10/webhooks/{hook['id']}").json()
    assert "token" not in again and again["name"] == "Captain Hook"

    anyone = Client()  # no account: the token in the path is the credential
    posted = anyone.post(
        f"/api/webhooks/{hook['id']}/{hook['token']}?wait=true",
        {"content": f"deploy <@{bob.id}>", "username": "CI", "embeds": [EMBED]},
        content_type="application/json",
    )
    assert posted.status_code == 200, posted.content
    body = posted.json()
    assert body["webhook_id"] == hook["id"] and body["author"]["username"] == "CI"
    assert body["author"]["bot"] is True and body["embeds"][0]["title"] == "Build passed"
    assert body["mentions"][0]["id"] == str(bob.id)
    assert posted["X-RateLimit-Limit"] and posted["X-RateLimit-Bucket"]
    message = Message.objects.get(id=body["id"])
    assert message.author is None and message.persona["username"] == "CI"

    # Without ?wait the answer is Discord's 204.
    quiet = anyone.post(
        f"/api/v10/webhooks/{hook['id']}/{hook['token']}",
        {"content": "no wait"},
        content_type="application/json",
    )
    assert quiet.status_code == 204

    # Bob's client draws it: the persona with its tag, the embed, no member card, and the
    # image only as a link (its host would learn every reader's address).
    page = as_member(bob).get(f"/app/guilds/{guild.id}/channels/{channel}/").content.decode()
    assert "Build passed" in page and "<strong>green</strong>" in page
    assert "Duration" in page and "3 min" in page and "WEBHOOK" in page
    assert 'src="https://tracker.example.net' not in page
    assert 'href="https://tracker.example.net/pixel.png"' in page
    assert f'data-member-card-open data-user-id="{hook["id"]}"' not in page
    assert 'fill="#23a55a"' in page


def test_the_token_forms_edit_read_and_delete_the_webhooks_own_messages(owner, guild):
    hook = make_webhook(owner, guild.default_channel_id)
    base = f"/api/v10/webhooks/{hook['id']}/{hook['token']}"
    anyone = Client()
    posted = anyone.post(
        f"{base}?wait=1", {"content": "v1"}, content_type="application/json"
    ).json()
    edited = anyone.patch(
        f"{base}/messages/{posted['id']}",
        {"embeds": [{"description": "now with an embed"}]},
        content_type="application/json",
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["content"] == "v1" and edited.json()["edited_timestamp"]
    assert edited.json()["embeds"][0]["description"] == "now with an embed"
    assert anyone.get(f"{base}/messages/{posted['id']}").json()["embeds"]
    # A member's message is not the webhook's to touch.
    other = message_services.check_send_message(
        guild.owner, guild.default_channel_id, content="mine"
    )[0]
    assert anyone.delete(f"{base}/messages/{other.id}").json()["code"] == 10008
    assert anyone.delete(f"{base}/messages/{posted['id']}").status_code == 204
    assert Message.objects.get(id=posted["id"]).deleted
    # Renamed by its token, then deleted by it.
    renamed = anyone.patch(base, {"name": "Hooky"}, content_type="application/json")
    assert renamed.json()["name"] == "Hooky"
    assert (
        anyone.patch(base, {"channel_id": "1"}, content_type="application/json").status_code == 400
    )
    assert anyone.delete(base).status_code == 204
    gone = anyone.post(base, {"content": "x"}, content_type="application/json")
    assert gone.status_code == 404 and gone.json()["code"] == 10015


def test_only_members_with_manage_webhooks_manage_them(owner, guild, bob):
    channel = guild.default_channel_id
    hook = make_webhook(owner, channel)
    bob_client = as_member(bob)
    refused = bob_client.post(
        f"/api/v10/channels/{channel}/webhooks", {"name": "Mine"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert bob_client.get(f"/api/v10/channels/{channel}/webhooks").status_code == 403
    assert bob_client.get(f"/api/v10/guilds/{guild.id}/webhooks").json() == []
    assert bob_client.delete(f"/api/v10/webhooks/{hook['id']}").status_code == 403
    assert Client().get(f"/api/v10/webhooks/{hook['id']}").status_code in (401, 403)
    # Listed for the manager, by channel and by guild.
    assert [w["id"] for w in owner.get(f"/api/v10/guilds/{guild.id}/webhooks").json()] == [
        hook["id"]
    ]
    renamed = owner.patch(
        f"/api/v10/webhooks/{hook['id']}",
        {"name": "Hook 2", "avatar_url": "https://img.example.org/a.png"},
        content_type="application/json",
    ).json()
    assert renamed["name"] == "Hook 2" and renamed["avatar_url"].startswith("https://")
    assert owner.delete(f"/api/v10/webhooks/{hook['id']}").status_code == 204
    assert not Webhook.objects.exists()


def test_a_webhook_name_may_not_pass_for_an_operator(owner, guild, make_user):
    make_user("nodeadmin", is_staff=True)
    channel = guild.default_channel_id
    for name in ("nodeadmin", "N0deadmin", "System"):
        refused = owner.post(
            f"/api/v10/channels/{channel}/webhooks", {"name": name}, content_type="application/json"
        )
        assert refused.status_code == 400 and "name" in refused.json()["errors"], name
    hook = make_webhook(owner, channel)
    posted = Client().post(
        f"/api/webhooks/{hook['id']}/{hook['token']}",
        {"content": "hi", "username": "nodeadmin"},
        content_type="application/json",
    )
    assert posted.status_code == 400 and "username" in posted.json()["errors"]
    assert not Message.objects.exists()


def test_a_wrong_or_regenerated_token_and_a_deleted_channel_stop_the_webhook(owner, guild, alice):
    channel = guild.default_channel_id
    hook = make_webhook(owner, channel)
    anyone = Client()
    wrong = anyone.post(
        f"/api/webhooks/{hook['id']}/not-the-token",
        {"content": "x"},
        content_type="application/json",
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == 50027
    unknown = anyone.post(
        "/api/webhooks/123/abc", {"content": "x"}, content_type="application/json"
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == 10015

    # Regenerated from the settings page: the page shows the new URL once, the old one dies.
    page = owner.post(
        f"/app/guilds/{guild.id}/settings/integrations/",
        {"action": "regenerate", "webhook_id": hook["id"]},
    )
    assert page.status_code == 200
    new_url = re.search(r'data-webhook-url value="([^"]+)"', page.content.decode()).group(1)
    old = anyone.post(
        f"/api/webhooks/{hook['id']}/{hook['token']}",
        {"content": "x"},
        content_type="application/json",
    )
    assert old.status_code == 401
    path = new_url.split("testserver", 1)[1]
    assert anyone.post(path, {"content": "new"}, content_type="application/json").status_code == 204
    assert (
        "data-webhook-url"
        not in owner.get(f"/app/guilds/{guild.id}/settings/integrations/").content.decode()
    )

    channel_services.check_delete_channel(alice, channel)
    after = anyone.post(path, {"content": "x"}, content_type="application/json")
    assert after.status_code == 404 and after.json()["code"] == 10015


def test_webhooks_are_rate_limited_with_discords_headers(owner, guild, settings, monkeypatch):
    settings.UNITED_RATE_LIMITS = {**settings.UNITED_RATE_LIMITS, "webhook": (5, 2)}
    monkeypatch.setattr(ratelimit, "clock", lambda: 2_000_000.5)
    hook = make_webhook(owner, guild.default_channel_id)
    url = f"/api/webhooks/{hook['id']}/{hook['token']}"
    answers = [
        Client().post(url, {"content": f"m{i}"}, content_type="application/json") for i in range(6)
    ]
    assert [a.status_code for a in answers] == [204] * 5 + [429]
    assert answers[0]["X-RateLimit-Remaining"] == "4" and answers[0]["X-RateLimit-Limit"] == "5"
    refused = answers[-1]
    assert refused.json()["retry_after"] == 1.5 and refused.json()["global"] is False
    assert refused["Retry-After"] == "2" and refused["X-RateLimit-Remaining"] == "0"
    assert Message.objects.count() == 5
    # Another webhook has its own allowance.
    other = make_webhook(owner, guild.default_channel_id, "Other")
    assert (
        Client()
        .post(
            f"/api/webhooks/{other['id']}/{other['token']}",
            {"content": "x"},
            content_type="application/json",
        )
        .status_code
        == 204
    )


@pytest.mark.parametrize(
    ("embeds", "path"),
    [
        ([{"title": "x" * 257}], ["0", "title"]),
        ([{"description": "x" * 4097}], ["0", "description"]),
        ([{"fields": [{"name": "a", "value": "b"}] * 26}], ["0", "fields"]),
        ([{"fields": [{"name": "a", "value": "b" * 1025}]}], ["0", "fields", "0", "value"]),
        ([{"fields": [{"name": "", "value": "b"}]}], ["0", "fields", "0", "name"]),
        ([{"footer": {"text": "x" * 2049}}], ["0", "footer", "text"]),
        ([{"author": {"name": "x" * 257}}], ["0", "author", "name"]),
        ([{"title": "t", "url": "javascript:alert(1)"}], ["0", "url"]),
        ([{"title": "t", "image": {"url": "file:///etc/passwd"}}], ["0", "image", "url"]),
        ([{"title": "t", "color": 0x1000000}], ["0", "color"]),
        ([{"title": "t", "color": "red"}], ["0", "color"]),
        ([{"title": "t", "timestamp": "yesterday"}], ["0", "timestamp"]),
        ([{"title": "t"}] * 11, []),
        ([{"description": "x" * 4000}, {"description": "x" * 2001}], []),
        ([{}], ["0"]),
        ("not a list", []),
    ],
)
def test_embeds_get_discords_50035_naming_the_field(owner, guild, embeds, path):
    hook = make_webhook(owner, guild.default_channel_id)
    answer = Client().post(
        f"/api/webhooks/{hook['id']}/{hook['token']}",
        {"embeds": embeds},
        content_type="application/json",
    )
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["code"] == 50035
    node = body["errors"]["embeds"]
    for part in path:
        node = node[part]
    assert node["_errors"][0]["message"]
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"content": ""},
        {"content": 5},
        {"content": "x" * 4001},
        {"content": "x", "allowed_mentions": {"parse": ["nobody"]}},
        {"content": "x", "allowed_mentions": "all"},
        {"content": "x", "allowed_mentions": {"parse": [["users"]]}},
        {"content": "x", "allowed_mentions": {"users": ["me"]}},
        {"content": "x", "embed": "nope"},
        {"content": "x", "avatar_url": "ftp://x"},
        {"content": "x", "username": "\u202e"},
        {"content": "x", "tts": True},
        [1, 2],
    ],
)
def test_bad_posts_get_a_clear_4xx(owner, guild, payload):
    hook = make_webhook(owner, guild.default_channel_id)
    answer = Client().post(
        f"/api/webhooks/{hook['id']}/{hook['token']}", payload, content_type="application/json"
    )
    assert 400 <= answer.status_code < 500 and "code" in answer.json()
    assert not Message.objects.exists()


def test_allowed_mentions_narrow_who_is_pinged(owner, guild, bob):
    hook = make_webhook(owner, guild.default_channel_id)
    posted = (
        Client()
        .post(
            f"/api/webhooks/{hook['id']}/{hook['token']}?wait=true",
            {"content": f"@everyone <@{bob.id}>", "allowed_mentions": {"parse": []}},
            content_type="application/json",
        )
        .json()
    )
    assert posted["mentions"] == [] and posted["mention_everyone"] is False


def test_multipart_payload_json_and_threads(owner, guild, alice):
    channel = guild.default_channel_id
    hook = make_webhook(owner, channel)
    starter = message_services.check_send_message(alice, channel, content="start")[0]
    thread = message_services.check_start_thread(alice, channel, starter.id, name="Deploys")
    url = f"/api/webhooks/{hook['id']}/{hook['token']}"
    posted = Client().post(
        f"{url}?wait=true&thread_id={thread.id}",
        {"payload_json": '{"content": "in the thread", "embeds": [{"title": "T"}]}'},
    )
    assert posted.status_code == 200, posted.content
    assert posted.json()["channel_id"] == str(thread.id)
    other = channel_services.check_create_channel(alice, guild.id, {"name": "elsewhere", "type": 0})
    wrong = Client().post(f"{url}?thread_id={other.id}", {"payload_json": '{"content": "x"}'})
    assert wrong.status_code == 404
    bad = Client().post(url, {"payload_json": "{nope"})
    assert bad.status_code == 400


def test_a_bot_manages_webhooks_with_its_token_and_sends_embeds(owner, guild):
    page = owner.post("/settings/developer/new/", {"name": "Hooker"})
    token = re.search(r'data-bot-token value="([^"]+)"', page.content.decode()).group(1)
    app_id = re.findall(r'data-application="(\d+)"', page.content.decode())[-1]
    perms = SEND | int(P.MANAGE_WEBHOOKS)
    owner.post(
        "/oauth2/authorize", {"client_id": app_id, "permissions": perms, "guild_id": guild.id}
    )
    bot = Client(HTTP_AUTHORIZATION=f"Bot {token}")
    channel = guild.default_channel_id
    made = bot.post(
        f"/api/v10/channels/{channel}/webhooks",
        {"name": "Bot hook"},
        content_type="application/json",
    )
    assert made.status_code == 200 and made.json()["user"]["bot"] is True
    sent = bot.post(
        f"/api/v10/channels/{channel}/messages",
        {"embeds": [{"title": "From a bot", "fields": [{"name": "k", "value": "v"}]}]},
        content_type="application/json",
    )
    assert sent.status_code == 200, sent.content
    assert sent.json()["embeds"][0]["fields"][0] == {"name": "k", "value": "v", "inline": False}
    edited = bot.patch(
        f"/api/v10/channels/{channel}/messages/{sent.json()['id']}",
        {"embeds": [{"title": "Edited"}]},
        content_type="application/json",
    )
    assert edited.status_code == 200 and edited.json()["embeds"][0]["title"] == "Edited"
    bad = bot.post(
        f"/api/v10/channels/{channel}/messages",
        {"content": "x", "embeds": [{"title": "t", "color": -1}]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "color" in bad.json()["errors"]["embeds"]["0"]


def test_the_http_api_blanks_content_for_a_bot_without_message_content(owner, guild, alice):
    ids = {}
    for name, grant in (("Blind", False), ("Reader", True)):
        page = owner.post("/settings/developer/new/", {"name": name})
        token = re.search(r'data-bot-token value="([^"]+)"', page.content.decode()).group(1)
        app_id = re.findall(r'data-application="(\d+)"', page.content.decode())[-1]
        if grant:
            owner.post(f"/settings/developer/{app_id}/intents/", {"message_content": "on"})
        owner.post(
            "/oauth2/authorize", {"client_id": app_id, "permissions": SEND, "guild_id": guild.id}
        )
        ids[name] = Client(HTTP_AUTHORIZATION=f"Bot {token}")
    channel = guild.default_channel_id
    hook = make_webhook(owner, channel)
    Client().post(
        f"/api/webhooks/{hook['id']}/{hook['token']}",
        {"content": "hooked", "embeds": [{"title": "secret embed"}]},
        content_type="application/json",
    )
    said = message_services.check_send_message(alice, channel, content="a secret recipe")[0]
    blind = ids["Blind"].get(f"/api/v10/channels/{channel}/messages").json()
    assert [(m["content"], m["embeds"]) for m in blind] == [("", []), ("", [])]
    one = ids["Blind"].get(f"/api/v10/channels/{channel}/messages/{said.id}").json()
    assert one["content"] == "" and one["author"]["username"] == "alice"
    reader = ids["Reader"].get(f"/api/v10/channels/{channel}/messages").json()
    assert [m["content"] for m in reader] == ["a secret recipe", "hooked"]
    assert reader[1]["embeds"][0]["title"] == "secret embed"


def test_the_integrations_page_makes_renames_and_deletes(owner, guild, bob):
    url = f"/app/guilds/{guild.id}/settings/integrations/"
    assert as_member(bob).get(url).status_code == 403
    page = owner.get(url)
    assert page.status_code == 200 and "No webhooks yet" in page.content.decode()
    made = owner.post(
        url, {"action": "create", "channel_id": guild.default_channel_id, "name": "Alerts"}
    )
    text = made.content.decode()
    assert made.status_code == 200 and "data-webhook-url" in text and "Alerts" in text
    webhook = Webhook.objects.get()
    saved = owner.post(
        url,
        {
            "action": "save",
            "webhook_id": webhook.id,
            "name": "Alarms",
            "avatar_url": "https://img.example.org/bell.png",
        },
    )
    assert saved.status_code == 200 and "data-webhook-url" not in saved.content.decode()
    webhook.refresh_from_db()
    assert webhook.name == "Alarms" and webhook.avatar_url.endswith("bell.png")
    bad = owner.post(url, {"action": "save", "webhook_id": webhook.id, "name": ""})
    assert bad.status_code == 400
    assert owner.post(url, {"action": "nope"}).status_code == 400
    assert owner.post(url, {"action": "delete", "webhook_id": "12"}).status_code == 404
    owner.post(url, {"action": "delete", "webhook_id": webhook.id})
    assert not Webhook.objects.exists()
    # The settings nav offers the section to whoever holds MANAGE_WEBHOOKS.
    assert "Integrations" in owner.get(f"/app/guilds/{guild.id}/settings/invites/").content.decode()


def png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def test_files_posted_with_the_message_become_its_attachments(owner, guild, bob, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    hook = make_webhook(owner, guild.default_channel_id)
    url = f"/api/webhooks/{hook['id']}/{hook['token']}?wait=true"
    posted = Client().post(
        url,
        {
            "payload_json": '{"content": "the chart"}',
            "files[0]": SimpleUploadedFile("chart.png", png(), "image/png"),
        },
    )
    assert posted.status_code == 200, posted.content
    (attachment,) = posted.json()["attachments"]
    assert attachment["filename"] == "chart.png" and attachment["content_type"] == "image/png"
    # A member of the channel reads it; the file counts against the webhook maker's quota.
    assert as_member(bob).get(attachment["url"]).status_code == 200
    settings.UNITED_MAX_UPLOAD_BYTES = 10
    too_big = Client().post(url, {"files[0]": SimpleUploadedFile("big.png", png(), "image/png")})
    assert too_big.status_code == 413 and too_big.json()["code"] == 40005
    assert Message.objects.filter(webhook_id=hook["id"]).count() == 1


def test_each_persona_of_a_webhook_starts_its_own_run_of_messages(owner, guild, bob):
    hook = make_webhook(owner, guild.default_channel_id)
    url = f"/api/webhooks/{hook['id']}/{hook['token']}"
    for name, text in (("Alpha", "one"), ("Alpha", "two"), ("Beta", "three")):
        Client().post(url, {"content": text, "username": name}, content_type="application/json")
    page = as_member(bob).get(f"/app/guilds/{guild.id}/channels/{guild.default_channel_id}/")
    heads = re.findall(r'<span class="msg-author">([^<]+)</span>', page.content.decode())
    assert heads == ["Alpha", "Beta"]
    assert f'data-author-id="{hook["id"]}:Beta"' in page.content.decode()
