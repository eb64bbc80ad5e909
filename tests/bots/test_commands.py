"""Application commands through Discord's routes (/api/v10/applications/{app}/…/commands):
what a bot registers, what it reads back, and the refusals Discord gives for bad payloads."""

from __future__ import annotations

import pytest
from django.test import Client

from bots.models import ApplicationCommand
from guilds.services import guilds as guild_services
from tests.bots.test_api import bot_client, create, installed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


PING = {"name": "ping", "description": "Answers pong", "type": 1}
FULL = {
    "name": "remind",
    "description": "Set a reminder",
    "options": [
        {
            "type": 1,
            "name": "in",
            "description": "After a delay",
            "options": [
                {
                    "type": 4,
                    "name": "minutes",
                    "description": "How long",
                    "required": True,
                    "min_value": 1,
                    "max_value": 1440,
                },
                {"type": 3, "name": "what", "description": "About", "autocomplete": True},
            ],
        },
        {
            "type": 2,
            "name": "every",
            "description": "Repeating",
            "options": [
                {
                    "type": 1,
                    "name": "day",
                    "description": "Daily",
                    "options": [
                        {
                            "type": 3,
                            "name": "tone",
                            "description": "Tone",
                            "required": True,
                            "choices": [
                                {"name": "Gentle", "value": "gentle"},
                                {"name": "Loud", "value": "loud"},
                            ],
                        },
                        {
                            "type": 7,
                            "name": "where",
                            "description": "Channel",
                            "channel_types": [0],
                        },
                    ],
                }
            ],
        },
    ],
}


def routes(app, guild_id=None) -> str:
    base = f"/api/v10/applications/{app.id}"
    return f"{base}/guilds/{guild_id}/commands" if guild_id else f"{base}/commands"


def errors_at(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    return body["errors"]


def test_a_bot_creates_reads_edits_and_deletes_a_global_command(browser, guild):
    app, bot = installed(browser, guild)
    made = bot.post(routes(app), FULL, content_type="application/json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["application_id"] == str(app.id) and "guild_id" not in body
    assert body["type"] == 1 and body["options"][0]["options"][0]["required"] is True
    assert body["options"][1]["options"][0]["options"][0]["choices"][1]["value"] == "loud"
    assert body["default_member_permissions"] is None and body["nsfw"] is False
    listed = bot.get(routes(app)).json()
    assert [c["id"] for c in listed] == [body["id"]]
    assert bot.get(f"{routes(app)}/{body['id']}").json()["name"] == "remind"

    edited = bot.patch(
        f"{routes(app)}/{body['id']}",
        {"description": "Reminders", "default_member_permissions": "8192"},
        content_type="application/json",
    ).json()
    assert edited["id"] == body["id"] and edited["version"] != body["version"]
    assert edited["description"] == "Reminders" and edited["default_member_permissions"] == "8192"
    assert edited["options"] == body["options"]  # PATCH keeps what it does not name

    # POST of the same type and name updates in place (Discord's upsert): 200, same id.
    again = bot.post(routes(app), {**PING, "name": "remind"}, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again.json()["options"] == []

    assert bot.delete(f"{routes(app)}/{body['id']}").status_code == 204
    gone = bot.get(f"{routes(app)}/{body['id']}")
    assert gone.status_code == 404 and gone.json()["code"] == 10063
    assert not ApplicationCommand.objects.exists()


def test_bulk_overwrite_keeps_ids_of_matching_commands_and_drops_the_rest(browser, guild):
    app, bot = installed(browser, guild)
    first = bot.put(
        routes(app, guild.id),
        [PING, {"name": "Report message", "type": 3}, {"name": "Wave at", "type": 2}],
        content_type="application/json",
    )
    assert first.status_code == 200, first.content
    ids = {(c["type"], c["name"]): c["id"] for c in first.json()}
    assert all(c["guild_id"] == str(guild.id) for c in first.json())
    assert first.json()[1]["description"] == "" and first.json()[1]["options"] == []

    second = bot.put(
        routes(app, guild.id),
        [{**PING, "description": "Pong!"}, {"name": "echo", "description": "Says it back"}],
        content_type="application/json",
    ).json()
    assert second[0]["id"] == ids[(1, "ping")] and second[0]["description"] == "Pong!"
    assert second[1]["id"] not in ids.values()
    stored = bot.get(routes(app, guild.id)).json()
    assert sorted(c["name"] for c in stored) == ["echo", "ping"]
    # Global and guild commands are separate scopes.
    assert bot.get(routes(app)).json() == []
    assert bot.put(routes(app, guild.id), [], content_type="application/json").json() == []
    assert not ApplicationCommand.objects.exists()


BAD = [
    ({"name": "Ping", "description": "x"}, ("name",), "APPLICATION_COMMAND_INVALID_NAME"),
    ({"name": "two words", "description": "x"}, ("name",), "APPLICATION_COMMAND_INVALID_NAME"),
    ({"name": "x" * 33, "description": "x"}, ("name",), "BASE_TYPE_BAD_LENGTH"),
    ({"name": "", "description": "x"}, ("name",), "BASE_TYPE_REQUIRED"),
    ({"name": "ok"}, ("description",), "BASE_TYPE_REQUIRED"),
    ({"name": "ok", "description": "x" * 101}, ("description",), "BASE_TYPE_BAD_LENGTH"),
    ({"name": "ok", "description": "x", "type": 9}, ("type",), "ENUM_TYPE_COERCE"),
    (
        {"name": "Menu", "type": 3, "description": "no"},
        ("description",),
        "APPLICATION_COMMAND_INVALID_DESCRIPTION",
    ),
    (
        {"name": "Menu", "type": 2, "options": [{"type": 3, "name": "a", "description": "a"}]},
        ("options",),
        "APPLICATION_COMMAND_OPTIONS_INVALID",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {"type": 3, "name": "a", "description": "a"},
                {"type": 3, "name": "b", "description": "b", "required": True},
            ],
        },
        ("options", "1", "required"),
        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {"type": 3, "name": "a", "description": "a"},
                {"type": 3, "name": "a", "description": "b"},
            ],
        },
        ("options", "1", "name"),
        "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [{"type": 3, "name": f"o{i}", "description": "d"} for i in range(26)],
        },
        ("options",),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {
                    "type": 3,
                    "name": "a",
                    "description": "a",
                    "autocomplete": True,
                    "choices": [{"name": "x", "value": "x"}],
                }
            ],
        },
        ("options", "0", "autocomplete"),
        "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {
                    "type": 5,
                    "name": "a",
                    "description": "a",
                    "choices": [{"name": "x", "value": "x"}],
                }
            ],
        },
        ("options", "0", "choices"),
        "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {
                    "type": 4,
                    "name": "a",
                    "description": "a",
                    "choices": [{"name": f"c{i}", "value": i} for i in range(26)],
                }
            ],
        },
        ("options", "0", "choices"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {
                    "type": 4,
                    "name": "a",
                    "description": "a",
                    "choices": [{"name": "half", "value": 1.5}],
                }
            ],
        },
        ("options", "0", "choices", "0", "value"),
        "INTEGER_TYPE_COERCE",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {
                    "type": 1,
                    "name": "sub",
                    "description": "s",
                    "options": [{"type": 1, "name": "deeper", "description": "d"}],
                }
            ],
        },
        ("options", "0", "options", "0", "type"),
        "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {
                    "type": 2,
                    "name": "grp",
                    "description": "g",
                    "options": [{"type": 3, "name": "plain", "description": "p"}],
                }
            ],
        },
        ("options", "0", "options"),
        "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [
                {"type": 1, "name": "sub", "description": "s"},
                {"type": 3, "name": "plain", "description": "p"},
            ],
        },
        ("options",),
        "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
    ),
    (
        {
            "name": "ok",
            "description": "x",
            "options": [{"type": 3, "name": "a", "description": "a", "min_length": 7000}],
        },
        ("options", "0", "min_length"),
        "NUMBER_TYPE_MAX",
    ),
    (
        {"name": "ok", "description": "x", "default_member_permissions": "lots"},
        ("default_member_permissions",),
        "NUMBER_TYPE_COERCE",
    ),
]


