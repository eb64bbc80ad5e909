from __future__ import annotations

import hashlib
import io

import pytest

from media.models import blob_key
from media.storage import blob_store

pytestmark = [pytest.mark.mode_independent, pytest.mark.usefixtures("backend")]


def test_put_get_exists_delete_list(backend):
    store = blob_store()
    assert store.is_s3 == (backend == "s3")
    data = b"hello blobs " * 50_000
    key = blob_key(hashlib.sha256(data).hexdigest())
    assert not store.exists(key)
    store.put(key, io.BytesIO(data))
    assert store.exists(key)
    assert store.size(key) == len(data)
    assert store.read(key) == data
    assert b"".join(store.get(key, 10, 19)) == data[10:20]
    assert b"".join(store.get(key, len(data) - 5)) == data[-5:]
    other = blob_key(hashlib.sha256(b"x").hexdigest())
    store.put(other, io.BytesIO(b"x"))
    assert sorted(store.list("blobs")) == sorted([key, other])
    store.delete(key)
    assert not store.exists(key)
    assert list(store.list("blobs")) == [other]


def test_putting_the_same_key_twice_keeps_one_copy(tmp_path):
    store = blob_store()
    data = b"same bytes"
    key = blob_key(hashlib.sha256(data).hexdigest())
    store.put(key, io.BytesIO(data))
    path = tmp_path / "again"
    path.write_bytes(data)
    store.put_path(key, path)
    assert list(store.list("blobs")) == [key]
    assert store.read(key) == data


def test_listing_an_empty_store():
    assert list(blob_store().list("blobs")) == []
