"""The browser module (static/src/e2e/, run under Node) against the vectors and against the
Python library, both ways: out-of-order delivery, a lost message, the skipped-keys bound and a
new session after a device reset."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import make_device, text
from tests.nodes import services_mode
from united_client.e2e import primitives as c
from united_client.e2e import x3dh
from united_client.e2e.device import LocalDevice
from united_client.e2e.ratchet import MAX_SKIPPED

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
# No database involved: run once (embedded mode) to keep CI inside its budget.
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(services_mode(), reason="pure client code: runs in the embedded mode"),
]


def node(request: dict) -> dict:
    done = subprocess.run(
        [NODE, str(ROOT / "tests/e2e/js/cli.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert "error" not in out, out["error"]
    return out


class NodeDevice:
    """A browser-module device whose state lives in JSON between Node runs."""

    def __init__(self, user_id: str, device_id: str):
        out = node({"op": "create", "user_id": user_id, "device_id": device_id})
        self.state, self.registration = out["state"], out["registration"]
        self.user_id, self.device_id = user_id, device_id

    def bundle(self, opk_index: int = 0) -> dict:
        r = self.registration
        return {
            "device_id": self.device_id,
            "identity_key": r["identity_key"],
            "signed_prekey": r["signed_prekey"],
            "one_time_prekey": r["one_time_prekeys"][opk_index],
        }

    def decrypt(self, envelopes: list[dict]) -> list:
        out = node({"op": "decrypt", "state": self.state, "envelopes": envelopes})
        self.state = out["state"]
        return [r["payload"]["content"] if "payload" in r else r["error"] for r in out["results"]]

    def encrypt(self, channel: str, to: LocalDevice, texts: list[str], bundle=None) -> list[dict]:
        out = node(
            {
                "op": "encrypt",
                "state": self.state,
                "channel_id": channel,
                "targets": [[to.user_id, to.device_id]],
                "payloads": [{"type": "message", "content": t} for t in texts],
                "bundles": [{"user_id": to.user_id, "device": bundle}] if bundle else [],
            }
        )
        self.state = out["state"]
        return out["envelopes"]


def python_bundle(dev: LocalDevice) -> dict:
    reg = dev.registration()
    return {
        "device_id": dev.device_id,
        "identity_key": reg["identity_key"],
        "signed_prekey": reg["signed_prekey"],
        "one_time_prekey": reg["one_time_prekeys"][0],
    }


def py_send(dev: LocalDevice, to: NodeDevice, texts: list[str], channel: str = "77") -> list:
    return [
        dev.encrypt(channel, [(to.user_id, to.device_id)], {"type": "message", "content": t})
        for t in texts
    ]


def test_node_runs_the_vectors():
    done = subprocess.run(
        [NODE, "--test", str(ROOT / "tests/e2e/js/")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 7" in done.stdout


def test_python_to_browser_and_back_out_of_order_and_lost():
    alice = make_device("1", "10")
    bob = NodeDevice("2", "20")
    alice.start_session(x3dh.Bundle.from_api("2", bob.bundle()))
    envs = py_send(alice, bob, ["m0", "m1 lost", "m2", "m3"])
    assert bob.decrypt([envs[2], envs[0], envs[3]]) == ["m2", "m0", "m3"]
    replies = bob.encrypt("77", alice, ["r0", "r1", "r2"])
    assert [text(alice, e) for e in (replies[1], replies[2], replies[0])] == ["r1", "r2", "r0"]
    more = py_send(alice, bob, ["m4"])
    assert more[0]["copies"][0]["x3dh"] is None
    assert bob.decrypt(more) == ["m4"]
    assert bob.decrypt([envs[2]]) == ["replay"]
    tampered = copy.deepcopy(py_send(alice, bob, ["m5"])[0])
    raw = bytearray(c.unb64(tampered["copies"][0]["ciphertext"]))
    raw[-1] ^= 1
    tampered["copies"][0]["ciphertext"] = c.b64(bytes(raw))
    assert bob.decrypt([tampered]) == ["tampered"]
    wrong_channel = {**py_send(alice, bob, ["m6"])[0], "channel_id": "78"}
    assert bob.decrypt([wrong_channel]) == ["tampered"]


def test_browser_to_python_then_device_reset():
    alice = NodeDevice("1", "10")
    bob = make_device("2", "20")
    envs = alice.encrypt("77", bob, ["a0", "a1", "a2"], bundle=python_bundle(bob))
    assert envs[0]["copies"][0]["x3dh"]["opk_id"] in bob.opks
    assert [text(bob, e) for e in (envs[1], envs[2])] == ["a1", "a2"]
    reply = bob.encrypt("77", [("1", "10")], {"type": "message", "content": "b0"})
    assert alice.decrypt([reply]) == ["b0"]
    # bob's device is reset: a new device with new keys; alice starts a new session.
    bob2 = make_device("2", "21")
    envs2 = alice.encrypt("77", bob2, ["after reset"], bundle=python_bundle(bob2))
    assert envs2[0]["copies"][0]["x3dh"] is not None
    assert text(bob2, envs2[0]) == "after reset"
    back = bob2.encrypt("77", [("1", "10")], {"type": "message", "content": "new b"})
    assert alice.decrypt([back]) == ["new b"]


def test_skipped_keys_bound_across_implementations():
    alice = make_device("1", "10")
    bob = NodeDevice("2", "20")
    alice.start_session(x3dh.Bundle.from_api("2", bob.bundle()))
    envs = py_send(alice, bob, [str(i) for i in range(MAX_SKIPPED + 2)])
    # The last message skips MAX_SKIPPED + 1 keys: the oldest (message 0) is evicted.
    assert bob.decrypt([envs[-1], envs[0], envs[1], envs[MAX_SKIPPED]]) == [
        str(MAX_SKIPPED + 1),
        "replay",
        "1",
        str(MAX_SKIPPED),
    ]
    assert len(bob.state["sessions"]["10"][0]["ratchet"]["skipped"]) == MAX_SKIPPED - 2


def test_encrypted_files_both_ways():
    from united_client.e2e.files import CHUNK, decrypt_file, encrypt_file

    data = bytes(range(256)) * (CHUNK // 128) + b"tail"  # three chunks, the last short
    blob, descriptor = encrypt_file(data)
    out = node({"op": "decrypt_file", "blob": c.b64(blob), "descriptor": descriptor})
    assert c.unb64(out["data"]) == data
    truncated = blob[: len(blob) - 100]
    descriptor_t = {**descriptor, "sha256": __import__("hashlib").sha256(truncated).hexdigest()}
    out = node({"op": "decrypt_file", "blob": c.b64(truncated), "descriptor": descriptor_t})
    assert out["failure"] == "tampered"
    made = node({"op": "encrypt_file", "data": c.b64(data)})
    assert decrypt_file(c.unb64(made["blob"]), made["descriptor"]) == data
