"""Every page and form of the node outside the REST API (the web client, sign-in and account
pages, moderation pages, the federation endpoints) answers hostile values with a 4xx, never a
500. The REST API has its own fuzzing from the OpenAPI schema (tests/united/test_fuzz.py); the
admin is Django's.

The routes come from the URL resolver, so a new page is covered the day it is added. The
fields sent are the names each view's module reads from `request.POST` / `request.GET`, so a
new field is covered too: all of them with each hostile value, as GET and as POST, then each
alone, by the guild's owner (who may reach every form) on a fresh world."""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from guilds.services import roles as role_services
from guilds.services.invites import check_create_invite
from messaging.services import messages as message_services
from messaging.services.dms import check_open_dm
from moderation.services import reports

pytestmark = pytest.mark.django_db

HOSTILE = ["abc", "-1", "0", "9" * 30, str(2**64), "NaN", "1e400", "", "\x00", "a" * 5000]
# Prefixes whose doors are fuzzed elsewhere: the REST API from its schema, the admin is Django's,
# static files are not views.
ELSEWHERE = ("api/", "admin/", "static/")
# A remote invite names a domain: hostile values there would be looked up in DNS, which a test
# may not do (tests/federation/test_guild_join.py covers that field on loopback).
NOT_HERE = {("web-fed-join", "invite")}
# Pages about a thing this world has none of (a remote join, a stored activity): 404 is all
# they can answer here, and the test still holds them to no 500.
NOTHING_TO_FIND = {"web-fed-join-state", "ap-activity"}
FIELD = re.compile(
    r"""request\.(?:POST|GET)(?:\.get|\.getlist)?[(\[]\s*["']([A-Za-z0-9_\-]+)["']"""
)


def routes() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
        for p in patterns:
            here = prefix + str(p.pattern)
            if here.startswith(ELSEWHERE):
                continue
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, here)
            else:
                yield here, p

    yield from walk(get_resolver().url_patterns, "")


def fields(pattern: URLPattern) -> list[str]:
    view = getattr(pattern.callback, "view_class", pattern.callback)
    module = sys.modules[inspect.unwrap(view).__module__]
    return sorted(set(FIELD.findall(inspect.getsource(module))))


ROUTES = sorted(routes(), key=lambda r: r[0])


@pytest.fixture
def world(owner, guild, general, member, make_user):
    message, _ = message_services.check_send_message(member, general.id, content="evidence")
    role = role_services.check_create_role(owner, guild.id, {"name": "Helpers"})
    invite = check_create_invite(owner, general.id, {"max_age": 0})
    filed = reports.check_create_report(
        owner,
        {
            "type": "message",
            "channel_id": str(general.id),
            "message_id": str(message.id),
            "category": "spam",
        },
    )
    dm, _ = check_open_dm(owner, member.id)
    starter, _ = message_services.check_send_message(member, general.id, content="a topic")
    thread = message_services.check_start_thread(owner, general.id, starter.id, name="Topic")
    return {
        "dm": dm.id,
        "thread_id": thread.id,
        "guild_id": guild.id,
        "channel_id": general.id,
        "message_id": message.id,
        "user_id": member.id,
        "role_id": role.id,
        "case_id": filed.case_id,
        "code": invite.code,
        "name": owner.username,
    }


def url_for(route: str, pattern: URLPattern, world: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        if pattern.name == "web-dm":
            return str(world["dm"])
        return str(world.get(name, 1 if converter == "id" else "x"))

    path = re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)
    return "/" + path.lstrip("^").rstrip("$")


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[r for r, _ in ROUTES])
def test_hostile_values_in_every_field_of_every_page_answer_4xx(route, pattern, world, owner):
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    url = url_for(route, pattern, world)
    names = [f for f in fields(pattern) if (pattern.name, f) not in NOT_HERE]
    answered: list[tuple[str, str, str, int]] = []

    def send(method: str, data: dict[str, str], what: str, value: str) -> None:
        response = getattr(client, method)(url, data)
        answered.append((method, what, value[:12], response.status_code))

    # Every field at once with each value, then each field alone (a view may stop at its first
    # bad field) with the two values that most often reach a query: not a number, and a
    # number no database column holds.
    for value in HOSTILE:
        for method in ("get", "post"):
            send(method, dict.fromkeys(names, value), "all", value)
    for name in names:
        for value in ("abc", str(2**64)):
            send("post", {name: value}, name, value)
    failed = [a for a in answered if a[3] >= 500]
    assert not failed, failed
    # Something reached the view: not every answer was the same 404 for a path we filled wrong.
    assert any(a[3] != 404 for a in answered) or pattern.name in NOTHING_TO_FIND, answered[:4]


def test_a_nul_in_a_form_or_query_is_refused_at_the_door_and_changes_nothing(world, owner, general):
    """PostgreSQL cannot store a NUL and SQLite can: refused before any view runs, so both
    modes answer the same 400 in the error shape."""
    from messaging.models import Message

    client = Client()
    client.force_login(owner)
    before = Message.objects.count()
    sent = client.post(f"/app/channels/{general.id}/messages/send/", {"content": "hi\x00there"})
    assert sent.status_code == 400
    assert sent.json() == {
        "code": 50035,
        "message": "A field holds a NUL character",
        "errors": {"content": ["No NUL characters."]},
    }
    assert client.get("/app/", {"q\x00": "x"}).status_code == 400
    assert Client().post("/login/", {"username": "owner\x00", "password": "x"}).status_code == 400
    assert Message.objects.count() == before
    # Without the NUL the same send goes through: the door refuses the character, not the form.
    ok = client.post(f"/app/channels/{general.id}/messages/send/", {"content": "hi there"})
    assert ok.status_code == 201 and Message.objects.count() == before + 1
