"""Upload and download throughput and peak memory of a live node, beside a plain file copy.

    .venv/bin/python bench/upload.py            # 1 GiB
    .venv/bin/python bench/upload.py --size 256M

Starts a real node (tests.nodes.Node: migrate + daphne, embedded mode, local storage) in a
temp directory, signs in, uploads one file of --size random bytes through POST /api/v1/upload
as a streamed multipart body, then downloads it. The server process's RSS is sampled from
/proc/<pid>/status every 20 ms. The baseline is `cp` of the same file on the same disk in the
same run (its peak RSS from getrusage). Streaming is what keeps "RSS growth" flat: it should
not depend on --size.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nodes import Node, login  # noqa: E402

MiB = 1024 * 1024
PASSWORD = "bench-password-0123456789"


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join()
        return max(self.peak, rss(self.pid))


def make_file(path: Path, size: int) -> None:
    block = os.urandom(4 * MiB)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


def body(path: Path, boundary: str):
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def measure(pid: int, work) -> tuple[float, int, int]:
    before = rss(pid)
    sampler = Sampler(pid)
    sampler.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    return seconds, sampler.stop(), before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="file size, e.g. 1G, 256M (default 1 GiB)")
    size = parse_size(parser.parse_args().size)
    rows = []
    with tempfile.TemporaryDirectory(prefix="united-bench-upload-") as tmp:
        tmpdir = Path(tmp)
        source = tmpdir / "payload.bin"
        make_file(source, size)

        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(tmpdir / "copy.bin")], check=True)
        copy_seconds = time.perf_counter() - started
        copy_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        (tmpdir / "copy.bin").unlink()
        rows.append(("cp (baseline)", copy_seconds, copy_peak, None))

        node = Node(
            "bench",
            tmpdir / "node",
            extra_env={
                "UNITED_MAX_UPLOAD_BYTES": str(size + MiB),
                "UNITED_USER_QUOTA_BYTES": str(4 * size + MiB),
                "UNITED_LOG_LEVEL": "WARNING",
            },
        )
        node.start()
        try:
            node.create_user("bench", PASSWORD)
            pid = node.procs[0].pid
            with httpx.Client(base_url=node.url, timeout=3600) as client:
                login(client, "bench", PASSWORD)
                boundary = uuid.uuid4().hex
                length = sum(len(part) for part in body(source, boundary) if len(part) < MiB)
                length += size
                result: dict = {}

                def upload() -> None:
                    response = client.post(
                        "/api/v1/upload",
                        content=body(source, boundary),
                        headers={
                            "Content-Type": f"multipart/form-data; boundary={boundary}",
                            "Content-Length": str(length),
                            "X-CSRFToken": client.cookies["csrftoken"],
                        },
                    )
                    response.raise_for_status()
                    result.update(response.json())

                seconds, peak, before = measure(pid, upload)
                rows.append(("upload via node", seconds, peak, before))

                def download() -> None:
                    got = 0
                    with client.stream("GET", result["url"]) as response:
                        response.raise_for_status()
                        for chunk in response.iter_bytes(MiB):
                            got += len(chunk)
                    assert got == size, (got, size)

                seconds, peak, before = measure(pid, download)
                rows.append(("download via node", seconds, peak, before))
        finally:
            node.stop()

    print(f"\nsize: {size / MiB:.0f} MiB\n")
    print(
        f"| {'operation':<18} | {'seconds':>8} | {'MiB/s':>8} | {'peak RSS MiB':>12} | growth MiB |"
    )
    print(f"|{'-' * 20}|{'-' * 10}|{'-' * 10}|{'-' * 14}|------------|")
    for name, seconds, peak, before in rows:
        growth = "" if before is None else f"{(peak - before) / MiB:.1f}"
        print(
            f"| {name:<18} | {seconds:>8.2f} | {size / MiB / seconds:>8.1f} | "
            f"{peak / MiB:>12.1f} | {growth:>10} |"
        )


if __name__ == "__main__":
    main()
