"""The node as the MLS delivery service of encrypted channels (e2e/mls.py): KeyPackages handed
out once, one commit per epoch, ciphertext only, the channel's permissions, limits.

The node never parses MLS, so these tests post opaque bytes; tests/e2e/test_mls_vectors.py
checks the MLS library, and tests/e2e/test_browser_mls.py runs real groups in browsers."""

from __future__ import annotations

import base64
import os

import pytest

from accounts.models import Device
from e2e import mls
from e2e.models import MlsEntry, MlsGroup, MlsKeyPackage
from guilds.permissions import Permissions as P
from guilds.services import overwrites as overwrite_services
from messaging.models import GatewayEvent, Message
from messaging.search import indexing
from moderation.services.sanctions import check_kick

pytestmark = pytest.mark.django_db


def b64(n: int = 32) -> str:
    return base64.b64encode(os.urandom(n)).decode()


@pytest.fixture
def devices(world, e2e):
    """One registered device for alice (the owner), bob and carol."""
    return {name: e2e(getattr(world, name)).device.device_id for name in ("alice", "bob", "carol")}


@pytest.fixture
def enc(world, api):
    """The `general` channel turned encrypted by its owner; carol cannot see it."""
    r = api(world.alice).put(f"/api/v1/channels/{world.channel.id}/mls", {}, format="json")
    assert r.status_code == 201, r.content
    return world.channel


def url(channel, tail: str = "") -> str:
    return f"/api/v1/channels/{channel.id}/mls{tail}"


def upload(client, device, n: int = 3):
    packages = [b64(300) for _ in range(n)]
    r = client.post(
        "/api/v1/users/@me/mls/key-packages",
        {"device_id": device, "key_packages": packages},
        format="json",
    )
    return r, packages


def test_only_manage_channels_turns_encryption_on_and_it_stays_on(world, api):
    r = api(world.bob).put(url(world.channel), {}, format="json")
    assert r.status_code == 403 and r.json()["code"] == 50013
    r = api(world.carol).put(url(world.channel), {}, format="json")
    assert r.status_code == 404  # carol cannot see the channel at all
    assert not MlsGroup.objects.exists()
    r = api(world.alice).put(url(world.channel), {"cipher_suite": 3}, format="json")
    assert r.status_code == 400 and "cipher_suite" in r.json()["errors"]
    r = api(world.alice).put(url(world.channel), {}, format="json")
    assert r.status_code == 201
    body = r.json()
    assert body["epoch"] == 0 and body["cipher_suite"] == 1
    assert base64.b64decode(body["group_id"]) == f"united:channel:{world.channel.id}".encode()
    again = api(world.alice).put(url(world.channel), {}, format="json")
    assert again.status_code == 200 and again.json()["group_id"] == body["group_id"]
    event = GatewayEvent.objects.get(t="MLS_GROUP_CREATE")
    assert event.group == f"guild.{world.guild.id}"
    assert event.d["channel_id"] == str(world.channel.id)


def test_an_encrypted_channel_refuses_plaintext_and_is_never_indexed(world, api, enc):
    r = api(world.bob).post(
        f"/api/v1/channels/{enc.id}/messages", {"content": "secret plans"}, format="json"
    )
    assert r.status_code == 400 and r.json()["code"] == mls.MLS_REQUIRED
    assert "/mls/messages" in r.json()["message"]
    r = api(world.carol).post(
        f"/api/v1/channels/{enc.id}/messages", {"content": "hi"}, format="json"
    )
    assert r.status_code == 404
    assert not Message.objects.filter(channel=enc, content__contains="secret").exists()
    assert indexing.is_encrypted(enc)
    other = world.guild.channels.exclude(id=enc.id).filter(type=0).first()
    assert other is not None and not indexing.is_encrypted(other)


def test_group_state_lists_who_should_be_in_it(world, api, enc, devices):
    upload(api(world.bob), devices["bob"], 2)
    r = api(world.bob).get(url(enc))
    assert r.status_code == 200
    members = {m["username"]: m for m in r.json()["members"]}
    assert set(members) == {"alice", "bob"}  # carol lacks VIEW_CHANNEL
    [bob_device] = members["bob"]["devices"]
    assert bob_device == {
        "id": devices["bob"],
        "name": "python",
        "identity_key": Device.objects.get(id=devices["bob"]).identity_key,
        "key_packages": 2,
    }
    assert api(world.carol).get(url(enc)).status_code == 404
    plain = world.guild.channels.exclude(id=enc.id).filter(type=0).first()
    r = api(world.bob).get(url(plain))
    assert r.status_code == 404 and r.json()["code"] == mls.NOT_ENCRYPTED


