"""A node in production mode loses PostgreSQL (restarted under it) or Redis (killed, then
started again on its port) while a client sends messages with nonces.

Every answer is 200 or 503 with Retry-After, never 500; every send answered 200 is stored
once; a send answered 503 is not stored (after a Redis outage: never; after a database
restart, it may have committed just before its connection was cut, the one case nobody can
tell from outside), and retried with its nonce it is stored exactly once. Each test runs its
own PostgreSQL or Redis, so no other test sees the outage (docs/security.md, "Faults")."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests import services
from tests.nodes import Node, login, services_mode
from united.errors import OUTAGE_RETRY_AFTER, SERVICE_UNAVAILABLE

pytestmark = [
    pytest.mark.live,
    pytest.mark.xdist_group("outage-live"),
    pytest.mark.skipif(not services_mode(), reason="production mode: PostgreSQL and Redis"),
]
PASSWORD = "correct horse battery staple"


@dataclass
class Sent:
    nonce: str
    status: int
    body: dict
    retry_after: str | None
    at: float


class Sender:
    """One client sending, one request at a time, until told to stop."""

    def __init__(self, url: str, token: str, channel_id: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.path = f"/api/v1/channels/{channel_id}/messages"
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def send(self, nonce: str) -> Sent:
        response = self.client.post(self.path, json={"content": f"m {nonce}", "nonce": nonce})
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text[:300]}
        return Sent(nonce, response.status_code, body, response.headers.get("Retry-After"), 0)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            sent = self.send(f"s-{n}")
            sent.at = time.monotonic()
            self.sent.append(sent)
            time.sleep(0.02)

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def prepare(node: Node) -> tuple[str, str]:
    """A member with a guild and a channel; returns their token and the channel id."""
    node.create_user("dora", PASSWORD)
    token = httpx.post(
        f"{node.url}/api/v1/auth/login", json={"username": "dora", "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    guild = httpx.post(f"{node.url}/api/v1/guilds", json={"name": "Outage"}, headers=headers)
    channel = httpx.post(
        f"{node.url}/api/v1/guilds/{guild.json()['id']}/channels",
        json={"name": "outage", "type": 0},
        headers=headers,
    )
    assert channel.status_code in (200, 201), channel.text
    return token, channel.json()["id"]


def stored(database_url: str) -> dict[str, list[int]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT nonce, id FROM messaging_message WHERE nonce IS NOT NULL"
        ).fetchall()
    found: dict[str, list[int]] = {}
    for nonce, message_id in rows:
        found.setdefault(nonce, []).append(message_id)
    return found


def check_answers(sent: list[Sent]) -> tuple[list[Sent], list[Sent]]:
    """Only 200 and 503 (with Retry-After and the error shape); the outage was seen, and
    sends succeeded again after it."""
    assert sent, "nothing was sent"
    others = [(s.nonce, s.status, s.body) for s in sent if s.status not in (200, 503)]
    assert not others, others
    ok = [s for s in sent if s.status == 200]
    refused = [s for s in sent if s.status == 503]
    assert refused, "the outage was never seen: the test proves nothing"
    assert sent[-1].status == 200 and sent[0].status == 200, [s.status for s in sent]
    for s in refused:
        assert s.retry_after == str(int(OUTAGE_RETRY_AFTER)), s
        assert s.body["code"] == SERVICE_UNAVAILABLE and s.body["retry_after"] > 0, s
    return ok, refused


def check_retries(sender: Sender, refused: list[Sent], database_url: str) -> None:
    """Each refused send, retried with its nonce, is stored exactly once."""
    for s in refused:
        again = sender.send(s.nonce)
        assert again.status == 200, again
    rows = stored(database_url)
    for s in refused:
        assert len(rows[s.nonce]) == 1, (s.nonce, rows[s.nonce])


def test_a_postgresql_restart_answers_503_and_loses_or_doubles_no_send(tmp_path):
    pg = services.start_postgres()  # its own temp directory: the postgres user must reach it
    redis = services.start_redis(tmp_path)
    node = Node("pgout", tmp_path / "node", extra_env={"REDIS_URL": redis.url})
    # The node's database (a copy of the suite's migrated template) moves to our own server,
    # which this test stops; every other test keeps the suite's PostgreSQL.
    copy = node.env["DATABASE_URL"]
    own = services.create_database(pg.port, "united_outage")
    dump = subprocess.run(
        [services._pg_bin("pg_dump"), "--no-owner", "--no-acl", copy],
        capture_output=True,
        check=True,
    )
    subprocess.run(
        [services._pg_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", own],
        input=dump.stdout,
        capture_output=True,
        check=True,
    )
    node.env["DATABASE_URL"] = own
    try:
        node.start()
        token, channel_id = prepare(node)
        browser = httpx.Client(base_url=node.url, headers={"Accept": "text/html"})
        login(browser, "dora", PASSWORD)
        with Sender(node.url, token, channel_id) as sender:
            time.sleep(1.5)
            services.stop_postgres_fast(pg)
            time.sleep(1)
            page = browser.get("/app/")
            read = sender.client.get(f"/api/v1/channels/{channel_id}/messages")
            time.sleep(1.5)
            services.restart_postgres(pg)
            time.sleep(2.5)
        ok, refused = check_answers(sender.sent)
        assert page.status_code == 503 and page.headers["Retry-After"] == "5", page.text
        assert page.headers["Content-Type"].startswith("text/html")
        assert read.status_code == 503 and read.json()["code"] == SERVICE_UNAVAILABLE
        rows = stored(own)
        for s in ok:
            assert rows.get(s.nonce) == [int(s.body["id"])], s
        # A 503 send is not stored, unless its connection was cut after the commit; which
        # way it went, the retry below leaves exactly one.
        assert all(len(rows.get(s.nonce, [])) <= 1 for s in refused)
        check_retries(sender, refused, own)
    finally:
        node.stop()
        pg.stop()
        redis.stop()
        with psycopg.connect(copy.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy.rsplit("/", 1)[1]}"')


def test_a_redis_outage_answers_503_and_stores_no_refused_send(tmp_path):
    redis = services.start_redis(tmp_path)
    node = Node("rdout", tmp_path / "node", extra_env={"REDIS_URL": redis.url})
    try:
        node.start()
        token, channel_id = prepare(node)
        with Sender(node.url, token, channel_id) as sender:
            time.sleep(1.5)
            redis.kill()
            time.sleep(3)
            redis = services.start_redis(tmp_path, port=redis.port)
            time.sleep(2.5)
        ok, refused = check_answers(sender.sent)
        rows = stored(node.env["DATABASE_URL"])
        for s in ok:
            assert rows.get(s.nonce) == [int(s.body["id"])], s
        # Redis is asked (rate limits) before the write: a refused send never committed.
        assert [s.nonce for s in refused if s.nonce in rows] == []
        check_retries(sender, refused, node.env["DATABASE_URL"])
    finally:
        node.stop()
        redis.stop()