@pytest.mark.parametrize(("payload", "path", "code"), BAD, ids=range(len(BAD)))
def test_bad_commands_get_discords_nested_errors(browser, guild, payload, path, code):
    app, bot = installed(browser, guild)
    node = errors_at(bot.post(routes(app), payload, content_type="application/json"))
    for part in path:
        node = node[part]
    assert code in [e["code"] for e in node["_errors"]], node
    # The same payload in a bulk overwrite is reported under its index.
    node = errors_at(bot.put(routes(app), [PING, payload], content_type="application/json"))
    for part in ("1", *path):
        node = node[part]
    assert code in [e["code"] for e in node["_errors"]]
    assert not ApplicationCommand.objects.exists()


def test_the_combined_text_of_a_command_is_limited(browser, guild):
    app, bot = installed(browser, guild)
    options = [
        {
            "type": 3,
            "name": f"o{i}",
            "description": "d" * 100,
            "choices": [{"name": "n" * 100, "value": "v" * 100} for _ in range(25)],
        }
        for i in range(2)
    ]
    payload = {"name": "big", "description": "x", "options": options}
    errors = errors_at(bot.post(routes(app), payload, content_type="application/json"))
    assert errors["_errors"][0]["code"] == "APPLICATION_COMMAND_TOO_LARGE"
    ok = {**payload, "options": options[:1]}
    assert bot.post(routes(app), ok, content_type="application/json").status_code == 201


