"""What a flooding peer meets at the inbox (federation/inboxgate.py): a 429 with an exact
Retry-After once its domain has spent its budget, while other peers go on; a forged flood
refused by address before its signatures are checked; and a 503 when inbox work is already
using its share of the process.

Requests are really signed (tests/federation/fixtures.py). The limiter's clock is stepped by
the test, so "exactly at Retry-After" is an instant rather than a sleep on a loaded machine.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from federation import inboxgate
from federation.models import InboxItem, InboxRejection
from jobs.models import Job
from tests.federation.fixtures import RemoteIdentity, post_signed, remote_identity
from united import ratelimit

pytestmark = pytest.mark.django_db

START = 1_200_000.0  # a multiple of 60: a window opens at START


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ratelimit, "clock", fake)
    return fake


@pytest.fixture(autouse=True)
def _local_base(settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"


@pytest.fixture
def limits(settings):
    def set_(**specs: tuple[int, float]) -> None:
        settings.UNITED_RATE_LIMITS = {
            **settings.UNITED_RATE_LIMITS,
            **{name.replace("__", "."): spec for name, spec in specs.items()},
        }

    return set_


def follow(identity, n: int, target: str = "http://127.0.0.1:8000/users/bob") -> dict:
    origin = identity.uri.split("/users/")[0]
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{origin}/activities/{n}",
        "type": "Follow",
        "actor": identity.uri,
        "object": target,
    }


def assert_rate_limited(response, *, retry_after: float, limit: int) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == 20028
    assert body["message"] == "You are being rate limited."
    assert body["error"] == "rate_limited"
    assert body["global"] is False
    # Rounded up: never below the real wait.
    assert retry_after <= body["retry_after"] <= retry_after + 0.001
    assert response["Retry-After"] == str(max(1, -int(-retry_after // 1)))
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == "0"
    assert response["X-RateLimit-Scope"] == "shared"


def test_a_domain_over_its_budget_gets_429_and_another_domain_goes_on(
    client, clock, limits, make_user
):
    make_user("bob")
    limits(inbox__domain=(3, 60))
    eve = remote_identity("https://flood.example/users/eve")
    mallory = remote_identity("https://flood.example/users/mallory")
    alice = remote_identity("https://calm.example/users/alice")
    clock.now = START + 20.5
    for n in range(3):
        assert post_signed(client, eve, follow(eve, n)).status_code == 202
    jobs_before = Job.objects.count()

    # The budget is the domain's, not the actor's: another actor of flood.example is refused.
    refused = post_signed(client, mallory, follow(mallory, 99))
    assert_rate_limited(refused, retry_after=39.5, limit=3)
    assert_rate_limited(post_signed(client, eve, follow(eve, 3)), retry_after=39.5, limit=3)
    # Nothing of a refused activity is stored: no item, no job, not even a rejection row.
    assert not InboxItem.objects.filter(activity_uri__endswith="/activities/99").exists()
    assert not InboxItem.objects.filter(activity_uri__endswith="/activities/3").exists()
    assert InboxItem.objects.filter(activity_uri__startswith="https://flood.example/").count() == 3
    assert Job.objects.count() == jobs_before
    assert not InboxRejection.objects.exists()

    # Another peer is unaffected, on the shared inbox and on a personal one.
    assert post_signed(client, alice, follow(alice, 1)).status_code == 202
    personal = post_signed(client, alice, follow(alice, 2), path="/users/bob/inbox")
    assert personal.status_code == 202
    assert InboxItem.objects.filter(activity_uri__startswith="https://calm.example/").count() == 2

    # Retry-After is the real wait: a moment before it still refused, at it accepted.
    clock.now = START + 60 - 0.001
    assert post_signed(client, eve, follow(eve, 4)).status_code == 429
    clock.now = START + 60
    assert post_signed(client, eve, follow(eve, 4)).status_code == 202
    assert InboxItem.objects.filter(activity_uri="https://flood.example/activities/4").exists()


def test_a_forged_flood_is_refused_by_address_before_its_signatures_are_checked(
    client, clock, limits, make_user
):
    make_user("bob")
    limits(inbox__address=(5, 60))
    eve = remote_identity("https://victim.example/users/eve")
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    answers = [post_signed(client, eve, follow(eve, n), key=forger).status_code for n in range(20)]
    assert answers == [401] * 5 + [429] * 15
    # Only the five that were let through were verified (and recorded as bad signatures); the
    # other fifteen cost a cache lookup each.
    assert list(InboxRejection.objects.values_list("reason", flat=True)) == ["bad_signature"] * 5
    assert not InboxItem.objects.exists()
    refused = post_signed(client, eve, follow(eve, 21), key=forger)
    assert_rate_limited(refused, retry_after=60, limit=5)
    # The address is refused whatever it signs with, so the flood cannot be laundered through
    # an honest key either until the window ends.
    assert post_signed(client, eve, follow(eve, 22)).status_code == 429
    clock.now = START + 60
    assert post_signed(client, eve, follow(eve, 22)).status_code == 202


def test_inbox_work_beyond_its_share_waits_and_a_request_that_waits_too_long_gets_503(
    client, monkeypatch, make_user, settings
):
    make_user("bob")
    eve = remote_identity("https://busy.example/users/eve")
    monkeypatch.setattr(inboxgate, "WAIT", 0.2)
    holding, release = threading.Event(), threading.Event()

    def long_apply() -> None:
        with inboxgate.share(patient=True):
            holding.set()
            release.wait(5)

    worker = threading.Thread(target=long_apply)
    worker.start()
    try:
        assert holding.wait(5)
        response = post_signed(client, eve, follow(eve, 1))
    finally:
        release.set()
        worker.join()
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "busy"
    assert response.json()["code"] == 90503
    assert int(response["Retry-After"]) >= 1
    assert not InboxItem.objects.exists()

    # The slot stays idle long enough that inbox work keeps to its share of the process's
    # time (UNITED_INBOX_SHARE percent): at 25 %, three times as long as the last piece took,
    # at 50 % as long; the next piece starts no sooner.
    for percent, idle in ((25, 0.6), (50, 0.2)):
        settings.UNITED_INBOX_SHARE = percent
        with inboxgate.share(patient=True):
            time.sleep(0.2)
        ended = time.monotonic()
        with inboxgate.share(patient=True):
            started = time.monotonic()
        assert idle - 0.01 <= started - ended < idle + 0.15
    assert post_signed(client, eve, follow(eve, 2)).status_code == 202


def test_first_contact_fetches_outside_the_inbox_slot(client, settings, make_user):
    """A key or manifest fetch (up to 20 s, on a server the sender picks) must not hold up
    other peers' deliveries: the node fetches with the inbox slot free."""
    make_user("bob")
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    seen: list[tuple[str, bool]] = []
    documents: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802
            seen.append((self.path, inboxgate.in_use()))
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/activity+json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        ident = RemoteIdentity(
            f"{base}/users/newcomer",
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            f"{base}/users/newcomer/inbox",
        )
        documents["/users/newcomer"] = json.dumps(ident.document()).encode()
        response = post_signed(client, ident, follow(ident, 1))
        assert response.status_code == 202, response.content
        paths = [path for path, _ in seen]
        assert "/.well-known/federation" in paths and "/users/newcomer" in paths
        assert not any(held for _, held in seen), seen
        # Known now: the next delivery is checked and stored without a fetch.
        seen.clear()
        assert post_signed(client, ident, follow(ident, 2)).status_code == 202
        assert seen == []
        assert InboxItem.objects.filter(actor_uri=ident.uri).count() == 2
    finally:
        server.shutdown()
        server.server_close()
