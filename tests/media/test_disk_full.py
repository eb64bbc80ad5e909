"""A full disk during an upload: the member gets 507 with the error shape, nothing is kept.

The node's media and upload temp directories live on a small tmpfs the test mounts (CI runs
as root; elsewhere the test skips, saying why). "data" fills only that volume, so the upload's
own temp file hits ENOSPC; "all" also puts the node's TMPDIR there, so the disk fills while
the server is still receiving the body.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.media.helpers import multipart
from tests.media.wire import credentials, send_until_answered
from tests.nodes import Node, login

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("media_disk_full")]
PASSWORD = "correct horse battery staple"
KiB = 1024


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


@pytest.fixture(scope="module", params=["data", "all"])
def small_disk(request, tmp_path_factory) -> Iterator[tuple[Node, Path]]:
    base = tmp_path_factory.mktemp(f"disk-full-{request.param}")
    small = base / "small"
    small.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command: cannot make a small volume to fill")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 4 MiB tmpfs (needs root, as CI has): {mounted.stderr}")
    try:
        for name in ("media", "tmp", "system-tmp"):
            (small / name).mkdir()
        node = Node("disk", base / "node")
        data = Path(node.env["UNITED_DATA_DIR"])
        data.mkdir(parents=True)
        (data / "media").symlink_to(small / "media")
        (data / "tmp").symlink_to(small / "tmp")
        if request.param == "all":
            node.env["TMPDIR"] = str(small / "system-tmp")
        node.start()
        try:
            yield node, small
        finally:
            node.stop()
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


@pytest.fixture
def member(small_disk) -> Iterator[httpx.Client]:
    node, _ = small_disk
    username = f"filler{os.getpid()}{len(os.listdir(node.directory))}"
    node.create_user(username, PASSWORD)
    with httpx.Client(base_url=node.url, timeout=30) as client:
        login(client, username, PASSWORD)
        yield client


def database_counts(node: Node) -> dict[str, int]:
    out = node.python(
        "import json; from media.models import Attachment, Blob;"
        "print(json.dumps({'attachments': Attachment.objects.count(),"
        " 'blobs': Blob.objects.count()}))"
    )
    return json.loads(out.splitlines()[-1])


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def upload(node: Node, client: httpx.Client, data: bytes) -> tuple[int, dict]:
    body, boundary = multipart(data, "big.bin")
    head = (
        f"POST /api/v1/upload HTTP/1.1\r\nHost: {node.url.split('//')[1]}\r\n"
        f"{credentials(client)}Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    status, answer, _ = send_until_answered(node, head, iter([body]))
    return status, answer


def test_a_full_disk_answers_507_and_leaves_nothing(small_disk, member):
    node, small = small_disk
    status, first = upload(node, member, os.urandom(64 * KiB))
    assert status == 201, first
    counts, stored = database_counts(node), files_under(small / "media")
    filler = small / "filler"
    with filler.open("wb") as fh:
        fh.write(b"\0" * (free_bytes(small) - 256 * KiB))
    try:
        left = free_bytes(small)
        status, answer = upload(node, member, os.urandom(1024 * KiB))
        assert status == 507, answer
        assert answer["code"] == 90507 and answer["message"] and "errors" in answer
        assert database_counts(node) == counts  # no orphan Attachment or Blob row
        assert files_under(small / "media") == stored
        assert files_under(small / "tmp") == []  # no partial file
        assert files_under(small / "system-tmp") == []
        # Nor a partial file still held open: the space is given back.
        assert free_bytes(small) >= left - 16 * KiB
    finally:
        filler.unlink()
    status, again = upload(node, member, os.urandom(1024 * KiB))
    assert status == 201, again
    assert database_counts(node) == {k: v + 1 for k, v in counts.items()}
