"""Uploads through a real node (daphne, its own database and storage) over real sockets."""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from pathlib import Path

import boto3
import httpx
import pytest

from tests.media.conftest import S3_KEY, S3_REGION, S3_SECRET, new_bucket, s3_env
from tests.media.helpers import multipart
from tests.nodes import Node, login

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("media_live")]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", params=["local", "s3"])
def media_node(request, tmp_path_factory):
    """One node per storage backend for the whole module; each test signs up its own user."""
    env: dict[str, str] = {}
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        env = s3_env(endpoint, new_bucket(endpoint))
    node = Node("media", tmp_path_factory.mktemp(f"media-{request.param}"), extra_env=env)
    node.start()
    yield node, env
    node.stop()


_users = itertools.count()


@pytest.fixture
def live(media_node):
    node, env = media_node
    username = f"user{next(_users)}"
    node.create_user(username, PASSWORD)
    client = httpx.Client(base_url=node.url, timeout=30)
    login(client, username, PASSWORD)
    yield node, client, env
    client.close()


def stored_keys(node, env) -> list[str]:
    if env:
        s3 = boto3.client(
            "s3",
            endpoint_url=env["S3_ENDPOINT"],
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name=S3_REGION,
        )
        listing = s3.list_objects_v2(Bucket=env["S3_BUCKET"])
        return [o["Key"] for o in listing.get("Contents", [])]
    root = node.directory / "data" / "media"
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


def database_counts(node) -> dict[str, int]:
    out = node.python(
        "import json; from media.models import Attachment, Blob;"
        "print(json.dumps({'attachments': Attachment.objects.count(),"
        " 'blobs': Blob.objects.count()}))"
    )
    return json.loads(out.splitlines()[-1])


def test_upload_and_ranged_download_through_a_node(live):
    node, client, env = live
    counts, keys = database_counts(node), stored_keys(node, env)
    data = os.urandom(3 * 1024 * 1024 + 7)
    response = client.post(
        "/api/v1/upload",
        files={"file": ("video.bin", data, "video/mp4")},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert response.status_code == 201, response.text
    meta = response.json()
    assert meta["size"] == len(data) and meta["content_type"] == "application/octet-stream"
    full = client.get(meta["url"])
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-disposition"].startswith("attachment")
    part = client.get(meta["url"], headers={"Range": "bytes=1048576-2097151"})
    assert part.status_code == 206 and part.content == data[1048576:2097152]
    assert database_counts(node) == {k: v + 1 for k, v in counts.items()}
    assert len(stored_keys(node, env)) == len(keys) + 1


def server_rss(node) -> int:
    status = Path(f"/proc/{node.procs[0].pid}/status").read_text()
    return next(int(line.split()[1]) * 1024 for line in status.splitlines() if "VmRSS" in line)


def test_a_large_upload_and_download_keep_the_server_small(live, tmp_path):
    node, client, _ = live
    size = 96 * 1024 * 1024
    source = tmp_path / "large.bin"
    block = os.urandom(1024 * 1024)
    source.write_bytes(block * (size >> 20))
    body_head, boundary = multipart(b"", "large.bin")
    head, tail = body_head.split(b"\r\n--" + boundary.encode() + b"--")[0], None
    tail = f"\r\n--{boundary}--\r\n".encode()

    def stream():
        yield head
        with source.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                yield chunk
        yield tail

    peak, running = [0], [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], server_rss(node))
            time.sleep(0.01)

    # Warm up first: the first S3 call loads botocore's service model (tens of MiB, once).
    warm = client.post(
        "/api/v1/upload",
        files={"file": ("warm.bin", os.urandom(9 * 1024 * 1024), "application/octet-stream")},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert client.get(warm.json()["url"]).status_code == 200
    before = server_rss(node)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        response = client.post(
            "/api/v1/upload",
            content=stream(),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
                "X-CSRFToken": client.cookies["csrftoken"],
            },
        )
        assert response.status_code == 201, response.text
        got = 0
        with client.stream("GET", response.json()["url"]) as download:
            for chunk in download.iter_bytes(1024 * 1024):
                got += len(chunk)
        assert got == size
    finally:
        running[0] = False
        sampler.join()
    # Streaming both ways: the server grows by far less than the file (96 MiB). S3 uploads
    # keep two 8 MiB parts and boto3's buffers in flight: ~20 MiB whether the file has 96 MiB
    # or 320 MiB (measured); local disk stays within a few MiB.
    assert peak[0] - before < 40 * 1024 * 1024, (before, peak[0])


def test_upload_cut_off_mid_body_leaves_nothing(live):
    node, client, env = live
    counts, keys = database_counts(node), stored_keys(node, env)
    body, boundary = multipart(os.urandom(2 * 1024 * 1024), "cut.bin")
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    head = (
        f"POST /api/v1/upload HTTP/1.1\r\nHost: {node.url.split('//')[1]}\r\n"
        f"Cookie: {cookies}\r\nX-CSRFToken: {client.cookies['csrftoken']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    host, port = node.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)
    time.sleep(1.0)

    assert database_counts(node) == counts
    assert sorted(stored_keys(node, env)) == sorted(keys)
    temp = node.directory / "data" / "tmp"
    assert not [p for p in temp.glob("*") if p.is_file()]
    # The node is fine afterwards: a whole upload of the same kind goes through.
    ok = client.post(
        "/api/v1/upload",
        files={"file": ("whole.bin", b"whole", "application/octet-stream")},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert ok.status_code == 201, ok.text
    assert database_counts(node) == {k: v + 1 for k, v in counts.items()}
