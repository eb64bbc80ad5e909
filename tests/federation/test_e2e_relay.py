"""Cross-node E2E DMs in one process: eve of remote.example (a signed actor whose device is a
real united_client LocalDevice) and bob of this node exchange encrypted messages both ways
through the DeviceMessage relay, and every bad relay is refused with nothing stored."""

from __future__ import annotations

import base64
import time

import pytest

from accounts.services.keys import fetch_key_bundle
from e2e.models import Envelope, EnvelopeCopy, SignedDeviceList
from federation import e2e_relay, handlers, policy
from federation.guildwire import group_uri
from federation.models import Activity, InboxItem, RemoteNode, RemoteUser
from guilds.models import Channel, ChannelType
from guilds.services.invites import check_create_invite
from tests.e2e.conftest import transport
from tests.federation.fixtures import post_signed, remote_identity
from tests.messaging.conftest import api, drop_federation  # noqa: F401  (shared fixtures)
from tests.worlds import local_world
from united.hlc import clock
from united_client.e2e.client import E2EClient
from united_client.e2e.device import LocalDevice

pytestmark = pytest.mark.django_db
REMOTE = "https://remote.example"
EVE = f"{REMOTE}/users/eve"
EVE_HOME_ID = "424242"  # eve's user id on her home node (in her signed device list)
EVE_DEVICE = "777"


@pytest.fixture(autouse=True)
def _local_base(settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"


_n = iter(range(1, 10_000))


def deliver(client, identity, activity: dict, **kw) -> InboxItem | None:
    response = post_signed(client, identity, activity, **kw)
    if response.status_code != 202:
        return None
    item = InboxItem.objects.get(activity_uri=activity["id"])
    handlers.process(item.id)
    item.refresh_from_db()
    return item


@pytest.fixture
def world(db, client, make_user, api):  # noqa: F811
    """bob (here, with an E2E device) and eve (remote, a member of bob's guild, with a device
    whose signed list this node has fetched and checked)."""
    eve_identity = remote_identity(EVE)
    harbour = local_world(make_user, owner="bob", guild="Harbour", channels=())
    bob, guild = harbour.bob, harbour.guild
    channel = Channel.objects.get(guild=guild, name="general")
    invite = check_create_invite(bob, channel.id, {"max_age": 0})
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{REMOTE}/activities/join-{next(_n)}",
        "type": "Follow",
        "actor": EVE,
        "object": group_uri(guild.id),
        "inviteCode": invite.code,
    }
    assert deliver(client, eve_identity, follow).state == "processed"
    shadow = RemoteUser.objects.get(actor_uri=EVE).user
    eve = LocalDevice.create(EVE_HOME_ID)
    eve.device_id = EVE_DEVICE
    wire = eve.sign_device_list(1, {EVE_DEVICE: eve.identity_pub})
    # What bob's node would have fetched from remote.example: checked as a local PUT is.
    e2e_relay._check_list(wire, RemoteUser.objects.get(user=shadow), shadow)
    bob_client = E2EClient(transport(api(bob)), str(bob.id))
    bob_client.register("laptop")
    return {
        "bob": bob,
        "bob_client": bob_client,
        "shadow": shadow,
        "eve": eve,
        "eve_identity": eve_identity,
        "channel_id": e2e_relay.dm_channel_id(EVE, "http://127.0.0.1:8000/users/bob"),
    }


def eve_sends(world, text: str) -> dict:
    """Eve's device encrypts for bob's devices as her own client would; the DeviceMessage."""
    bob, eve = world["bob"], world["eve"]
    if str(bob.id) not in eve.pins:
        from e2e.services import get_device_list

        eve.check_device_list(str(bob.id), get_device_list(bob.id))
        bundles, _ = eve.trusted_bundles(str(bob.id), fetch_key_bundle(bob, bob.id))
        for bundle in bundles:
            eve.start_session(bundle)
    targets = [(str(bob.id), d) for d in eve.pins[str(bob.id)].devices]
    envelope = eve.encrypt(str(world["channel_id"]), targets, {"type": "message", "content": text})
    n = next(_n)
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{REMOTE}/activities/dm-{n}",
        "type": "DeviceMessage",
        "actor": EVE,
        "to": ["http://127.0.0.1:8000/users/bob"],
        "devices": [c["device_id"] for c in envelope["copies"]],
        "payload": {
            "e2e": 1,
            "id": str(900_000 + n),
            "channel_id": envelope["channel_id"],
            "sender_device": EVE_DEVICE,
            "hlc": str(clock().now().pack()),
            "copies": [
                {k: c[k] for k in ("device_id", "header", "x3dh", "ciphertext")}
                for c in envelope["copies"]
            ],
        },
    }


