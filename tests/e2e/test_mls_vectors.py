"""ts-mls, the MLS library of encrypted channels (static/src/e2e-mls/), against the published
RFC 9420 test vectors (tests/vectors/mls-rfc9420, SOURCE.txt says which and from where).

tests/e2e/js/mls_vectors.mjs runs every case of every family ts-mls exposes the operations for
and reports counts; this test fails if any case fails, if a family ran nothing, or if the
suite the client uses (1, MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) was skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.nodes import services_mode

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests/vectors/mls-rfc9420"
NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(services_mode(), reason="pure client code: runs in the embedded mode"),
]

FAMILIES = {
    "tree-math": "tree-math.json",
    "deserialization": "deserialization.json",
    "crypto-basics": "crypto-basics.json",
    "secret-tree": "secret-tree.suite1.json",
    "key-schedule": "key-schedule.json",
    "psk_secret": "psk_secret.suite1.json",
    "message-protection": "message-protection.json",
    "welcome": "welcome.json",
    "tree-operations": "tree-operations.json",
    "transcript-hashes": "transcript-hashes.json",
}


@pytest.fixture(scope="module")
def report() -> dict:
    done = subprocess.run(
        [NODE, str(ROOT / "tests/e2e/js/mls_vectors.mjs")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_case_of_the_family_passes(report: dict, family: str) -> None:
    r = report["families"][family]
    assert r["failed"] == 0, r["failures"][:5]
    assert r["ran"] > 0, f"no {family} case ran"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_suite_1_case_ran(report: dict, family: str) -> None:
    """Each case of the client's suite in the file was run, so a silently skipped suite or a
    truncated file cannot pass."""
    cases = json.loads((VECTORS / FAMILIES[family]).read_text())
    suite_1 = sum(1 for c in cases if c.get("cipher_suite", 1) == 1)
    assert suite_1 > 0
    assert report["families"][family]["ran"] >= suite_1
    assert "1" not in report["skipped_suites"]


def test_a_corrupted_vector_fails(tmp_path: Path) -> None:
    """The checker is not vacuous: flip one byte of an expected key-schedule output and it
    reports the case as failed."""
    work = tmp_path / "tests"
    shutil.copytree(ROOT / "tests/vectors", work / "vectors")
    (work / "e2e/js").mkdir(parents=True)
    shutil.copy(ROOT / "tests/e2e/js/mls_vectors.mjs", work / "e2e/js/mls_vectors.mjs")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    path = work / "vectors/mls-rfc9420/key-schedule.json"
    cases = json.loads(path.read_text())
    first = cases[0]["epochs"][0]
    first["joiner_secret"] = ("0" if first["joiner_secret"][0] != "0" else "1") + first[
        "joiner_secret"
    ][1:]
    path.write_text(json.dumps(cases))
    done = subprocess.run(
        [NODE, str(work / "e2e/js/mls_vectors.mjs")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    ks = json.loads(done.stdout)["families"]["key-schedule"]
    assert ks["failed"] == 1
    assert "joiner_secret" in ks["failures"][0]["error"]
