"""A member's latency while the inbox is flooded (issue 29): inbox work must not starve members.

One embedded node (daphne + its in-process job runner, as `make run` starts it). N fake peers,
each a loopback HTTP server on its own port (so N signing domains) serving its actor document
and an inbox for the node's Accepts, the way tests/federation does. A member calls
`GET /api/v1/users/@me` with a bearer token every PACE seconds, first at rest (the baseline,
measured in the same run, paced the same way), then while the peers send M signed Follows
each to the shared inbox from THREADS concurrent connections, until the node has answered
every POST and applied every stored item. The signatures are made before the flood starts
(draft-cavage rsa-sha256, as Mastodon signs), so the bench's own CPU does not weigh on the
node during it.

Goal: the member's p99 during the flood within 2× of its p99 at rest. Before
federation/inboxgate.py the issue measured 13 ms → 436 ms (600 Follows from 20 domains).

    .venv/bin/python bench/inbox_flood.py [DOMAINS] [FOLLOWS_PER_DOMAIN] [REST_SECONDS]
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nodes import Node  # noqa: E402

ENV = {"FEDERATION_ALLOW_PRIVATE": "127.0.0.1/32", "FEDERATION_SCHEME": "http"}
PACE = 0.05  # one member request every 50 ms, at rest and during the flood
THREADS = 8  # concurrent inbox connections of the flood
GOAL = 2.0

TOKEN = """
from accounts.models import AuthSession, User
from accounts.services.tokens import issue_tokens
member = User.objects.create_user("member", password="correct horse battery staple")
User.objects.create_user("bob", password="correct horse battery staple")
print(issue_tokens(AuthSession.objects.create(user=member, kind="api"))["access_token"])
"""


class Peer:
    """A fake fediverse server on its own loopback port: one actor, its key, an inbox."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?")[0] != "/users/eve":
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(peer.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.uri = f"{self.base}/users/eve"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def document(self) -> dict:
        pem = (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": self.uri,
            "type": "Person",
            "preferredUsername": "eve",
            "inbox": f"{self.uri}/inbox",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {"id": f"{self.uri}#main-key", "owner": self.uri, "publicKeyPem": pem},
        }

    def signed_follow(self, n: int, target: str, inbox: str) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{self.base}/activities/follow-{n}",
                "type": "Follow",
                "actor": self.uri,
                "object": target,
            }
        ).encode()
        host = inbox.split("/")[2]
        headers = {
            "host": host,
            "date": formatdate(usegmt=True),
            "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
        }
        path = "/" + inbox.split("/", 3)[3]
        message = f"(request-target): post {path}\n" + "\n".join(
            f"{name}: {value}" for name, value in headers.items()
        )
        signature = self.key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
        headers["signature"] = (
            f'keyId="{self.uri}#main-key",algorithm="rsa-sha256",'
            f'headers="(request-target) host date digest",'
            f'signature="{base64.b64encode(signature).decode()}"'
        )
        headers["content-type"] = "application/activity+json"
        return body, headers

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def member_latencies(url: str, token: str, stop: threading.Event, out: list[float]) -> None:
    """GET /api/v1/users/@me every PACE seconds until `stop`; milliseconds into `out`."""
    with httpx.Client(base_url=url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}
        client.get("/api/v1/users/@me", headers=headers).raise_for_status()  # connection, caches
        next_at = time.perf_counter()
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/api/v1/users/@me", headers=headers).raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
            next_at += PACE
            time.sleep(max(0.0, next_at - time.perf_counter()))


def flood(url: str, requests: list[tuple[bytes, dict[str, str]]], statuses: Counter) -> float:
    """Send every signed request from THREADS connections; returns the seconds it took."""
    queue = list(reversed(requests))
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    body, headers = queue.pop()
                status = client.post("/inbox", content=body, headers=headers).status_code
                with lock:
                    statuses[status] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def inbox_pending(node: Node) -> int:
    db = Path(node.env["UNITED_DATA_DIR"]) / "united.sqlite3"
    conn = sqlite3.connect(db, timeout=20)
    try:
        (pending,) = conn.execute(
            "SELECT count(*) FROM jobs_job WHERE state IN ('queued', 'running') "
            "AND name = 'federation.process_inbox'"
        ).fetchone()
    finally:
        conn.close()
    return pending


def percentiles(samples: list[float]) -> tuple[float, float, int]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99, len(ordered)


def main() -> None:
    domains = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_domain = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    rest_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 15.0
    peers = [Peer() for _ in range(domains)]
    statuses: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="united-bench-inbox-") as tmp:
        node = Node("inbox", Path(tmp) / "node", extra_env=ENV)
        try:
            node.start()
            token = node.python(TOKEN).splitlines()[-1]
            target = f"http://{node.env['FEDERATION_DOMAIN']}/users/bob"
            inbox = f"{node.url}/inbox"
            # Interleaved by domain, as many peers delivering at once would be.
            requests = [
                peer.signed_follow(n, target, inbox) for n in range(per_domain) for peer in peers
            ]

            rest: list[float] = []
            stop = threading.Event()
            sampler = threading.Thread(target=member_latencies, args=(node.url, token, stop, rest))
            sampler.start()
            time.sleep(rest_seconds)
            stop.set()
            sampler.join()

            during: list[float] = []
            stop = threading.Event()
            sampler = threading.Thread(
                target=member_latencies, args=(node.url, token, stop, during)
            )
            sampler.start()
            seconds = flood(node.url, requests, statuses)
            deadline = time.monotonic() + 600
            while inbox_pending(node) and time.monotonic() < deadline:
                time.sleep(0.2)
            applied = time.perf_counter()
            stop.set()
            sampler.join()
            drained = seconds + (time.perf_counter() - applied)
        finally:
            node.stop()
            for peer in peers:
                peer.stop()

    r50, r99, rn = percentiles(rest)
    f50, f99, fn = percentiles(during)
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items()))
    print(
        f"inbox flood bench: {domains} domains × {per_domain} signed Follows = {len(requests)} "
        f"POSTs to /inbox from {THREADS} connections; member GET /api/v1/users/@me every "
        f"{PACE * 1000:.0f} ms"
    )
    print(f"flood answers: {codes}; sent in {seconds:.1f} s ({len(requests) / seconds:.0f}/s)")
    print(f"{'member GET /users/@me':<32}{'samples':>8}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'at rest (baseline)':<32}{rn:>8}{r50:>9.1f}{r99:>9.1f}")
    print(f"{'during the flood':<32}{fn:>8}{f50:>9.1f}{f99:>9.1f}")
    print(f"p99 during / at rest: {f99 / r99:.2f}×   (goal ≤ {GOAL:.0f}×)")
    print(f"flood until every item applied: {drained:.1f} s")


if __name__ == "__main__":
    main()
