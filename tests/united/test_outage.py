"""An unreachable database or Redis answers 503 with Retry-After at every door, never 500, and
a refused send is not stored (docs/operations.md, "Outages"). The failures are real: a
PostgreSQL or Redis port nothing listens on, a SQLite file whose directory does not exist.
The outage under a running node (PostgreSQL and Redis restarted while a client sends) is
tests/messaging/test_outage_live.py."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.db import DatabaseError, connection, connections, transaction
from django.test import RequestFactory
from rest_framework.test import APIClient

from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from messaging.models import Message
from tests.services import free_port
from united import errors
from united.views import server_error

RETRY_AFTER = str(int(errors.OUTAGE_RETRY_AFTER))


def dead_redis_cache() -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }


@contextmanager
def database_unreachable() -> Iterator[None]:
    """The default database goes out of reach for new connections: PostgreSQL on a port
    nothing listens on, or SQLite in a directory that does not exist."""
    conn = connections["default"]
    conn.close()
    saved = dict(conn.settings_dict)
    if conn.vendor == "sqlite":
        conn.settings_dict["NAME"] = str(Path(tempfile.mkdtemp()) / "gone" / "united.sqlite3")
    else:
        conn.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == RETRY_AFTER
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert body["code"] == errors.SERVICE_UNAVAILABLE
    assert body["retry_after"] == errors.OUTAGE_RETRY_AFTER
    assert body["message"] and body["errors"] == {}


def assert_unavailable_html(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == RETRY_AFTER
    assert response["Content-Type"].startswith("text/html")
    assert b'role="alert"' in response.content and b"try again" in response.content


@pytest.fixture
def chat(make_user):
    owner = make_user("alice")
    guild = guild_services.check_create_guild(owner, name="Outage", description="")
    channel = channel_services.check_create_channel(owner, guild.id, {"name": "general", "type": 0})
    api = APIClient()
    api.force_authenticate(owner)
    return owner, channel, api


# --- what counts as an outage ------------------------------------------------------------------


def test_unreachable_postgresql_and_redis_are_outages_and_a_bad_query_is_not(db):
    from django.db.backends.postgresql.base import DatabaseWrapper as Postgres
    from django.db.backends.sqlite3.base import DatabaseWrapper as Sqlite

    postgres = Postgres(
        {
            **connection.settings_dict,
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "united",
            "USER": "united",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            "OPTIONS": {"connect_timeout": 2},
        }
    )
    with pytest.raises(DatabaseError) as refused:
        postgres.ensure_connection()
    assert errors.is_outage(refused.value)

    sqlite = Sqlite(
        {
            **connection.settings_dict,
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(tempfile.mkdtemp()) / "gone" / "x.sqlite3"),
            "OPTIONS": {},
        }
    )
    with pytest.raises(DatabaseError) as unopenable:
        sqlite.ensure_connection()
    assert errors.is_outage(unopenable.value)

    with pytest.raises(redis.exceptions.ConnectionError) as no_redis:
        redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=2).ping()
    assert errors.is_outage(no_redis.value)

    # A bug stays a bug (500): SQLite says "no such table" with the same exception class.
    with pytest.raises(DatabaseError) as bad_query, transaction.atomic():
        connection.cursor().execute("SELECT * FROM no_such_table_anywhere")
    assert not errors.is_outage(bad_query.value)
    assert not errors.is_outage(ValueError("no"))


# --- Redis (cache, rate limits) ------------------------------------------------------------------


def test_a_send_while_redis_is_down_is_503_and_not_stored_then_its_retry_is_stored_once(
    chat, settings
):
    owner, channel, api = chat
    url = f"/api/v1/channels/{channel.id}/messages"
    body = {"content": "during the outage", "nonce": "outage-1"}
    real_caches = settings.CACHES
    settings.CACHES = dead_redis_cache()
    response = api.post(url, body, format="json")
    assert_unavailable_json(response)
    assert not Message.objects.filter(nonce="outage-1").exists()

    settings.CACHES = real_caches
    retried = api.post(url, body, format="json")
    assert retried.status_code == 200, retried.content
    again = api.post(url, body, format="json")
    assert again.json()["id"] == retried.json()["id"]
    assert Message.objects.filter(nonce="outage-1").count() == 1


def test_a_web_send_while_redis_is_down_is_a_503_fragment(chat, client, settings):
    owner, channel, _ = chat
    client.force_login(owner)
    settings.CACHES = dead_redis_cache()
    response = client.post(
        f"/app/channels/{channel.id}/messages/send/",
        {"content": "from the composer", "nonce": "web-outage-1"},
        HTTP_HX_REQUEST="true",
    )
    assert_unavailable_html(response)
    assert not response.content.startswith(b"<!doctype")  # a fragment for the composer
    assert not Message.objects.filter(nonce="web-outage-1").exists()


# --- the database ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_every_door_answers_503_while_the_database_is_unreachable(chat, client):
    owner, channel, api = chat
    client.force_login(owner)
    url = f"/api/v1/channels/{channel.id}/messages"
    with database_unreachable():
        api_read = api.get(url)
        api_send = api.post(url, {"content": "lost?", "nonce": "db-1"}, format="json")
        page = client.get("/app/", HTTP_ACCEPT="text/html,application/xhtml+xml")
        inbox = client.post("/users/alice/inbox", b"{}", content_type="application/activity+json")
    assert_unavailable_json(api_read)
    assert_unavailable_json(api_send)
    assert_unavailable_html(page)
    assert page.content.startswith(b"<!doctype html>")  # a whole page for a browser
    assert_unavailable_json(inbox)
    assert not Message.objects.filter(nonce="db-1").exists()
    # Back: the same request works.
    assert api.get(url).status_code == 200


def test_what_fails_outside_a_view_is_503_for_an_outage_and_500_for_a_bug(db):
    """Django's handler500 (reached when a middleware fails) tells the two apart."""
    request = RequestFactory().get("/api/v1/users/@me")
    try:
        redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        assert_unavailable_json(server_error(request))
    try:
        raise KeyError("a bug")
    except KeyError:
        response = server_error(request)
    assert response.status_code == 500
    assert json.loads(response.content)["code"] == errors.GENERAL


# --- after the commit ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_database_lost_right_after_the_commit_does_not_fail_the_committed_send(chat, monkeypatch):
    """The send's post-commit work (announcing its search drain, publishing its gateway
    event) meets an unreachable database: the send still returns its message, which is stored,
    and its backlog row waits for a drain (at worst the periodic one)."""
    from jobs.models import Job
    from messaging.models import SearchBacklog
    from messaging.search import indexing
    from messaging.services import messages

    monkeypatch.setattr(indexing, "_drain_at", 0.0)  # no drain remembered: the send writes one
    owner, channel, _ = chat
    outage = database_unreachable()
    with transaction.atomic():
        # Runs first among the commit hooks, so every hook of the send meets the outage.
        transaction.on_commit(outage.__enter__)
        message, created = messages.check_send_message(
            owner, channel.id, content="committed", nonce="after-commit-1"
        )
    try:
        with pytest.raises(DatabaseError) as down:
            connection.ensure_connection()  # the outage was real when the hooks ran
        assert errors.is_outage(down.value)
    finally:
        outage.__exit__(None, None, None)
    assert created and Message.objects.filter(id=message.id, nonce="after-commit-1").exists()
    assert SearchBacklog.objects.filter(message_id=message.id).exists()
    job = Job.objects.get(name=indexing.DRAIN_JOB)
    assert job.dispatched_at is None  # the announce failed; tick() will announce it
