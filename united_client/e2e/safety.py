"""Safety numbers, Signal's numeric fingerprint (version 0): for each side,
SHA-512 iterated 5,200 times over (0x0000 || key || user id, then digest || key); the first
30 bytes as six 5-byte big-endian numbers mod 100,000 give 30 digits. The two halves are
sorted so both people see the same 60 digits.

The "key" of an account is the concatenation of its devices' Ed25519 identity keys from its
signed device list, in device-id order: a changed key or an added device changes the number.
"""

from __future__ import annotations

import hashlib

ITERATIONS = 5200


def account_key(devices: dict[str, bytes]) -> bytes:
    return b"".join(k for _, k in sorted(devices.items()))


def half(key: bytes, user_id: str) -> str:
    digest = b"\x00\x00" + key + str(user_id).encode()
    for _ in range(ITERATIONS):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def safety_number(key_a: bytes, user_a: str, key_b: bytes, user_b: str) -> str:
    return "".join(sorted([half(key_a, user_a), half(key_b, user_b)]))
