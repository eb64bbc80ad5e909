"""The node's side: envelopes only for DMs, per-device storage and delivery, refusals."""

from __future__ import annotations

import copy
import logging

import pytest
from django.db import connection

from accounts.models import Device
from e2e.models import Envelope, EnvelopeCopy, SignedDeviceList
from messaging.models import GatewayEvent, Message
from tests.e2e.helpers import make_device
from united_client.e2e import primitives as c
from united_client.e2e.errors import DecryptError, DeviceListError, E2EError

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(world, e2e):
    alice, bob = e2e(world.alice), e2e(world.bob)
    channel = alice.open_dm(bob.user_id)
    return alice, bob, channel


def test_exchange_both_ways_and_multi_device_fan_out(world, e2e, chat):
    alice, bob, channel = chat
    alice.send(channel, [bob.user_id], "hello bob")
    bob2 = e2e(world.bob, "laptop")
    bob.approve_device(bob2.device.device_id, bob2.device.identity_pub)
    alice.send(channel, [bob.user_id], "both your devices")
    assert bob.read(channel) == ["hello bob", "both your devices"]
    assert bob2.read(channel) == ["both your devices"]  # a new device: from then on
    bob2.send(channel, [alice.user_id], "from the laptop")
    assert alice.read(channel) == ["from the laptop"]
    assert bob.read(channel) == ["from the laptop"]  # the sender's other device gets a copy
    env = Envelope.objects.order_by("-id").first()
    assert EnvelopeCopy.objects.filter(envelope=env).count() == 2


def test_plaintext_refused_in_dm_channels(world, api, chat):
    alice, bob, channel = chat
    r = api(world.alice).post(
        f"/api/v1/channels/{channel}/messages", {"content": "hi"}, format="json"
    )
    assert r.status_code == 400 and r.json()["code"] == 50055
    assert "end-to-end encrypted" in r.json()["message"]
    r = api(world.carol).post(
        f"/api/v1/channels/{channel}/messages", {"content": "hi"}, format="json"
    )
    assert r.status_code == 404
    r = api(world.alice).post(
        f"/api/v1/channels/{channel}/envelopes", {"v": 1, "content": "hi"}, format="json"
    )
    assert r.status_code == 400 and r.json()["code"] == 50055
    assert not Message.objects.filter(channel_id=int(channel)).exists()
    # Guild channels keep plaintext (and the envelope door is closed to them).
    r = api(world.alice).post(f"/api/v1/channels/{world.channel.id}/envelopes", {}, format="json")
    assert r.status_code == 404


def _envelope(alice, bob, channel):
    alice._targets([bob.user_id])
    return alice.device.encrypt(
        channel, [(bob.user_id, bob.device.device_id)], {"type": "message", "content": "x"}
    )


MALFORMED = [
    (lambda e: e.update(v=2), "v"),
    (lambda e: e.update(channel_id="1"), "channel_id"),
    (lambda e: e["sender"].update(device_id="1"), "sender.device_id"),
    (lambda e: e["sender"].update(user_id="1"), "sender.user_id"),
    (lambda e: e.update(copies=[]), "copies"),
    (lambda e: e["copies"][0].update(ciphertext="%%%"), "copies[0].ciphertext"),
    (lambda e: e["copies"][0]["header"].update(n=-1), "copies[0].header.n"),
    (lambda e: e["copies"][0]["header"].update(dh="AAAA"), "copies[0].header.dh"),
    (lambda e: e["copies"][0].update(x3dh={"ik": 1}), "copies[0].x3dh"),
    (lambda e: e["copies"][0].update(device_id="12345"), "copies[0].device_id"),
    (lambda e: e["copies"].append(copy.deepcopy(e["copies"][0])), "copies"),
    (lambda e: e.update(nonce="x" * 65), "nonce"),
    (lambda e: e.update(extra=1), "_errors"),
]


def test_malformed_envelopes_get_clear_errors(world, api, chat):
    alice, bob, channel = chat
    good = _envelope(alice, bob, channel)
    for mutate, field in MALFORMED:
        env = copy.deepcopy(good)
        mutate(env)
        r = api(world.alice).post(f"/api/v1/channels/{channel}/envelopes", env, format="json")
        assert r.status_code == 400, (field, r.json())
        assert field in r.json()["errors"], (field, r.json())
    r = api(world.alice).post(f"/api/v1/channels/{channel}/envelopes", [1], format="json")
    assert r.status_code == 400
    assert not Envelope.objects.exists()
    assert (
        api(world.alice)
        .post(f"/api/v1/channels/{channel}/envelopes", good, format="json")
        .status_code
        == 201
    )


def test_copy_for_a_non_recipient_device_refused(world, api, e2e, chat):
    alice, bob, channel = chat
    carol = e2e(world.carol)
    env = _envelope(alice, bob, channel)
    env["copies"][0].update(user_id=carol.user_id, device_id=carol.device.device_id)
    r = api(world.alice).post(f"/api/v1/channels/{channel}/envelopes", env, format="json")
    assert r.status_code == 400 and "copies[0].user_id" in r.json()["errors"]