def test_key_packages_are_handed_out_once_and_never_taken_back(world, api, enc, devices):
    bob = api(world.bob)
    r, packages = upload(bob, devices["bob"], 2)
    assert r.status_code == 201 and r.json()["count"] == 2
    # Someone else's device cannot be stocked.
    r = api(world.alice).post(
        "/api/v1/users/@me/mls/key-packages",
        {"device_id": devices["bob"], "key_packages": [b64()]},
        format="json",
    )
    assert r.status_code == 400 and "device_id" in r.json()["errors"]
    alice = api(world.alice)
    claim = url(enc, "/key-packages/claim")
    first = alice.post(claim, {"device_ids": [devices["bob"]]}, format="json").json()
    second = alice.post(claim, {"device_ids": [devices["bob"]]}, format="json").json()
    third = alice.post(claim, {"device_ids": [devices["bob"]]}, format="json").json()
    got = [first["key_packages"][0]["key_package"], second["key_packages"][0]["key_package"]]
    assert sorted(got) == sorted(packages)
    assert third == {"key_packages": [], "missing": [devices["bob"]]}
    assert bob.get("/api/v1/users/@me/mls/key-packages", {"device_id": devices["bob"]}).json() == {
        "device_id": devices["bob"],
        "count": 0,
    }
    # The bytes are gone from the node once claimed; the digest refuses them back.
    assert set(MlsKeyPackage.objects.values_list("data", flat=True)) == {""}
    r = bob.post(
        "/api/v1/users/@me/mls/key-packages",
        {"device_id": devices["bob"], "key_packages": [packages[0]]},
        format="json",
    )
    assert r.status_code == 409
    low = GatewayEvent.objects.filter(t="MLS_KEY_PACKAGES_LOW", group=f"user.{world.bob.id}")
    assert [e.d["count"] for e in low.order_by("id")] == [1, 0]


def test_key_packages_only_for_those_who_see_the_channel(world, api, enc, devices):
    upload(api(world.carol), devices["carol"], 1)
    r = api(world.alice).post(
        url(enc, "/key-packages/claim"), {"device_ids": [devices["carol"]]}, format="json"
    )
    assert r.status_code == 400 and "cannot see" in str(r.json()["errors"])
    r = api(world.carol).post(
        url(enc, "/key-packages/claim"), {"device_ids": [devices["alice"]]}, format="json"
    )
    assert r.status_code == 404
    assert MlsKeyPackage.objects.filter(claimed_at__isnull=False).count() == 0


