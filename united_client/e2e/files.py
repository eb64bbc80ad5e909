"""Encrypted attachments: libsodium's secretstream (XChaCha20-Poly1305) over 64 KiB chunks.

`encrypt_file(data)` returns the blob to upload (24-byte stream header, then each chunk's
ciphertext; the last chunk carries TAG_FINAL, so truncation is detected) and the descriptor
that goes inside the encrypted message: the random key and the SHA-256 of the blob. The node
stores an opaque blob (`encrypted=true`), never the key. `decrypt_file` checks the hash, then
every chunk, and refuses a stream that ends early or continues after its final chunk.
"""

from __future__ import annotations

import hashlib
from typing import Any

from nacl import bindings as b
from nacl.exceptions import CryptoError

from united_client.e2e import primitives as c
from united_client.e2e.errors import DecryptError

CHUNK = 64 * 1024
ABYTES = b.crypto_secretstream_xchacha20poly1305_ABYTES
HEADER = b.crypto_secretstream_xchacha20poly1305_HEADERBYTES


def encrypt_file(data: bytes, key: bytes | None = None) -> tuple[bytes, dict[str, Any]]:
    key = key or b.crypto_secretstream_xchacha20poly1305_keygen()
    state = b.crypto_secretstream_xchacha20poly1305_state()
    header = b.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    out = [header]
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    for n, chunk in enumerate(chunks):
        final = n == len(chunks) - 1
        tag = (
            b.crypto_secretstream_xchacha20poly1305_TAG_FINAL
            if final
            else b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        )
        out.append(b.crypto_secretstream_xchacha20poly1305_push(state, chunk, None, tag))
    blob = b"".join(out)
    return blob, {
        "key": c.b64(key),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "size": len(data),
        "chunk": CHUNK,
    }


def decrypt_file(blob: bytes, descriptor: dict[str, Any]) -> bytes:
    if hashlib.sha256(blob).hexdigest() != descriptor.get("sha256"):
        raise DecryptError("The file does not match the hash in the message.", "tampered")
    try:
        key = c.unb64(descriptor["key"], 32)
        chunk = int(descriptor.get("chunk", CHUNK))
    except (KeyError, TypeError, ValueError):
        raise DecryptError("Malformed file descriptor.", "malformed") from None
    state = b.crypto_secretstream_xchacha20poly1305_state()
    try:
        b.crypto_secretstream_xchacha20poly1305_init_pull(state, blob[:HEADER], key)
        out, pos, done = [], HEADER, False
        while pos < len(blob):
            if done:
                raise DecryptError("Data after the final chunk.", "tampered")
            piece = blob[pos : pos + chunk + ABYTES]
            pos += len(piece)
            plain, tag = b.crypto_secretstream_xchacha20poly1305_pull(state, piece, None)
            out.append(plain)
            done = tag == b.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    except CryptoError:
        raise DecryptError("The file failed its integrity check.", "tampered") from None
    if not done:
        raise DecryptError("The file is truncated.", "tampered")
    return b"".join(out)