def test_message_to_a_revoked_device_rejected(world, api, e2e, chat):
    alice, bob, channel = chat
    bob2 = e2e(world.bob, "old phone")
    bob.approve_device(bob2.device.device_id, bob2.device.identity_pub)
    alice.send(channel, [bob.user_id], "to both")
    stale = _envelope(alice, bob2, channel)  # alice still has a session with bob2
    bob.remove_device(bob2.device.device_id)
    r = api(world.alice).post(f"/api/v1/channels/{channel}/envelopes", stale, format="json")
    assert r.status_code == 400
    assert r.json()["errors"]["copies[0].device_id"] == ["This device was revoked."]
    sent = alice.send(channel, [bob.user_id], "after removal")
    assert sent["copies"] == []  # alice's view: nothing for herself
    last = Envelope.objects.order_by("-id").first()
    assert [r.device_id for r in last.copies.all()] == [int(bob.device.device_id)]


def test_server_cannot_silently_add_a_device(world, api, chat):
    alice, bob, channel = chat
    alice.send(channel, [bob.user_id], "pinned")
    # A malicious node adds a device to bob's account and lists it in his key bundle.
    rogue = make_device(bob.user_id, "")
    reg = rogue.registration()
    Device.objects.create(
        user=world.bob,
        identity_key=reg["identity_key"],
        signed_prekey_id=1,
        signed_prekey=reg["signed_prekey"]["public_key"],
        signed_prekey_signature=reg["signed_prekey"]["signature"],
    )
    alice.device.forget_device(bob.device.device_id)  # force a fresh bundle fetch
    alice.send(channel, [bob.user_id], "still only bob")
    assert any("not on the signed device list" in w for w in alice.warnings)
    last = Envelope.objects.order_by("-id").first()
    assert [r.device_id for r in last.copies.all()] == [int(bob.device.device_id)]
    # …and it cannot swap the device list either: one signed by the rogue key is refused.
    rogue.device_id = "999"
    forged = rogue.sign_device_list(
        5, {bob.device.device_id: bob.device.identity_pub, "999": rogue.identity_pub}
    )
    SignedDeviceList.objects.filter(user=world.bob).update(
        version=5, payload=forged["payload"], signature=forged["signature"], signer="999"
    )
    with pytest.raises(DeviceListError):
        alice.send(channel, [bob.user_id], "refused")


def test_device_list_publication_checks(world, api, chat):
    alice, bob, channel = chat
    me = api(world.alice)
    d = alice.device
    wire = d.sign_device_list(1, {d.device_id: d.identity_pub})  # not newer than v1
    assert me.put("/api/v1/users/@me/device-list", wire, format="json").status_code == 400
    wire = d.sign_device_list(2, {d.device_id: d.identity_pub})
    wire["signature"] = c.b64(bytes(64))
    r = me.put("/api/v1/users/@me/device-list", wire, format="json")
    assert r.status_code == 400 and "signature" in r.json()["errors"]
    assert api(world.bob).get("/api/v1/users/424242/device-list").status_code == 404


def test_history_only_for_own_devices_and_events_per_user(world, api, chat):
    alice, bob, channel = chat
    alice.send(channel, [bob.user_id], "ping")
    r = api(world.carol).get(f"/api/v1/channels/{channel}/envelopes?device_id=1")
    assert r.status_code == 404
    r = api(world.bob).get(
        f"/api/v1/channels/{channel}/envelopes?device_id={alice.device.device_id}"
    )
    assert r.status_code == 400
    event = GatewayEvent.objects.get(group=f"user.{world.bob.id}", t="E2E_ENVELOPE_CREATE")
    assert [cp["device_id"] for cp in event.d["copies"]] == [bob.device.device_id]
    assert "ping" not in str(event.d)


