"""Real MLS groups against a live node: four members' devices run static/src/e2e-mls/group.js
(ts-mls, the browser's module) under Node and use the node as their delivery service.

What must hold: the group forms even when two devices race to start it (the node takes one
commit per epoch, the other device is added by the winner); three members read each other; a
kicked member's device is removed and cannot open what follows, even holding its ciphertext;
a member who joins later is added and cannot open what came before; and nothing any of them
said is in the node's database files (WAL and search index included) or its log."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser import register
from tests.nodes import services_mode
from united_client.e2e.client import E2EClient, httpx_transport

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(services_mode(), reason="client-side MLS: runs in the embedded mode"),
]

SAID = [
    "alpha from alice",
    "bravo from bob",
    "charlie from carol",
    "delta after carol left",
    "echo welcome dave",
]


def test_members_form_a_group_talk_remove_and_add(node_factory):
    node = node_factory("mls")
    base = node.url
    try:
        _scenario(node, base)
    except Exception:
        print(node.log()[-6000:])
        raise


def _scenario(node, base: str) -> None:
    users = {}
    for name in ("alice", "bob", "carol", "dave"):
        auth = register(base, name)
        http = httpx_transport(base, auth["access_token"])
        client = E2EClient(http, auth["user_id"])
        device = client.register("node")
        users[name] = {
            "token": auth["access_token"],
            "user_id": auth["user_id"],
            "device_id": device,
            # The MLS leaves are signed with the device's registered identity key.
            "sign_key": base64.b64encode(client.device.identity_seed).decode(),
            "public_key": base64.b64encode(client.device.identity_pub).decode(),
        }
        users[name]["http"] = http
    alice = users["alice"]["http"]
    _, guild = alice("POST", "/api/v1/guilds", {"name": "Cipher Club"})
    _, channels = alice("GET", f"/api/v1/guilds/{guild['id']}/channels", None)
    channel = next(ch for ch in channels if ch["type"] == 0)
    _, invite = alice("POST", f"/api/v1/channels/{channel['id']}/invites", {"max_uses": 0})
    for name in ("bob", "carol"):
        assert users[name]["http"]("POST", f"/api/v1/invites/{invite['code']}", {})[0] == 200
    request = {
        "base": base,
        "guild_id": guild["id"],
        "channel_id": channel["id"],
        "invite": invite["code"],
        "users": {n: {k: v for k, v in u.items() if k != "http"} for n, u in users.items()},
    }
    done = subprocess.run(
        [NODE, str(ROOT / "tests/e2e/js/mls_scenario.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    ids = {n: u["user_id"] for n, u in users.items()}

    # The race to start the group: exactly one of the two first commits was refused.
    assert report["conflicts"] == 1
    trio = sorted([ids["alice"], ids["bob"], ids["carol"]])
    assert report["formed"] == {"alice": trio, "bob": trio, "carol": trio}

    def texts(name: str) -> list[str]:
        """What the device decrypted from the others (its own messages it keeps as sent)."""
        return [m["text"] for m in report["read"][name] if m["text"] and not m["mine"]]

    assert texts("bob") == ["alpha from alice", "charlie from carol", "delta after carol left"]
    assert texts("carol") == ["alpha from alice", "bravo from bob"]
    assert texts("alice") == ["bravo from bob", "charlie from carol", "echo welcome dave"]

    # Kicked: Carol's device is out of the group, the log is closed to her, and the ciphertext
    # of what followed does not open on her device.
    assert report["after_kick"] == sorted([ids["alice"], ids["bob"]])
    assert report["carol_log_status"] == 404
    assert report["carol_stolen"]["text"] is None and report["carol_stolen"]["error"]
    assert report["carol_epoch"] < report["group_epoch"]

    # Added later: Dave reads what is said after he joined, and nothing from before.
    assert report["final"] == sorted([ids["alice"], ids["bob"], ids["dave"]])
    assert texts("dave") == ["echo welcome dave"]
    assert report["dave_early"] and all(t is None for t in report["dave_early"])
    assert not any(report["problems"][n] for n in ("alice", "bob", "dave")), report["problems"]

    # The node had all of it, as ciphertext only.
    files = [p.read_bytes() for p in (node.directory / "data").rglob("*") if p.is_file()]
    assert any(b"Cipher Club" in blob for blob in files)  # the scan does see the database
    log = node.log()
    for text in SAID:
        assert text not in log
        assert not any(text.encode() in blob for blob in files), text
    _, found = users["bob"]["http"](
        "GET", f"/api/v1/guilds/{guild['id']}/messages/search?content=alpha", None
    )
    assert not found.get("messages"), found
