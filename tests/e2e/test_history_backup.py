"""The node's side of the encrypted history backup (opaque sealed chunks, bounded), and the
events that let browsers act on devices: DEVICE_CREATE (a new device of one's own to
approve) and E2E_DEVICE_LIST_UPDATE (a contact's device appeared: a waiting message goes)."""

from __future__ import annotations

import base64

import pytest

from e2e import services
from e2e.models import HistoryChunk
from messaging.models import GatewayEvent

pytestmark = pytest.mark.django_db

NONCE = base64.b64encode(b"\x01" * 24).decode()
SEALED = base64.b64encode(b"sealed bytes the node cannot open").decode()
PATH = "/api/v1/users/@me/e2e-history"


def chunk(**extra) -> dict:
    return {"v": 1, "nonce": NONCE, "ciphertext": SEALED, **extra}


def test_chunks_are_stored_replaced_listed_and_deleted_per_account(world, api):
    alice = api(world.alice)
    assert alice.get(PATH).json() == []
    r = alice.put(f"{PATH}/abc_DEF-123", chunk(), format="json")
    assert r.status_code == 200 and r.json()["name"] == "abc_DEF-123"
    other = base64.b64encode(b"a newer version").decode()
    assert (
        alice.put(f"{PATH}/abc_DEF-123", chunk(ciphertext=other), format="json").status_code == 200
    )
    alice.put(f"{PATH}/zzz", chunk(), format="json")
    listed = alice.get(PATH).json()
    assert [(c["name"], c["ciphertext"]) for c in listed] == [
        ("abc_DEF-123", other),
        ("zzz", SEALED),
    ]
    # Pages in name order.
    page = alice.get(f"{PATH}?limit=1&after=abc_DEF-123").json()
    assert [c["name"] for c in page] == ["zzz"]
    # Another account sees none of them, and cannot delete them.
    bob = api(world.bob)
    assert bob.get(PATH).json() == []
    assert bob.delete(f"{PATH}/zzz").status_code == 204
    assert HistoryChunk.objects.filter(user=world.alice).count() == 2
    assert alice.delete(f"{PATH}/zzz").status_code == 204
    assert [c["name"] for c in alice.get(PATH).json()] == ["abc_DEF-123"]


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("ok", {"v": 2, "nonce": NONCE, "ciphertext": SEALED}, "v"),
        ("ok", [], "v"),
        ("ok", {"v": 1, "nonce": "short", "ciphertext": SEALED}, "nonce"),
        (
            "ok",
            {"v": 1, "nonce": base64.b64encode(b"x" * 23).decode(), "ciphertext": SEALED},
            "nonce",
        ),
        ("ok", {"v": 1, "nonce": NONCE, "ciphertext": "not base64!"}, "ciphertext"),
        ("ok", {"v": 1, "nonce": NONCE}, "ciphertext"),
        (
            "ok",
            {"v": 1, "nonce": NONCE, "ciphertext": "A" * (services.MAX_HISTORY_CHUNK + 4)},
            "ciphertext",
        ),
        ("bad.name", {"v": 1, "nonce": NONCE, "ciphertext": SEALED}, "name"),
        ("x" * 65, {"v": 1, "nonce": NONCE, "ciphertext": SEALED}, "name"),
    ],
)
def test_bad_chunks_get_a_clear_400(world, api, name, body, field):
    r = api(world.alice).put(f"{PATH}/{name}", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"]
    assert not HistoryChunk.objects.exists()


def test_bad_paging_gets_a_400(world, api):
    alice = api(world.alice)
    assert alice.get(f"{PATH}?limit=many").status_code == 400
    assert alice.get(f"{PATH}?after=no.dots").status_code == 400


def test_the_number_of_chunks_is_bounded(world, api, monkeypatch):
    monkeypatch.setattr(services, "MAX_HISTORY_CHUNKS", 2)
    alice = api(world.alice)
    assert alice.put(f"{PATH}/a", chunk(), format="json").status_code == 200
    assert alice.put(f"{PATH}/b", chunk(), format="json").status_code == 200
    r = alice.put(f"{PATH}/c", chunk(), format="json")
    assert r.status_code == 400 and "At most 2 history chunks" in str(r.json()["errors"])
    assert (
        alice.put(f"{PATH}/b", chunk(), format="json").status_code == 200
    )  # replacing one still works


def test_a_new_device_is_announced_to_the_accounts_sessions(world, e2e, api):
    first = e2e(world.alice)
    second = e2e(world.alice, "laptop")
    events = GatewayEvent.objects.filter(group=f"user.{world.alice.id}", t="DEVICE_CREATE")
    assert [e.d["device_id"] for e in events.order_by("id")] == [
        first.device.device_id,
        second.device.device_id,
    ]
    last = events.order_by("id").last()
    assert last is not None
    assert last.d["name"] == "laptop"
    assert last.d["identity_key"] == base64.b64encode(second.device.identity_pub).decode()
    assert not GatewayEvent.objects.filter(group=f"user.{world.bob.id}", t="DEVICE_CREATE")
    listed = {d["id"]: d for d in api(world.alice).get("/api/v1/users/@me/devices").json()}
    assert listed[second.device.device_id]["last_seen_at"]


def test_a_device_list_change_reaches_the_account_and_its_dm_partners_only(world, e2e, api):
    channel = api(world.alice).post(
        "/api/v1/users/@me/channels", {"recipient_id": str(world.bob.id)}, format="json"
    )
    assert channel.status_code in (200, 201), channel.content
    e2e(world.bob)  # bob's first device publishes his list v1
    heard = {
        e.group
        for e in GatewayEvent.objects.filter(t="E2E_DEVICE_LIST_UPDATE")
        if e.d == {"user_id": str(world.bob.id), "version": 1}
    }
    assert heard == {f"user.{world.alice.id}", f"user.{world.bob.id}"}  # not carol