def test_nonce_makes_sending_idempotent(world, api, chat):
    alice, bob, channel = chat
    env = _envelope(alice, bob, channel)
    env["nonce"] = "n1"
    path = f"/api/v1/channels/{channel}/envelopes"
    first = api(world.alice).post(path, env, format="json")
    again = api(world.alice).post(path, env, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and Envelope.objects.count() == 1


def test_edits_and_deletes_are_encrypted_events(chat):
    alice, bob, channel = chat
    sent = alice.send(channel, [bob.user_id], {"type": "message", "id": "m1", "content": "tpyo"})
    alice.send(channel, [bob.user_id], {"type": "edit", "target": "m1", "content": "typo"})
    alice.send(channel, [bob.user_id], {"type": "delete", "target": "m1"})
    opened = [bob.open(e).payload for e in bob.history(channel)]
    assert [p["type"] for p in opened] == ["message", "edit", "delete"]
    assert opened[1]["content"] == "typo" and sent["id"]


def _scan_database(needle: str) -> list[str]:
    """Every row of every table on this connection, as text, that contains `needle`."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor, include_views=False):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                if needle in repr(row) or needle.encode() in b"".join(
                    bytes(v) for v in row if isinstance(v, bytes | memoryview)
                ):
                    found.append(f"{table}: {row!r}"[:200])
    return found


def test_no_plaintext_in_database_logs_or_search(world, api, e2e, chat, caplog):
    from jobs.services import run_due_jobs as run_pending
    from messaging.search.service import search_guild

    caplog.set_level(logging.DEBUG)
    alice, bob, channel = chat
    secrets = ["zebracornflakes alpha", "quixotic-marmalade omega"]
    alice.send(channel, [bob.user_id], secrets[0])
    assert bob.read(channel) == [secrets[0]]
    bob.send(channel, [alice.user_id], secrets[1])
    assert alice.read(channel) == [secrets[1]]
    run_pending()
    assert EnvelopeCopy.objects.count() == 2
    # A guild message with a marker proves the scan and the search index do see content.
    api(world.alice).post(
        f"/api/v1/channels/{world.channel.id}/messages",
        {"content": "controlmarker visible"},
        format="json",
    )
    run_pending()
    assert _scan_database("controlmarker")
    for secret in secrets:
        for word in secret.split():
            assert _scan_database(word) == []
            assert word not in caplog.text
            assert search_guild(world.alice, world.guild.id, q=word)["total_results"] == 0


def test_encrypted_attachment_round_trip(world, api, e2e, chat, settings, tmp_path):
    alice, bob, channel = chat
    picture = b"\x89PNG secret-pixels " * 5000
    alice.send_file(channel, [bob.user_id], "cat.png", picture, "image/png")
    [envelope] = bob.history(channel)
    [attachment] = bob.open(envelope).payload["attachments"]
    assert attachment["name"] == "cat.png" and attachment["size"] == len(picture)
    assert bob.fetch_file(attachment) == picture
    stored = api(world.bob).get(f"/api/v1/attachments/{attachment['id']}").json()
    assert stored["encrypted"] is True and stored["kind"] == "encrypted"
    assert b"secret-pixels" not in alice._call(
        "DOWNLOAD", f"/api/v1/attachments/{attachment['id']}/content"
    )
    r = api(world.carol).get(f"/api/v1/attachments/{attachment['id']}/content")
    assert r.status_code in (403, 404)
    with pytest.raises(DecryptError):  # a swapped blob fails the hash in the message
        bob.fetch_file({**attachment, "sha256": "0" * 64})


def test_key_backup_restores_identity_on_a_new_device(world, api, e2e, chat):
    from mnemonic import Mnemonic

    from united_client.e2e import backup
    from united_client.e2e.client import E2EClient

    alice, bob, channel = chat
    phrase = Mnemonic("english").generate(128)
    world.alice.recovery_public_key = c.b64(backup.recovery_keypair(phrase)[1])
    world.alice.save(update_fields=["recovery_public_key"])
    alice.enable_backup(phrase)
    alice.send(channel, [bob.user_id], "before the phone fell in the lake")
    assert bob.read(channel) == ["before the phone fell in the lake"]
    stored = api(world.alice).get("/api/v1/users/@me/e2e-backup").json()
    assert set(stored) == {"v", "nonce", "ciphertext"}
    assert c.b64(alice.device.identity_seed) not in str(stored)
    wrong = Mnemonic("english").generate(128)
    with pytest.raises(E2EError):
        E2EClient.restore(alice.http, alice.user_id, wrong)

    restored = E2EClient.restore(alice.http, alice.user_id, phrase, "new phone")
    assert restored.device.identity_pub == alice.device.identity_pub
    assert restored.device.device_id != alice.device.device_id
    old = Device.objects.get(pk=int(alice.device.device_id))
    assert old.revoked_at is not None
    # bob accepts the new list (signed by the recovery key his pinned list names) and talks to
    # the new device; the identity key, hence the safety number, is unchanged.
    bob.send(channel, [alice.user_id], "welcome back")
    assert bob.warnings == []
    assert restored.read(channel)[-1] == "welcome back"
    # …and history from before is not available on the new device (no copy was made for it).
    assert "before the phone fell in the lake" not in restored.read(channel)


def test_one_time_prekeys_are_replenished_when_low(world, api, e2e):
    carol = e2e(world.carol)  # 20 one-time prekeys
    assert carol.replenish_prekeys() == 20  # enough: nothing uploaded
    for _ in range(12):
        api(world.alice).get(f"/api/v1/users/{carol.user_id}/keys")
    assert carol.replenish_prekeys() == 8 + 20
    fetched = api(world.alice).get(f"/api/v1/users/{carol.user_id}/keys").json()
    key_id = fetched["devices"][0]["one_time_prekey"]["key_id"]
    assert key_id in carol.device.opks  # the private half is on the device
