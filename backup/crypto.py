"""The encryption of backup archives and of the blobs beside them (libsodium through PyNaCl).

An archive is one XChaCha20-Poly1305 secretstream. Its 32-byte stream key is either derived
from a passphrase with Argon2id (salt and cost in the clear header) or random and sealed to
the operator's X25519 public key (a sealed box), so a node can write backups it cannot read.
The clear header is the additional data of the first chunk: changing it (a lower Argon2 cost,
another sealed key) fails authentication like any other tampering. The last chunk carries
TAG_FINAL, so a truncated archive is refused too.

    magic (16) | u32 header length | header JSON | stream header (24) | (u32 length | chunk)*

Blobs are encrypted one stream each with a key derived from their SHA-256 under the node's
backup secret (`backup.models.BackupSecret`), and stored under a name derived the same way.
The same content therefore always lands under the same name, which is what makes repeated
backups incremental, while the names reveal nothing of the content to whoever holds the
target without the secret (it travels inside the archive, with the database).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
from nacl.public import PrivateKey, PublicKey, SealedBox

MAGIC = b"UNITED-BACKUP-1\n"
KEY_BYTES = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES
HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
# Argon2id at libsodium's "moderate" cost: about a second and 256 MiB, paid once per archive.
ARGON_OPS = argon2id.OPSLIMIT_MODERATE
ARGON_MEM = argon2id.MEMLIMIT_MODERATE
# A chunk is at most this big before encryption; a larger length field is tampering.
MAX_CHUNK = 16 * 1024 * 1024
BLOB_CHUNK = 256 * 1024
_LEN = struct.Struct(">I")


class WrongKey(Exception):
    """The passphrase or private key does not open this archive (or its header was altered)."""


class Tampered(Exception):
    """The archive or a blob fails authentication after its first chunk: altered or cut."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


@dataclass(frozen=True)
class Opener:
    """What opens an archive: a passphrase, or the private half of the recipient key."""

    passphrase: str | None = None
    private_key: bytes | None = None


@dataclass(frozen=True)
class Sealer:
    """What an archive is written for: a passphrase, or the recipient's public key."""

    passphrase: str | None = None
    recipient: bytes | None = None

    def new_key(self) -> tuple[bytes, dict[str, Any]]:
        if self.recipient is not None:
            key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
            sealed = SealedBox(PublicKey(self.recipient)).encrypt(key)
            return key, {
                "kdf": "sealed-box",
                "recipient": b64(self.recipient),
                "sealed": b64(sealed),
            }
        if not self.passphrase:
            raise ValueError("a backup needs a passphrase or a recipient public key")
        salt = os.urandom(argon2id.SALTBYTES)
        key = argon2id.kdf(KEY_BYTES, self.passphrase.encode(), salt, ARGON_OPS, ARGON_MEM)
        return key, {"kdf": "argon2id", "salt": b64(salt), "ops": ARGON_OPS, "mem": ARGON_MEM}


def new_keypair() -> tuple[bytes, bytes]:
    """(private, public) X25519 keys for archives sealed to an operator."""
    private = PrivateKey.generate()
    return bytes(private), bytes(private.public_key)


def _open_key(header: dict[str, Any], opener: Opener) -> bytes:
    kdf = header.get("kdf")
    if kdf == "argon2id":
        if not opener.passphrase:
            raise WrongKey("this archive is encrypted with a passphrase; give it")
        ops, mem = int(header["ops"]), int(header["mem"])
        # Bounds keep a doctored header from asking for absurd work; the values are
        # authenticated anyway once the first chunk opens.
        if not (1 <= ops <= 16 and 8192 <= mem <= 4 << 30):
            raise Tampered("the archive's key derivation parameters are out of range")
        return argon2id.kdf(KEY_BYTES, opener.passphrase.encode(), unb64(header["salt"]), ops, mem)
    if kdf == "sealed-box":
        if opener.private_key is None:
            raise WrongKey("this archive is sealed to a public key; give its private key file")
        try:
            return SealedBox(PrivateKey(opener.private_key)).decrypt(unb64(header["sealed"]))
        except nacl.exceptions.CryptoError:
            raise WrongKey("this private key does not open the archive") from None
    raise Tampered(f"unknown key derivation {kdf!r}")


class ArchiveWriter:
    """Write records (bytes) into an encrypted archive on `out`."""

    def __init__(self, out: IO[bytes], sealer: Sealer) -> None:
        key, header = sealer.new_key()
        header_bytes = json.dumps({"v": 1, **header}, sort_keys=True).encode()
        self.out = out
        self.ad: bytes | None = MAGIC + header_bytes
        self.state = sodium.crypto_secretstream_xchacha20poly1305_state()
        stream_header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self.state, key)
        out.write(MAGIC + _LEN.pack(len(header_bytes)) + header_bytes + stream_header)
        self.pending: bytes | None = None

    def _push(self, data: bytes, tag: int) -> None:
        chunk = sodium.crypto_secretstream_xchacha20poly1305_push(self.state, data, self.ad, tag)
        self.ad = None
        self.out.write(_LEN.pack(len(chunk)) + chunk)

    def write(self, record: bytes) -> None:
        if len(record) > MAX_CHUNK:
            raise ValueError("record too large for one chunk")
        # One record behind: the last one goes out with TAG_FINAL in close().
        if self.pending is not None:
            self._push(self.pending, TAG_MESSAGE)
        self.pending = record

    def close(self) -> None:
        self._push(self.pending or b"", TAG_FINAL)
        self.pending = None


