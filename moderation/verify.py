"""Checking an exported moderation log, with nothing but the node's public key.

Standalone on purpose (standard library + PyNaCl, no Django): copy this file next to an
export and run `python verify.py export.json` to check it offline. `verify_modlog` and the
tests use the same functions.

Each entry's hash is SHA-256 over `canonical(entry)`: compact JSON, keys sorted, of the
chained fields; `prev_hash` of entry n is the hash of entry n-1 (64 zeros for the first);
`sig` is the node's Ed25519 signature (base64) over the same canonical bytes. `seq` counts
1, 2, 3 … without gaps. The export's `head` is signed too, so cutting entries off the end
is caught.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

GENESIS = "0" * 64
CHAINED = ("guild_id", "seq", "action", "action_type", "target", "details", "actor", "time")


def canonical(entry: dict[str, Any]) -> bytes:
    body = {key: entry[key] for key in CHAINED}
    body["prev_hash"] = entry["prev_hash"]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def head_bytes(guild_id: str, seq: int, head_hash: str) -> bytes:
    body = {"guild_id": guild_id, "seq": seq, "hash": head_hash}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Result:
    ok: bool
    checked: int
    seq: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"OK: {self.checked} entries, chain and signatures intact"
        return f"BROKEN at seq {self.seq}: {self.problem}"


def _signed(key: VerifyKey, data: bytes, sig: str) -> bool:
    try:
        key.verify(data, base64.b64decode(sig, validate=True))
    except (BadSignatureError, ValueError):
        return False
    return True


def verify_entries(
    entries: list[dict[str, Any]],
    public_key: str,
    head: dict[str, Any] | None = None,
) -> Result:
    """Replay the chain in the order given and report the first broken or missing entry."""
    key = VerifyKey(base64.b64decode(public_key))
    prev = GENESIS
    expected_seq = 1
    for count, entry in enumerate(entries):
        seq = entry.get("seq")
        if seq != expected_seq:
            if isinstance(seq, int) and seq > expected_seq:
                return Result(False, count, expected_seq, f"entry {expected_seq} is missing")
            return Result(
                False, count, expected_seq, f"found seq {seq} where {expected_seq} belongs"
            )
        if entry.get("prev_hash") != prev:
            return Result(False, count, seq, "prev_hash does not match the previous entry")
        digest = entry_hash(entry)
        if not _signed(key, canonical(entry), entry.get("sig", "")):
            return Result(False, count, seq, "signature does not match the entry (edited?)")
        prev = digest
        expected_seq += 1
    if head is not None:
        head_seq, head_hash = head.get("seq"), head.get("hash")
        data = head_bytes(str(head.get("guild_id")), head_seq or 0, head_hash or "")
        if not _signed(key, data, head.get("sig", "")):
            return Result(False, len(entries), head_seq, "the signed head is not the node's")
        if head_seq != expected_seq - 1 or (head_seq and head_hash != prev):
            return Result(
                False, len(entries), expected_seq, f"the head says {head_seq} entries exist"
            )
    return Result(True, len(entries))


def verify_export(export: dict[str, Any], public_key: str | None = None) -> Result:
    """An export from `GET /guilds/{id}/modlog/export`. Pass the public key you trust (from
    the node's well-known documents, obtained separately); the one inside the export is
    only used when you pass none."""
    key = public_key or export["public_key"]
    return verify_entries(export["entries"], key, export.get("head"))


if __name__ == "__main__":  # pragma: no cover - the offline door
    with open(sys.argv[1], encoding="utf-8") as handle:
        result = verify_export(json.load(handle), sys.argv[2] if len(sys.argv) > 2 else None)
    print(result)
    sys.exit(0 if result.ok else 1)
