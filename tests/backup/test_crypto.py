"""The archive and blob encryption on their own: what opens, and every way tampering shows."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from backup import crypto

pytestmark = pytest.mark.mode_independent
SECRET = bytes(range(32))


@pytest.fixture(autouse=True)
def _cheap_argon(monkeypatch):
    # The cost is in the header and authenticated; the tests need the logic, not the cost.
    monkeypatch.setattr(crypto, "ARGON_OPS", 1)
    monkeypatch.setattr(crypto, "ARGON_MEM", 8192 * 8)


def archive(records: list[bytes], sealer: crypto.Sealer) -> bytes:
    out = io.BytesIO()
    writer = crypto.ArchiveWriter(out, sealer)
    for record in records:
        writer.write(record)
    writer.close()
    return out.getvalue()


def read(data: bytes, opener: crypto.Opener) -> list[bytes]:
    return list(crypto.read_archive(io.BytesIO(data), opener))


def test_records_come_back_and_the_header_is_authenticated():
    records = [b"meta", os.urandom(5000), b"end"]
    data = archive(records, crypto.Sealer(passphrase="pass"))
    assert read(data, crypto.Opener(passphrase="pass")) == records
    with pytest.raises(crypto.WrongKey):
        read(data, crypto.Opener(passphrase="Pass"))
    # A header asking for another cost (same length) no longer authenticates the first chunk.
    tweaked = data.replace(b'"ops": 1', b'"ops": 2', 1)
    assert tweaked != data
    with pytest.raises(crypto.WrongKey):
        read(tweaked, crypto.Opener(passphrase="pass"))


def test_cut_reordered_or_extended_archives_are_refused():
    records = [b"one" * 10, b"two" * 10, b"three" * 10]
    data = archive(records, crypto.Sealer(passphrase="pass"))
    opener = crypto.Opener(passphrase="pass")
    with pytest.raises(crypto.Tampered, match="cut short"):
        read(data[:-10], opener)
    with pytest.raises(crypto.Tampered, match="after|follows"):
        read(data + b"x", opener)
    # Dropping the final chunk entirely: the stream ends without TAG_FINAL.
    last = 4 + len(b"three" * 10) + crypto.ABYTES
    with pytest.raises(crypto.Tampered, match="cut short"):
        read(data[:-last], opener)


def test_a_blob_opens_only_under_its_address():
    content = os.urandom(crypto.BLOB_CHUNK * 2 + 17)
    sha = hashlib.sha256(content).hexdigest()
    sealed = io.BytesIO()
    crypto.encrypt_blob(SECRET, sha, iter([content[:1000], content[1000:]]), sealed)
    assert content[:64] not in sealed.getvalue()
    out = io.BytesIO()
    crypto.decrypt_blob(SECRET, sha, io.BytesIO(sealed.getvalue()), out)
    assert out.getvalue() == content
    flipped = bytearray(sealed.getvalue())
    flipped[-5] ^= 1
    with pytest.raises(crypto.Tampered):
        crypto.decrypt_blob(SECRET, sha, io.BytesIO(bytes(flipped)), io.BytesIO())
    other = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(crypto.Tampered):  # a blob object swapped in under another name
        crypto.decrypt_blob(SECRET, other, io.BytesIO(sealed.getvalue()), io.BytesIO())
    assert crypto.blob_name(SECRET, sha) != crypto.blob_name(bytes(32), sha)
    assert sha not in crypto.blob_name(SECRET, sha)