def test_duplicates_and_counts_are_refused(browser, guild, settings):
    app, bot = installed(browser, guild)
    twice = errors_at(bot.put(routes(app), [PING, PING], content_type="application/json"))
    assert twice["1"]["name"]["_errors"][0]["code"] == "APPLICATION_COMMANDS_DUPLICATE_NAME"
    # The same name as a different type is another command.
    both = bot.put(
        routes(app), [PING, {"name": "ping", "type": 3}], content_type="application/json"
    )
    assert both.status_code == 200 and len(both.json()) == 2

    menus = [{"name": f"Menu {i}", "type": 2} for i in range(15)]
    assert bot.put(routes(app), menus, content_type="application/json").status_code == 200
    over = bot.post(routes(app), {"name": "Menu 15", "type": 2}, content_type="application/json")
    assert over.status_code == 400 and over.json()["code"] == 30032
    too_many = errors_at(
        bot.put(
            routes(app), [*menus, {"name": "Menu 15", "type": 2}], content_type="application/json"
        )
    )
    assert too_many["15"]["_errors"][0]["code"] == "APPLICATION_COMMANDS_MAX"

    rename = bot.post(routes(app), {**PING, "name": "pong"}, content_type="application/json").json()
    clash = bot.patch(
        f"{routes(app)}/{rename['id']}", {"name": "Menu 1"}, content_type="application/json"
    )
    assert clash.status_code == 400  # lowercase rule for slash commands
    menu_id = next(c["id"] for c in bot.get(routes(app)).json() if c["name"] == "Menu 1")
    clash = bot.patch(
        f"{routes(app)}/{menu_id}", {"name": "Menu 2"}, content_type="application/json"
    )
    assert errors_at(clash)["name"]["_errors"][0]["code"] == "APPLICATION_COMMANDS_DUPLICATE_NAME"


def test_a_bot_manages_only_its_own_commands_in_its_own_guilds(browser, guild, alice):
    app, bot = installed(browser, guild)
    made = bot.post(routes(app, guild.id), PING, content_type="application/json").json()

    elsewhere = guild_services.check_create_guild(alice, name="Elsewhere")
    refused = bot.put(routes(app, elsewhere.id), [PING], content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == 50001
    assert bot.get(routes(app, elsewhere.id)).status_code == 403

    second_app, second_bot = second(browser, guild)
    for method, url in (
        ("get", routes(app)),
        ("post", routes(app)),
        ("put", routes(app, guild.id)),
        ("get", f"{routes(app, guild.id)}/{made['id']}"),
        ("patch", f"{routes(app, guild.id)}/{made['id']}"),
        ("delete", f"{routes(app, guild.id)}/{made['id']}"),
    ):
        answer = getattr(second_bot, method)(
            url, [PING] if method == "put" else PING, content_type="application/json"
        )
        assert answer.status_code == 403 and answer.json()["code"] == 50001, (method, url)
    # Its own routes do not reach the first bot's commands by id either.
    stray = second_bot.get(f"{routes(second_app, guild.id)}/{made['id']}")
    assert stray.status_code == 404 and stray.json()["code"] == 10063
    # A guild command is not a global one.
    assert bot.get(f"{routes(app)}/{made['id']}").status_code == 404
    assert bot.get(routes(app, guild.id)).json()[0]["id"] == made["id"]
    unauth = browser.get(routes(app))
    assert unauth.status_code == 401


def second(browser, guild):
    app, token = create(browser, name="Second")
    browser.post("/oauth2/authorize", {"client_id": app.id, "permissions": 0, "guild_id": guild.id})
    return app, bot_client(token)


HOSTILE = [
    2**63,
    "99999999999999999999999",
    -1,
    1.5,
    None,
    True,
    [],
    {},
    "\u0000",
    "\ud800",
    float("inf"),
]


def test_hostile_values_get_a_4xx_never_a_500(browser, guild):
    app, bot = installed(browser, guild)
    made = bot.post(routes(app), PING, content_type="application/json").json()
    keys = (
        "name",
        "description",
        "type",
        "options",
        "default_member_permissions",
        "dm_permission",
        "nsfw",
        "contexts",
        "integration_types",
        "name_localizations",
    )
    for value in HOSTILE:
        for key in keys:
            for body in (
                {**PING, key: value},
                {**PING, "options": [{"type": 3, "name": "a", "description": "a", key: value}]},
                {
                    **PING,
                    "options": [
                        {
                            "type": 4,
                            "name": "a",
                            "description": "a",
                            "choices": [{"name": "c", "value": value}],
                            "min_value": value,
                        }
                    ],
                },
            ):
                for method, url, data in (
                    ("post", routes(app), body),
                    ("put", routes(app), [body]),
                    ("put", routes(app), body),
                    ("patch", f"{routes(app)}/{made['id']}", body),
                ):
                    try:
                        answer = getattr(bot, method)(url, data, content_type="application/json")
                    except ValueError:
                        continue  # the test client cannot encode inf; no client sends it either
                    assert answer.status_code < 500, (method, body)
    for raw in (b"[", b"not json", b"{}", b'"x"', b"[1, 2]"):
        for method in ("POST", "PUT"):
            answer = bot.generic(method, routes(app), raw, "application/json")
            assert 400 <= answer.status_code < 500, (method, raw)
    assert bot.get(f"{routes(app)}/{2**63}").status_code == 404
