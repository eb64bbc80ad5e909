"""An end-to-end encrypted channel (MLS) in Chromium, three members in three browser contexts
on one node: the owner turns the channel encrypted in channel settings, the members' browsers
form the group, the three talk; one is kicked, her browser's device is removed and cannot open
what follows; a member who joins later is added and cannot open what came before. Nothing they
said reaches the node's database files (WAL and the search index included) or its log."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser import Api, bundle, launch, register, sign_in  # noqa: F401  (bundle: a fixture)
from tests.nodes import services_mode

playwright = pytest.importorskip("playwright.sync_api")
ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(services_mode(), reason="browser E2E runs in the embedded mode"),
]

SAID = [
    "alpha from alice",
    "bravo from bob",
    "charlie from carol",
    "delta after carol left",
    "echo welcome dave",
]


def ready(page) -> None:
    try:
        page.wait_for_selector("[data-mls-pane][data-mls-ready=true]", timeout=45000)
    except Exception:
        status = page.locator("[data-mls-status]").inner_text()
        raise AssertionError(f"not in the encrypted group: {status!r}") from None


def say(page, text: str) -> None:
    page.fill("#mls-composer-input", text)
    page.keyboard.press("Enter")


def open_entry(device: dict, user_id: str, device_id: str, channel_id: str, entry: dict) -> dict:
    done = subprocess.run(
        [NODE, str(ROOT / "tests/e2e/js/mls_open.mjs")],
        input=json.dumps(
            {
                "device": device,
                "user_id": user_id,
                "device_id": device_id,
                "channel_id": channel_id,
                "entry": entry,
            }
        ),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_three_members_an_encrypted_channel_removal_and_a_late_joiner(node_factory, bundle):  # noqa: F811
    node = node_factory("mls-web")
    try:
        _journey(node, node.url)
        files = [p.read_bytes() for p in (node.directory / "data").rglob("*") if p.is_file()]
        assert any(b"Cipher Club" in blob for blob in files)  # the scan does see the database
        log = node.log()
        for text in SAID:
            assert text not in log
            assert not any(text.encode() in blob for blob in files), text
    except Exception:
        print(node.log()[-6000:])
        raise


def _journey(node, base: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    auth = {n: register(base, n) for n in ("alice", "bob", "carol", "dave")}
    api = {n: Api(base, a["access_token"]) for n, a in auth.items()}
    ids = {n: a["user_id"] for n, a in auth.items()}
    guild = api["alice"]("POST", "/guilds", {"name": "Cipher Club"})["id"]
    channel = next(c for c in api["alice"]("GET", f"/guilds/{guild}/channels") if c["type"] == 0)
    cid = channel["id"]
    invite = api["alice"]("POST", f"/channels/{cid}/invites", {"max_age": 0})["code"]
    for name in ("bob", "carol"):
        api[name]("POST", f"/invites/{invite}")
    url = f"{base}/app/guilds/{guild}/channels/{cid}/"

    with sync_playwright() as p:
        browser = launch(p)
        _, alice, alice_problems = sign_in(browser, base, "alice")
        # The owner turns the channel encrypted from its settings, saying it is irreversible.
        alice.goto(f"{base}/app/guilds/{guild}/settings/channels/")
        alice.click(f"[aria-label='Edit {channel['name']}']")
        form = alice.locator("[data-encrypt-form]")
        expect(form).to_contain_text("cannot be turned off")
        form.locator("input[name=confirm]").check()
        form.locator("button[type=submit]").click()
        expect(alice.locator("[data-encrypted-note]")).to_contain_text("cannot be turned off")

        alice.goto(url)
        ready(alice)
        expect(alice.locator(".pane-header .e2e-lock")).to_be_visible()
        _, bob, bob_problems = sign_in(browser, base, "bob")
        bob.goto(url)
        _, carol, carol_problems = sign_in(browser, base, "carol")
        carol.goto(url)
        # Alice's browser adds each as their browser knocks; each then joins from its welcome.
        ready(bob)
        ready(carol)

        say(alice, "alpha from alice")
        say(bob, "bravo from bob")
        say(carol, "charlie from carol")
        for page in (alice, bob, carol):
            for text in SAID[:3]:
                expect(page.locator("[data-mls-messages] .mls-msg", has_text=text)).to_be_visible(
                    timeout=30000
                )
        # The members and devices dialog lists the three, in the group.
        alice.click("[data-mls-members-open]")
        members = alice.locator("[data-mls-members]")
        for name in ("alice", "bob", "carol"):
            expect(members).to_contain_text(name)
        expect(members.locator("[data-mls-in-group=true]")).to_have_count(3)
        alice.keyboard.press("Escape")

        # Carol is kicked. Her device's state is taken first (as if her browser kept it), then
        # the members' browsers remove her leaf and the conversation goes on without her.
        carol_device = carol.evaluate("() => window.unitedMls.device.deviceId")
        carol_state = carol.evaluate("() => window.unitedMls.device.toJson()")
        carol_epoch = carol.evaluate("() => window.unitedMls.group.epoch")
        api["alice"]("DELETE", f"/guilds/{guild}/members/{ids['carol']}")
        alice.wait_for_function(
            f"() => window.unitedMls.group.members().every(m => m.userId !== '{ids['carol']}')",
            timeout=30000,
        )
        say(alice, "delta after carol left")
        expect(bob.locator("[data-mls-messages] .mls-msg", has_text="delta after")).to_be_visible(
            timeout=30000
        )
        expect(carol).not_to_have_url(re.compile(f".*/channels/{cid}/$"))
        bob_device = bob.evaluate("() => window.unitedMls.device.deviceId")
        log = api["bob"]("GET", f"/channels/{cid}/mls/log?device_id={bob_device}&after=0")
        delta = [e for e in log["entries"] if e["kind"] == "application"][-1]
        assert delta["epoch"] > carol_epoch
        opened = open_entry(carol_state, ids["carol"], carol_device, cid, delta)
        assert opened["text"] is None and opened["error"], opened
        assert api["carol"]("GET", f"/channels/{cid}/mls/log?device_id={carol_device}", status=404)

        # Dave joins later: his browser is added and reads from then on, nothing before.
        api["dave"]("POST", f"/invites/{invite}")
        _, dave, dave_problems = sign_in(browser, base, "dave")
        dave.goto(url)
        ready(dave)
        say(bob, "echo welcome dave")
        expect(dave.locator("[data-mls-messages] .mls-msg", has_text="echo welcome")).to_be_visible(
            timeout=30000
        )
        shown = dave.locator("[data-mls-messages]").inner_text()
        for text in SAID[:4]:
            assert text not in shown
        early = [e for e in log["entries"] if e["kind"] == "application"][:4]
        for entry in early:
            out = dave.evaluate("(e) => window.unitedMls.group.apply({...e, seq: -1})", entry)
            assert out is None or out["text"] is None, out
        for problems in (alice_problems, bob_problems, dave_problems):
            assert not problems, problems
        browser.close()
