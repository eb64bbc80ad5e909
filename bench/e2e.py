"""E2E DM client cost: what the Python library spends per message, beside a baseline measured
in the same run (one bare XChaCha20-Poly1305 seal of the same payload, i.e. the cost of the
AEAD alone without the ratchet's HKDF/HMAC steps and the JSON envelope).

    .venv/bin/python bench/e2e.py               # 2,000 messages per row
    .venv/bin/python bench/e2e.py --messages 500

Rows: X3DH session start; encrypt + decrypt in one chain (steady state); a reply each time
(a DH ratchet step per message); fan-out to N devices; receiving after a 2,000-message gap.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.helpers import bundle_of, make_device  # noqa: E402
from united_client.e2e import primitives as c  # noqa: E402
from united_client.e2e.ratchet import MAX_SKIPPED, kdf_ck  # noqa: E402

PAYLOAD = {"type": "message", "id": "x" * 32, "content": "hello " * 20}


def timed(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    n = parser.parse_args().messages
    rows = []
    key, nonce, body = bytes(32), bytes(24), b"x" * 150
    rows.append(
        ("baseline: bare AEAD seal", timed(lambda: c.aead_encrypt(key, nonce, body, b""), n))
    )

    def start():
        a, b = make_device("1", "10", prekeys=1), make_device("2", "20", prekeys=1)
        a.start_session(bundle_of(b))

    rows.append(("X3DH session start (2 fresh devices)", timed(start, max(1, n // 20))))

    a, b = make_device("1", "10"), make_device("2", "20")
    a.start_session(bundle_of(b))
    b.decrypt(a.encrypt("9", [("2", "20")], PAYLOAD))

    def one_way():
        b.decrypt(a.encrypt("9", [("2", "20")], PAYLOAD))

    rows.append(("encrypt + decrypt, same chain", timed(one_way, n)))

    def ping_pong():
        b.decrypt(a.encrypt("9", [("2", "20")], PAYLOAD))
        a.decrypt(b.encrypt("9", [("1", "10")], PAYLOAD))

    rows.append(("encrypt + decrypt with a DH step each", timed(ping_pong, n // 2) / 2))

    peers = [make_device("2", str(30 + i)) for i in range(10)]
    for p in peers:
        a.start_session(bundle_of(p))
    targets = [("2", p.device_id) for p in peers]
    rows.append(
        (
            "encrypt for 10 devices (fan-out)",
            timed(lambda: a.encrypt("9", targets, PAYLOAD), max(1, n // 10)),
        )
    )

    def gap():
        s = a.sessions["20"][0].ratchet
        for _ in range(MAX_SKIPPED):
            s.cks, _mk = kdf_ck(s.cks)
            s.ns += 1
        b.decrypt(a.encrypt("9", [("2", "20")], PAYLOAD))

    rows.append((f"receive after a {MAX_SKIPPED}-message gap", timed(gap, 3)))
    base = rows[0][1]
    print(f"{'operation':45} {'µs/op':>10} {'× baseline':>11}")
    for name, us in rows:
        print(f"{name:45} {us:10.1f} {us / base:11.1f}")


if __name__ == "__main__":
    main()