def test_key_package_limits(world, api, devices):
    bob = api(world.bob)
    r = bob.post(
        "/api/v1/users/@me/mls/key-packages",
        {"device_id": devices["bob"], "key_packages": ["A" * (mls.MAX_KEY_PACKAGE + 4)]},
        format="json",
    )
    assert r.status_code == 413
    r = bob.post(
        "/api/v1/users/@me/mls/key-packages",
        {"device_id": devices["bob"], "key_packages": [b64()] * 2},
        format="json",
    )
    assert r.status_code == 400
    r = bob.post(
        "/api/v1/users/@me/mls/key-packages",
        {"device_id": devices["bob"], "key_packages": ["not base64!"]},
        format="json",
    )
    assert r.status_code == 400
    for _ in range(mls.MAX_UNCLAIMED // mls.MAX_UPLOAD):
        r = bob.post(
            "/api/v1/users/@me/mls/key-packages",
            {"device_id": devices["bob"], "key_packages": [b64() for _ in range(mls.MAX_UPLOAD)]},
            format="json",
        )
        assert r.status_code == 201
    r, _ = upload(bob, devices["bob"], 1)
    assert r.status_code == 400 and "at most" in str(r.json()["errors"])
    assert MlsKeyPackage.objects.count() == mls.MAX_UNCLAIMED


def test_one_commit_per_epoch_the_second_gets_409_and_rebases(world, api, enc, devices):
    alice, bob = api(world.alice), api(world.bob)
    first = {"device_id": devices["alice"], "epoch": 0, "commit": b64(200)}
    r = alice.post(url(enc, "/commits"), first, format="json")
    assert r.status_code == 201 and r.json()[0]["seq"] == 1
    late = {"device_id": devices["bob"], "epoch": 0, "commit": b64(200)}
    r = bob.post(url(enc, "/commits"), late, format="json")
    assert r.status_code == 409
    assert r.json()["code"] == mls.STALE_EPOCH and r.json()["errors"]["epoch"] == ["1"]
    # Re-based on epoch 1, bob's commit is the one of that epoch.
    r = bob.post(url(enc, "/commits"), {**late, "epoch": 1}, format="json")
    assert r.status_code == 201
    assert MlsGroup.objects.get(channel=enc).epoch == 2
    log = alice.get(url(enc, "/log"), {"device_id": devices["alice"]}).json()
    assert [(e["kind"], e["epoch"], e["seq"]) for e in log["entries"]] == [
        ("commit", 0, 1),
        ("commit", 1, 2),
    ]
    assert log["epoch"] == 2 and log["next"] == 2
    assert [e.d["epoch"] for e in GatewayEvent.objects.filter(t="MLS_HANDSHAKE")] == [0, 1]


def test_a_welcome_reaches_only_the_devices_it_adds(world, api, enc, devices, e2e):
    alice = api(world.alice)
    bob_laptop = e2e(world.bob, "laptop").device.device_id
    body = {
        "device_id": devices["alice"],
        "epoch": 0,
        "commit": b64(200),
        "welcome": b64(900),
        "welcome_devices": [devices["bob"]],
    }
    r = alice.post(url(enc, "/commits"), body, format="json")
    assert r.status_code == 201
    assert [e["kind"] for e in r.json()] == ["commit", "welcome"]
    bob = api(world.bob)
    mine = bob.get(url(enc, "/log"), {"device_id": devices["bob"]}).json()["entries"]
    assert [e["kind"] for e in mine] == ["commit", "welcome"]
    assert mine[1]["epoch"] == 1 and mine[1]["recipients"] == [devices["bob"]]
    other = bob.get(url(enc, "/log"), {"device_id": bob_laptop}).json()["entries"]
    assert [e["kind"] for e in other] == ["commit"]
    [welcome] = GatewayEvent.objects.filter(t="MLS_WELCOME")
    assert welcome.group == f"user.{world.bob.id}"
    # A welcome for someone who cannot see the channel is refused, and the epoch is kept.
    r = alice.post(
        url(enc, "/commits"),
        {**body, "epoch": 1, "welcome_devices": [devices["carol"]]},
        format="json",
    )
    assert r.status_code == 400
    assert MlsGroup.objects.get(channel=enc).epoch == 1


def test_application_messages_are_ciphertext_in_the_current_epoch(world, api, enc, devices):
    bob = api(world.bob)
    ciphertext = b64(120)
    body = {"device_id": devices["bob"], "epoch": 0, "ciphertext": ciphertext, "nonce": "n1"}
    r = bob.post(url(enc, "/messages"), body, format="json")
    assert r.status_code == 201
    again = bob.post(url(enc, "/messages"), body, format="json")
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    row = MlsEntry.objects.get(kind="application")
    assert row.data == ciphertext and row.epoch == 0 and row.sender_id == world.bob.id
    event = GatewayEvent.objects.get(t="MLS_MESSAGE_CREATE")
    assert event.group == f"guild.{world.guild.id}" and event.d["data"] == ciphertext
    api(world.alice).post(
        url(enc, "/commits"),
        {"device_id": devices["alice"], "epoch": 0, "commit": b64()},
        format="json",
    )
    r = bob.post(url(enc, "/messages"), {**body, "nonce": "n2"}, format="json")
    assert r.status_code == 409 and r.json()["errors"]["epoch"] == ["1"]
    r = bob.post(url(enc, "/messages"), {**body, "nonce": "n2", "epoch": 1}, format="json")
    assert r.status_code == 201
    big = {**body, "nonce": "n3", "epoch": 1, "ciphertext": "A" * (mls.MAX_MESSAGE + 4)}
    assert bob.post(url(enc, "/messages"), big, format="json").status_code == 413


def test_permissions_read_send_and_losing_the_channel(world, api, enc, devices):
    bob = api(world.bob)
    overwrite_services.check_put_overwrite(
        world.alice, enc.id, world.guild.id, {"type": 0, "deny": str(int(P.SEND_MESSAGES))}
    )
    body = {"device_id": devices["bob"], "epoch": 0, "ciphertext": b64()}
    r = bob.post(url(enc, "/messages"), body, format="json")
    assert r.status_code == 403
    # Handshakes need only the channel: a reader can still commit (e.g. remove someone).
    r = bob.post(
        url(enc, "/commits"),
        {"device_id": devices["bob"], "epoch": 0, "commit": b64()},
        format="json",
    )
    assert r.status_code == 201
    assert bob.get(url(enc, "/log"), {"device_id": devices["bob"]}).status_code == 200
    check_kick(world.alice, world.guild.id, world.bob.id)
    assert bob.get(url(enc, "/log"), {"device_id": devices["bob"]}).status_code == 404
    assert bob.get(url(enc)).status_code == 404


def test_bad_input_gets_4xx_never_500(world, api, enc, devices):
    bob = api(world.bob)
    for path, body in [
        ("/messages", []),
        ("/messages", {"device_id": "x", "epoch": 0, "ciphertext": b64()}),
        ("/messages", {"device_id": devices["bob"], "epoch": -1, "ciphertext": b64()}),
        ("/messages", {"device_id": devices["bob"], "epoch": True, "ciphertext": b64()}),
        ("/messages", {"device_id": devices["alice"], "epoch": 0, "ciphertext": b64()}),
        ("/messages", {"device_id": devices["bob"], "epoch": 0, "ciphertext": "%%%"}),
        ("/messages", {"device_id": devices["bob"], "epoch": 0, "ciphertext": b64(), "x": 1}),
        ("/messages", {"device_id": devices["bob"], "epoch": 0, "ciphertext": b64(), "nonce": ""}),
        ("/commits", {"device_id": devices["bob"], "epoch": 0}),
        ("/commits", {"device_id": devices["bob"], "epoch": 0, "commit": b64(), "welcome": b64()}),
        (
            "/commits",
            {"device_id": devices["bob"], "epoch": 0, "commit": b64(), "welcome_devices": ["1"]},
        ),
        ("/proposals", {"device_id": devices["bob"], "epoch": 5, "proposal": b64()}),
        ("/key-packages/claim", {"device_ids": []}),
        ("/key-packages/claim", {"device_ids": ["nope"]}),
        ("/key-packages/claim", {"device_ids": ["123456789"]}),
    ]:
        r = bob.post(url(enc, path), body, format="json")
        assert 400 <= r.status_code < 500, (path, body, r.status_code)
        assert "code" in r.json() and "message" in r.json()
    r = bob.get(url(enc, "/log"), {"device_id": devices["bob"], "after": "x"})
    assert r.status_code == 400
    r = bob.get(url(enc, "/log"))
    assert r.status_code == 400
    assert bob.get("/api/v1/users/@me/mls/key-packages").status_code == 400
    assert MlsEntry.objects.count() == 0


def test_proposals_are_for_the_current_epoch(world, api, enc, devices):
    bob = api(world.bob)
    body = {"device_id": devices["bob"], "epoch": 0, "proposal": b64()}
    r = bob.post(url(enc, "/proposals"), body, format="json")
    assert r.status_code == 201 and r.json()["kind"] == "proposal"
    r = bob.post(url(enc, "/proposals"), {**body, "epoch": 1}, format="json")
    assert r.status_code == 409


def test_a_thread_of_an_encrypted_channel_takes_no_plaintext_either(world, api):
    alice = api(world.alice)
    base = f"/api/v1/channels/{world.channel.id}"
    before = alice.post(f"{base}/messages", {"content": "said in the clear"}, format="json")
    assert before.status_code == 200
    thread = alice.post(
        f"{base}/messages/{before.json()['id']}/threads", {"name": "side talk"}, format="json"
    )
    assert thread.status_code == 201, thread.content
    thread_id = thread.json()["id"]
    r = alice.post(f"/api/v1/channels/{thread_id}/messages", {"content": "ok"}, format="json")
    assert r.status_code == 200
    assert alice.put(url(world.channel), {}, format="json").status_code == 201
    r = alice.post(
        f"/api/v1/channels/{thread_id}/messages", {"content": "now secret"}, format="json"
    )
    assert r.status_code == 400 and r.json()["code"] == mls.MLS_REQUIRED
    assert not Message.objects.filter(content="now secret").exists()
    # What was said before encryption stays as it was.
    assert Message.objects.filter(content="said in the clear").exists()