def _read_exact(src: IO[bytes], n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise Tampered("the archive ends early (cut short)")
    return data


def read_archive(src: IO[bytes], opener: Opener) -> Iterator[bytes]:
    """Yield the archive's records, raising WrongKey if the first chunk does not open and
    Tampered if a later one does not, if the stream ends before its final chunk, or if
    anything follows it."""
    if src.read(len(MAGIC)) != MAGIC:
        raise Tampered("not a UNITED backup archive (bad magic)")
    (length,) = _LEN.unpack(_read_exact(src, 4))
    if length > 64 * 1024:
        raise Tampered("the archive's header is too long")
    header_bytes = _read_exact(src, length)
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise Tampered("the archive's header is not JSON") from None
    if not isinstance(header, dict) or header.get("v") != 1:
        raise Tampered("unknown archive version")
    key = _open_key(header, opener)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(
        state, _read_exact(src, HEADER_BYTES), key
    )
    ad: bytes | None = MAGIC + header_bytes
    index = 0
    while True:
        raw = src.read(4)
        if len(raw) != 4:
            raise Tampered("the archive ends before its final chunk (cut short)")
        (length,) = _LEN.unpack(raw)
        if length > MAX_CHUNK + ABYTES:
            raise Tampered(f"chunk {index} has an impossible length")
        chunk = _read_exact(src, length)
        try:
            data, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunk, ad)
        except nacl.exceptions.CryptoError:
            if index == 0:
                raise WrongKey(
                    "wrong passphrase or key (or the archive's first bytes were altered)"
                ) from None
            raise Tampered(f"chunk {index} fails authentication: the archive was altered") from None
        ad = None
        index += 1
        yield data
        if tag == TAG_FINAL:
            if src.read(1):
                raise Tampered("data follows the archive's final chunk")
            return


# --- blobs --------------------------------------------------------------------------------


def _derive(secret: bytes, sha256: str, person: bytes) -> bytes:
    return hashlib.blake2b(
        bytes.fromhex(sha256), key=secret, person=person, digest_size=32
    ).digest()


def blob_name(secret: bytes, sha256: str) -> str:
    name = _derive(secret, sha256, b"united-bk-name").hex()
    return f"blobs/{name[:2]}/{name}"


def encrypt_blob(secret: bytes, sha256: str, chunks: Iterator[bytes], out: IO[bytes]) -> None:
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    out.write(
        sodium.crypto_secretstream_xchacha20poly1305_init_push(
            state, _derive(secret, sha256, b"united-bk-blob")
        )
    )
    ad: bytes | None = sha256.encode()
    pending = b""
    for data in chunks:
        pending += data
        while len(pending) > BLOB_CHUNK:
            piece, pending = pending[:BLOB_CHUNK], pending[BLOB_CHUNK:]
            chunk = sodium.crypto_secretstream_xchacha20poly1305_push(state, piece, ad, TAG_MESSAGE)
            out.write(_LEN.pack(len(chunk)) + chunk)
            ad = None
    chunk = sodium.crypto_secretstream_xchacha20poly1305_push(state, pending, ad, TAG_FINAL)
    out.write(_LEN.pack(len(chunk)) + chunk)


def decrypt_blob(secret: bytes, sha256: str, src: IO[bytes], out: IO[bytes]) -> None:
    """Decrypt a blob into `out`, checking that its bytes hash to the address it is for."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = src.read(HEADER_BYTES)
    if len(header) != HEADER_BYTES:
        raise Tampered(f"blob {sha256[:16]}… is cut short")
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(
        state, header, _derive(secret, sha256, b"united-bk-blob")
    )
    digest = hashlib.sha256()
    ad: bytes | None = sha256.encode()
    while True:
        raw = src.read(4)
        if len(raw) != 4:
            raise Tampered(f"blob {sha256[:16]}… is cut short")
        (length,) = _LEN.unpack(raw)
        if length > BLOB_CHUNK + ABYTES:
            raise Tampered(f"blob {sha256[:16]}… has an impossible chunk length")
        chunk = src.read(length)
        try:
            data, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunk, ad)
        except nacl.exceptions.CryptoError:
            raise Tampered(f"blob {sha256[:16]}… fails authentication") from None
        ad = None
        digest.update(data)
        out.write(data)
        if tag == TAG_FINAL:
            break
    if digest.hexdigest() != sha256:
        raise Tampered(f"blob {sha256[:16]}… does not hash to its address")
