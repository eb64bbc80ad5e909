"""Federation throughput between two real nodes on loopback: what HTTP signatures cost.

Node A posts the same N activities to node B's shared inbox three ways, in one run:
signed with A's Ed25519 key (hs2019, what UNITED nodes use between themselves), signed with
A's RSA key (rsa-sha256, what the wider fediverse verifies), and unsigned. Signed requests are
verified and stored by B (202); unsigned ones are refused by B at the signature check (401), so
the unsigned line is the cost of HTTP, body handling and the inbox view without cryptography.
The ratio signed/unsigned is the signing + verification overhead. A last line measures the
whole engine: activities written to A's outbox until B has stored them all.

    .venv/bin/python bench/federation.py [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nodes import Node  # noqa: E402

ENV = {"FEDERATION_ALLOW_PRIVATE": "127.0.0.1/32", "FEDERATION_SCHEME": "http"}

SCRIPT = """
import json, time
import httpx
from accounts.models import User
from federation import actors, keys, remote
from federation.models import KeyAlgorithm
from federation.signatures import sign_request

N, MODE = {n}, {mode!r}
alice = User.objects.get_or_create(username="alice")[0]
bob = remote.webfinger("bob@{b_domain}")
inbox = bob.shared_inbox or bob.inbox
me = actors.user_uri("alice")
bodies = [
    json.dumps({{"@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{{actors.base_url()}}/activities/bench-{{MODE}}-{{i}}",
                "type": "Follow", "actor": me, "object": bob.uri}}).encode()
    for i in range(N)
]
ed = keys.signing_key(KeyAlgorithm.ED25519)
rsa = keys.signing_key(KeyAlgorithm.RSA)
ed_id = f"{{me}}#ed25519-{{ed.fingerprint}}"
rsa_id = me + "#main-key"
sign = {{
    "ed": lambda b: sign_request("POST", inbox, b, ed_id, ed.private),
    "rsa": lambda b: sign_request("POST", inbox, b, rsa_id, rsa.private),
    "plain": lambda b: {{}},
}}[MODE]
with httpx.Client(timeout=30) as client:
    # Warm-up: B fetches and caches A's keys; the connection is opened.
    for warm in (sign_request("POST", inbox, b"{{}}", ed_id, ed.private),
                 sign_request("POST", inbox, b"{{}}", rsa_id, rsa.private)):
        client.post(inbox, content=b"{{}}", headers=warm)
    statuses = set()
    started = time.perf_counter()
    for body in bodies:
        headers = {{"Content-Type": "application/activity+json"}}
        headers.update(sign(body))
        statuses.add(client.post(inbox, content=body, headers=headers).status_code)
    print("RESULT " + json.dumps([time.perf_counter() - started, sorted(statuses)]))
"""

CRYPTO = """
import time
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from federation.signatures import sign_request, verify_request
body = b'{{"type": "Follow"}}' * 10
for label, key in (("ed", ed25519.Ed25519PrivateKey.generate()),
                   ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048))):
    public = key.public_key()
    started = time.perf_counter()
    for _ in range({n}):
        headers = sign_request("POST", "http://b.example/inbox", body, "k", key)
        verify_request("POST", "/inbox", headers, body, lambda k, r: public)
    print("CRYPTO", label, (time.perf_counter() - started) / {n})
"""

ENGINE = """
import time
from accounts.models import User
from federation import activities, actors, delivery
from federation.models import RemoteActor
bob = RemoteActor.objects.get(uri="http://{b_domain}/users/bob")
me = actors.user_uri("alice")
started = time.time()
from django.db import transaction
with transaction.atomic():
    for i in range({n}):
        delivery.fan_out(activities.follow(me, bob.uri), [bob])
print("STARTED", started)
"""


LABELS = {
    "ed": "signed hs2019 (Ed25519)",
    "rsa": "signed rsa-sha256 (RSA-2048)",
    "plain": "unsigned (refused at signature)",
}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    results: dict[str, tuple[float, list[int]]] = {}
    with tempfile.TemporaryDirectory(prefix="united-bench-fed-") as tmp:
        a = Node("a", Path(tmp) / "a", extra_env=ENV)
        b = Node("b", Path(tmp) / "b", extra_env=ENV)
        try:
            a.start()
            b.start()
            b.create_user("bob", "correct horse battery staple")
            a.create_user("alice", "correct horse battery staple")
            b_domain = b.env["FEDERATION_DOMAIN"]
            for mode in ("plain", "ed", "rsa"):
                out = a.python(SCRIPT.format(n=n, b_domain=b_domain, mode=mode))
                line = next(x for x in out.splitlines() if x.startswith("RESULT "))
                seconds, statuses = json.loads(line[len("RESULT ") :])
                results[LABELS[mode]] = (seconds, statuses)
                _drain(b)  # B's background processing must not slow the next line down
            engine = _engine(a, b, n, b_domain)
            crypto = {
                line.split()[1]: float(line.split()[2])
                for line in a.python(CRYPTO.format(n=n)).splitlines()
                if line.startswith("CRYPTO")
            }
        finally:
            a.stop()
            b.stop()
    unsigned = results[LABELS["plain"]][0]
    print(f"federation bench: {n} Follow activities per line, node A → node B on loopback")
    print(f"{'mode':<38}{'HTTP':>6}{'seconds':>10}{'act/s':>10}{'time × unsigned':>17}")
    for label, (seconds, statuses) in results.items():
        codes = ",".join(str(s) for s in statuses)
        print(
            f"{label:<38}{codes:>6}{seconds:>10.2f}{n / seconds:>10.0f}{seconds / unsigned:>17.2f}"
        )
    label = "delivery engine (A outbox → B stored)"
    print(f"{label:<38}{'202':>6}{engine:>10.2f}{n / engine:>10.0f}{engine / unsigned:>17.2f}")
    for name, per in crypto.items():
        print(f"sign + verify in-process, {name:<12}{per * 1000:>8.2f} ms per request")


def _drain(b: Node) -> None:
    import sqlite3
    import time

    db = Path(b.env["UNITED_DATA_DIR"]) / "united.sqlite3"
    deadline = time.time() + 300
    while time.time() < deadline:
        conn = sqlite3.connect(db, timeout=20)
        try:
            (busy,) = conn.execute(
                "SELECT count(*) FROM jobs_job WHERE state IN ('queued', 'running') "
                "AND name != 'federation.sweep'"
            ).fetchone()
        finally:
            conn.close()
        if not busy:
            return
        time.sleep(0.2)


def _engine(a: Node, b: Node, n: int, b_domain: str) -> float:
    import sqlite3
    import time

    out = a.python(ENGINE.format(n=n, b_domain=b_domain))
    started = float(next(x for x in out.splitlines() if x.startswith("STARTED")).split()[1])
    db = Path(b.env["UNITED_DATA_DIR"]) / "united.sqlite3"
    deadline = time.time() + 600
    while time.time() < deadline:
        conn = sqlite3.connect(db, timeout=20)
        try:
            (count,) = conn.execute(
                "SELECT count(*) FROM federation_inboxitem WHERE activity_uri NOT LIKE '%bench-%'"
            ).fetchone()
        finally:
            conn.close()
        if count >= n:
            return time.time() - started
        time.sleep(0.05)
    raise SystemExit("the delivery engine did not deliver everything within 10 minutes")


if __name__ == "__main__":
    main()