def test_e2e_dm_both_ways_with_a_member_of_another_node(client, world):
    bob, bob_client, shadow, eve = world["bob"], world["bob_client"], world["shadow"], world["eve"]
    cid = str(world["channel_id"])
    # Eve writes first: bob's node makes the DM with the shared id and stores the envelope.
    assert deliver(client, world["eve_identity"], eve_sends(world, "hello from afar")).state == (
        "processed"
    )
    channel = Channel.objects.get(id=world["channel_id"])
    assert set(channel.recipients.all()) == {bob, shadow}
    assert bob_client.read(cid) == ["hello from afar"]
    (env,) = bob_client.history(cid)
    assert env["sender"]["user_id"] == str(shadow.id)  # shown as eve@remote.example
    assert shadow.username == "eve@remote.example"
    listed = bob_client.http("GET", f"/api/v1/users/{shadow.id}/device-list", None)[1]
    assert listed["acct"] == "eve@remote.example"
    # Bob answers exactly as in a local DM; his node relays eve's copy as a DeviceMessage.
    opened, _ = bob_client.http(
        "POST", "/api/v1/users/@me/channels", {"recipient_id": str(shadow.id)}
    )
    assert opened == 200
    bob_client.send(cid, [str(shadow.id)], "and hello back")
    (relay,) = [a.payload for a in Activity.objects.filter(type="DeviceMessage")]
    assert relay["to"] == [EVE] and relay["devices"] == [EVE_DEVICE]
    assert relay["payload"]["channel_id"] == cid and "and hello back" not in str(relay)
    (copy,) = relay["payload"]["copies"]
    eve.check_device_list(
        str(bob.id), bob_client.http("GET", f"/api/v1/users/{bob.id}/device-list", None)[1]
    )
    opened = eve.decrypt(
        {
            "v": 1,
            "channel_id": cid,
            "sender": {"user_id": str(bob.id), "device_id": relay["payload"]["sender_device"]},
            "copies": [{**copy, "user_id": EVE_HOME_ID}],
        }
    )
    assert opened.payload["content"] == "and hello back"
    # Bob's node kept its own copy of the envelope, with no copy for eve's device there.
    assert Envelope.objects.filter(channel_id=world["channel_id"], sender=bob).count() == 1
    assert not EnvelopeCopy.objects.filter(device_id=int(EVE_DEVICE)).exists()
    # And eve's second message continues the same session.
    assert (
        deliver(client, world["eve_identity"], eve_sends(world, "still here")).state == "processed"
    )
    assert bob_client.read(cid) == ["still here"]


def test_a_replayed_relay_is_stored_once(client, world):
    relayed = eve_sends(world, "once")
    assert deliver(client, world["eve_identity"], relayed).state == "processed"
    again = post_signed(client, world["eve_identity"], relayed)
    assert again.status_code == 202  # acknowledged, no second item
    same_envelope = {**relayed, "id": f"{REMOTE}/activities/replay-{next(_n)}"}
    item = deliver(client, world["eve_identity"], same_envelope)
    assert item.state == "processed" and item.detail == "already stored"
    assert Envelope.objects.filter(channel_id=world["channel_id"]).count() == 1


def test_bad_relays_are_refused_and_store_nothing(client, world):
    eve_identity = world["eve_identity"]
    good = eve_sends(world, "x")

    def variant(**payload) -> dict:
        return {
            **good,
            "id": f"{REMOTE}/activities/bad-{next(_n)}",
            "payload": {**good["payload"], **payload},
        }

    unknown_device = variant(copies=[{**good["payload"]["copies"][0], "device_id": "123456"}])
    unknown_device["devices"] = ["123456"]
    cases = {
        "unknown device": unknown_device,
        "wrong channel": variant(channel_id="12345"),
        "bad version": variant(e2e=2),
        "unknown field": variant(content="plaintext!"),
        "no copies": variant(copies=[]),
        "bad copy": variant(copies=[{"device_id": "1", "ciphertext": "!!"}]),
        "drifting clock": variant(hlc=str((int(time.time() * 1000) + 3_600_000) << 16)),
        "oversized": variant(
            copies=[
                {
                    **good["payload"]["copies"][0],
                    "ciphertext": base64.b64encode(b"x" * 37_500).decode(),
                }
            ]
            * 4  # 200 kB of ciphertext: under the inbox's 256 KiB, over the relay's 192 KiB
        ),
    }
    for name, activity in cases.items():
        item = deliver(client, eve_identity, activity)
        assert item is not None and item.state == "failed", (name, item and item.detail)
    assert not Envelope.objects.exists()
    # Unsigned, and signed with a key that is not eve's: refused at the door (401).
    from cryptography.hazmat.primitives.asymmetric import rsa

    forged = {**good, "id": f"{REMOTE}/activities/forged"}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert post_signed(client, eve_identity, forged, key=other_key).status_code == 401
    unsigned = client.post("/inbox", forged, content_type="application/activity+json")
    assert unsigned.status_code == 401
    assert not InboxItem.objects.filter(activity_uri=forged["id"]).exists()
    # The good one still goes through afterwards: nothing was lost.
    assert deliver(client, eve_identity, good).state == "processed"
    assert Envelope.objects.count() == 1


