"""Deceptive names (issue 29, united/names.py), each kind tried through the API as an attacker
would: hidden and reordering characters, look-alikes of the owner, a moderator, an operator or
"admin", and stacked combining marks in messages. What is refused answers 400 in the error
shape and changes nothing; what is allowed is stored normalised."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError

from accounts.admin import OperatorUserForm
from accounts.models import User
from guilds.models import Channel, Guild, Member
from guilds.permissions import Permissions as P

pytestmark = pytest.mark.django_db

HIDDEN = {
    "right-to-left override": "ali\u202ecE",
    "left-to-right embedding": "\u202aalice",
    "first strong isolate": "al\u2068ice",
    "pop directional isolate": "alice\u2069",
    "left-to-right mark": "alice\u200e",
    "right-to-left mark": "\u200falice",
    "arabic letter mark": "al\u061cice",
    "zero width space": "ali\u200bce",
    "zero width joiner between letters": "ali\u200dce",
    "zero width non-joiner between latin letters": "ali\u200cce",
    "word joiner": "ali\u2060ce",
    "byte-order mark": "\ufeffalice",
    "mongolian vowel separator": "ali\u180ece",
    "hangul filler": "\u3164",
    "halfwidth hangul filler": "alice\uffa0",
    "braille blank": "\u2800\u2800",
    "tag characters": "alice\U000e0061\U000e0062",
    "variation selector alone": "\ufe0falice",
    "variation selector after a space": "alice \ufe0f",
    "combining grapheme joiner": "al\u034fice",
    "soft hyphen": "ali\u00adce",
    "a control character": "ali\x07ce",
    "a line separator": "ali\u2028ce",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # registration is rate limited per address; start each test with room


@pytest.fixture
def moderator(guild, join, make_role):
    mods = make_role("mods", int(P.KICK_MEMBERS | P.BAN_MEMBERS))
    user = join("marta", mods)
    User.objects.filter(id=user.id).update(display_name="Marta")
    return user


@pytest.fixture
def operator(make_user):
    return make_user("olga", is_staff=True, display_name="Olga the Operator")


def refused(response, field: str) -> str:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == 50035 and field in body["errors"], body
    return " ".join(body["errors"][field])


def set_display_name(client, value):
    return client.patch("/api/v1/users/@me", {"global_name": value}, format="json")


def set_nick(client, guild, user, value):
    return client.patch(f"/api/v1/guilds/{guild.id}/members/{user.id}", {"nick": value}, "json")


@pytest.mark.parametrize("kind", sorted(HIDDEN))
def test_hidden_characters_are_refused_in_display_names_and_nicknames(kind, api, guild, join):
    bob = join("bob")
    client = api(bob)
    message = refused(set_display_name(client, HIDDEN[kind]), "global_name")
    assert "not allowed" in message or "visible" in message
    refused(set_nick(client, guild, bob, HIDDEN[kind]), "nick")
    bob.refresh_from_db()
    assert bob.display_name == ""
    assert Member.objects.get(guild=guild, user=bob).nick is None


def test_the_refusal_names_the_character(api, join):
    response = set_display_name(api(join("bob")), "ali\u202ecE")
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in refused(response, "global_name")


def test_what_scripts_need_is_kept_and_names_are_stored_normalised(api, join):
    client = api(join("bob"))
    cases = {
        "  Bob\u00a0\u00a0the\u3000Builder ": "Bob the Builder",  # every space is one space
        "Jose\u0301": "José",  # NFC
        "👩\u200d💻 Bob": "👩\u200d💻 Bob",  # an emoji ZWJ sequence
        "❤\ufe0f Bob": "❤\ufe0f Bob",  # an emoji presentation selector
        "می\u200cخواهم": "می\u200cخواهم",  # Persian needs ZWNJ
        "क्\u200dष": "क्\u200dष",  # ZWJ after a virama
        "🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f": (
            "🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"  # the Welsh flag
        ),
        "𝓑𝓸𝓫": "𝓑𝓸𝓫",  # styled letters stay as chosen (display names are not NFKC)
    }
    for given, stored in cases.items():
        response = set_display_name(client, given)
        assert response.status_code == 200, (given, response.content)
        assert response.json()["global_name"] == stored


@pytest.mark.parametrize(
    "name",
    [
        "Аdmin",  # Cyrillic А
        "ADMIN",
        "ａｄｍｉｎ",  # fullwidth
        "𝐚𝐝𝐦𝐢𝐧",  # mathematical bold
        "0wner",  # TR39 puts 0 with O
        "Sуstem",  # Cyrillic у
        "moderat\u043er",  # Cyrillic о
    ],
)
def test_look_alikes_of_reserved_names_are_refused(name, api, join):
    response = set_display_name(api(join("bob")), name)
    assert "This name looks like" in refused(response, "global_name")


def test_look_alikes_of_the_owner_a_moderator_and_an_operator_are_refused(
    api, guild, owner, moderator, operator, join
):
    User.objects.filter(id=owner.id).update(display_name="Captain")
    bob = join("bob")
    client = api(bob)
    attempts = {
        "Сaptain": "the guild owner's name",  # Cyrillic С: the owner's display name
        "OWNER": "the guild owner's name",  # the owner's username is "owner"
        "ΑDMIN": "reserved name",  # Greek Α
        "Mаrta": "a moderator's name",  # Cyrillic а
        "marta": "a moderator's name",  # her username, as written
        "0lga": "an operator's name",  # the operator's username, TR39 digits
        "Olga the Operatοr": "an operator's name",  # Greek ο
    }
    for name, whose in attempts.items():
        assert whose in refused(set_nick(client, guild, bob, name), "nick"), name
        assert whose in refused(set_display_name(client, name), "global_name"), name
    assert Member.objects.get(guild=guild, user=bob).nick is None
    # An ordinary nickname is fine.
    assert set_nick(client, guild, bob, "Bobby").status_code == 200
    assert Member.objects.get(guild=guild, user=bob).nick == "Bobby"


def test_who_holds_a_name_may_use_it(api, guild, owner, moderator, operator):
    User.objects.filter(id=owner.id).update(display_name="Captain")
    assert set_nick(api(owner), guild, owner, "Captain").status_code == 200
    assert set_nick(api(owner), guild, owner, "Owner").status_code == 200
    assert set_nick(api(moderator), guild, moderator, "Moderator").status_code == 200
    assert set_display_name(api(operator), "Admin").status_code == 200
    # A moderator may not pass for the owner, though.
    refused(set_nick(api(moderator), guild, moderator, "Сaptain"), "nick")


def test_a_moderator_renaming_someone_cannot_make_them_look_like_the_owner(
    api, guild, owner, make_role, join
):
    namers = make_role("namers", int(P.MANAGE_NICKNAMES))
    nadia = join("nadia", namers)
    bob = join("bob")
    assert "owner" in refused(set_nick(api(nadia), guild, bob, "οwner"), "nick")


def test_usernames_at_registration(api, operator):
    client = api()

    def register(username):
        return client.post(
            "/api/v1/auth/register",
            {"username": username, "password": "a long and careful password 7"},
            format="json",
        )

    for name in ("0perator", "r00t", "0LGA", "ADMlN"):
        refused(register(name), "username")
    assert not User.objects.filter(username__in=["0perator", "r00t", "0LGA", "ADMlN"]).exists()
    assert register("oliver").status_code == 201


def test_guild_and_channel_names(api, owner, guild):
    client = api(owner)
    refused(client.post("/api/v1/guilds", {"name": "Nice\u200bGuild"}, "json"), "name")
    refused(client.patch(f"/api/v1/guilds/{guild.id}", {"name": "\u202eevil"}, "json"), "name")
    made = client.post("/api/v1/guilds", {"name": "Tea\u00a0\u00a0Room"}, "json")
    assert made.status_code in (200, 201) and made.json()["name"] == "Tea Room"
    url = f"/api/v1/guilds/{guild.id}/channels"
    refused(client.post(url, {"name": "gen\u2066eral", "type": 0}, "json"), "name")
    channel = client.post(url, {"name": "ｒｕｌｅｓ２", "type": 0}, "json")
    assert channel.status_code in (200, 201), channel.content
    assert channel.json()["name"] == "rules2"  # channel names are NFKC identifiers
    assert Guild.objects.get(id=guild.id).name == "Test Guild"
    assert not Channel.objects.filter(name__contains="\u2066").exists()


def test_stacked_combining_marks_in_messages(api, guild, owner):
    client = api(owner)
    general = Channel.objects.get(guild=guild, name="general")
    url = f"/api/v1/channels/{general.id}/messages"
    zalgo = "x" + "\u0353\u0336\u0300" * 3  # 9 marks on one letter
    message = refused(client.post(url, {"content": f"hello {zalgo}"}, "json"), "content")
    assert "At most 8 combining marks" in message
    fine = "x" + "\u0353\u0336\u0300\u0302\u0303\u0304\u0306\u0307"  # 8 marks
    sent = client.post(url, {"content": f"hello {fine} Tiếng Việt"}, "json")
    assert sent.status_code == 200, sent.content
    edit = client.patch(f"{url}/{sent.json()['id']}", {"content": zalgo}, "json")
    refused(edit, "content")
    thousand = client.post(url, {"content": "a" + "\u0301" * 1000}, "json")
    refused(thousand, "content")


def test_the_admin_form_checks_a_display_name_as_the_api_does(make_user):
    bob = make_user("bob")
    form = OperatorUserForm(instance=bob)
    form.cleaned_data = {"display_name": "Аdmin"}
    with pytest.raises(ValidationError):
        form.clean_display_name()
    form.cleaned_data = {"display_name": "Bob\u00a0 B"}
    assert form.clean_display_name() == "Bob B"