def test_bobs_node_refuses_what_it_cannot_relay(client, world):
    bob_client, shadow = world["bob_client"], world["shadow"]
    cid = str(world["channel_id"])
    assert deliver(client, world["eve_identity"], eve_sends(world, "hi")).state == "processed"
    bob_client.read(cid)
    envelope = bob_client.device.encrypt(cid, [(str(shadow.id), EVE_DEVICE)], {"content": "x"})
    envelope["copies"][0]["device_id"] = "31337"  # not on eve's signed list
    status, body = bob_client.http("POST", f"/api/v1/channels/{cid}/envelopes", envelope)
    assert status == 400 and "Unknown device" in str(body)
    # A group DM kept only on this node (made before federated groups) holding eve: her node
    # cannot know it, so no copy for her leaves (a group made now is federated: groupdms).
    local_group = Channel.objects.create(type=ChannelType.GROUP_DM, name="")
    local_group.recipients.set([world["bob"], shadow])
    gid = str(local_group.id)
    stray = bob_client.device.encrypt(gid, [(str(shadow.id), EVE_DEVICE)], {"c": "g"})
    status, body = bob_client.http("POST", f"/api/v1/channels/{gid}/envelopes", stray)
    assert status == 400 and "cannot reach members of other nodes" in body["message"]
    # A DM made before cross-node DMs existed (a node-local id): the other node cannot know it.
    legacy = Channel.objects.create(type=ChannelType.DM, name="")
    legacy.recipients.set([world["bob"], shadow])
    old = bob_client.device.encrypt(str(legacy.id), [(str(shadow.id), EVE_DEVICE)], {"c": "z"})
    status, body = bob_client.http("POST", f"/api/v1/channels/{legacy.id}/envelopes", old)
    assert status == 400 and "open the DM with eve@remote.example again" in body["message"]
    # A blocked node: nothing more is sent to it, and its relays are refused at the door.
    policy.do_block_node(RemoteNode.objects.get(domain="remote.example"), "spam")
    good = bob_client.device.encrypt(cid, [(str(shadow.id), EVE_DEVICE)], {"content": "y"})
    status, body = bob_client.http("POST", f"/api/v1/channels/{cid}/envelopes", good)
    assert status == 403 and "does not federate" in body["message"]
    assert not Activity.objects.filter(type="DeviceMessage").exists()
    refused = post_signed(client, world["eve_identity"], eve_sends(world, "after the block"))
    assert refused.status_code == 403
    assert Envelope.objects.count() == 1


def test_without_the_federation_adapter_nothing_reaches_another_node(
    client,
    world,
    drop_federation,  # noqa: F811
):
    """No port implementation registered (a node without federation): eve's account is just an
    account here. Bob's copy for her home device is an unknown device (400), nothing is relayed
    or stored, her key bundles are this node's (none), and `name@node` is refused (400)."""
    bob_client, shadow = world["bob_client"], world["shadow"]
    cid = str(world["channel_id"])
    # Eve's message still comes in (the inbox is federation's own door), opening the session.
    assert deliver(client, world["eve_identity"], eve_sends(world, "hi")).state == "processed"
    assert bob_client.read(cid) == ["hi"]
    drop_federation()
    envelope = bob_client.device.encrypt(cid, [(str(shadow.id), EVE_DEVICE)], {"content": "x"})
    status, body = bob_client.http("POST", f"/api/v1/channels/{cid}/envelopes", envelope)
    assert status == 400 and "Unknown device of that user" in str(body)
    assert not Activity.objects.filter(type="DeviceMessage").exists()
    assert Envelope.objects.count() == 1  # eve's only
    status, bundle = bob_client.http("GET", f"/api/v1/users/{shadow.id}/keys", None)
    assert status == 200 and bundle["devices"] == []  # not asked of remote.example
    status, body = bob_client.http(
        "POST", "/api/v1/users/@me/channels", {"recipient_id": "eve@remote.example"}
    )
    assert status == 400 and "does not federate" in str(body)


def test_a_device_list_not_signed_by_its_owner_is_refused(world):
    shadow, eve = world["shadow"], world["eve"]
    found = RemoteUser.objects.get(user=shadow)
    wire = eve.sign_device_list(2, {EVE_DEVICE: eve.identity_pub, "778": b"\x01" * 32})
    forged = {**wire, "payload": wire["payload"].replace('"version":2', '"version":3')}
    from united.errors import Invalid

    with pytest.raises(Invalid, match="not signed"):
        e2e_relay._check_list(forged, found, shadow)
    e2e_relay._check_list(wire, found, shadow)
    older = eve.sign_device_list(1, {EVE_DEVICE: eve.identity_pub})
    with pytest.raises(Invalid, match="older"):
        e2e_relay._check_list(older, found, shadow)
    assert SignedDeviceList.objects.get(user=shadow).version == 2
