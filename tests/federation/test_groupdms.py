"""A federated group DM as a member's node sees it, in one process: remote.example is the
group's authority (its node actor signs the states), eve of remote.example writes to bob of
this node through the DeviceMessage relay. Every membership change not from the authority,
stale, or malformed is refused with nothing changed, and once bob is out of the group this
node stores nothing more for him (tests/federation/test_groupdms_live.py runs the whole flow
on two real nodes)."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.models import Envelope, EnvelopeCopy
from federation import groupdms
from federation.models import FederatedGroup
from guilds.models import Channel
from tests.federation.fixtures import remote_identity
from tests.federation.test_e2e_relay import (  # noqa: F401  (fixtures)
    EVE,
    REMOTE,
    _local_base,
    deliver,
    eve_sends,
    world,
)
from tests.messaging.conftest import api  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db
BOB = "http://127.0.0.1:8000/users/bob"
NODE = f"{REMOTE}/actor"
KEY = "5eed" * 8
_n = iter(range(1, 10_000))


def update(doc: dict[str, Any], actor: str = NODE) -> dict[str, Any]:
    origin = actor.rsplit("/", 1)[0]
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{origin}/activities/gdm-{next(_n)}",
        "type": "Update",
        "actor": actor,
        "to": [BOB],
        "object": doc,
    }


def state(version: int, members: list[str], **over: Any) -> dict[str, Any]:
    gid = groupdms.group_channel_id(NODE, KEY)
    return {
        "id": f"{REMOTE}/dm-groups/{gid}",
        "type": "GroupDM",
        "channelId": str(gid),
        "key": KEY,
        "revision": version,
        "name": "harbour friends",
        "owner": EVE,
        "members": members,
        **over,
    }


def test_a_group_of_another_node_is_kept_as_its_authority_says(client, world):  # noqa: F811
    node = remote_identity(NODE)
    bob, shadow, bob_client = world["bob"], world["shadow"], world["bob_client"]
    gid = groupdms.group_channel_id(NODE, KEY)
    made = deliver(client, node, update(state(1, [EVE, BOB])))
    assert made.state == "processed", made.detail
    group = Channel.objects.get(id=gid)
    assert group.type == 3 and set(group.recipients.all()) == {bob, shadow}
    assert group.owner == shadow and group.name == "harbour friends"

    # eve writes to the group: stored under the group's id, readable by bob's device.
    world["channel_id"] = gid
    assert deliver(client, world["eve_identity"], eve_sends(world, "to the group")).state == (
        "processed"
    )
    assert bob_client.read(str(gid)) == ["to the group"]

    # Refused, nothing changed: a node that is not the authority (even with a newer
    # version), a stale version, eleven members, a new group whose id is not its signer's.
    other = remote_identity("https://other.example/actor")
    forged = state(5, [EVE], id="https://other.example/dm-groups/1")
    item = deliver(client, other, update(forged, "https://other.example/actor"))
    assert item.state == "failed" and "not from the group's authority" in item.detail
    stale = deliver(client, node, update(state(1, [EVE])))
    assert stale.state == "processed" and "stale" in stale.detail
    crowd = [EVE, BOB] + [f"{REMOTE}/users/p{n}" for n in range(9)]
    assert deliver(client, node, update(state(2, crowd))).state == "failed"
    wrong_id = state(1, [EVE, BOB], channelId="12345", id=f"{REMOTE}/dm-groups/12345")
    item = deliver(client, node, update(wrong_id))
    assert item.state == "failed" and "not its authority's" in item.detail
    assert not Channel.objects.filter(id=12345).exists()
    assert set(group.recipients.all()) == {bob, shadow}
    assert FederatedGroup.objects.get(channel_id=gid).version == 1

    # The authority's v2 drops bob: from then on nothing relayed for him is stored.
    assert deliver(client, node, update(state(2, [EVE]))).state == "processed"
    assert set(group.recipients.all()) == {shadow}
    stored = EnvelopeCopy.objects.filter(user=bob).count()
    late = deliver(client, world["eve_identity"], eve_sends(world, "after bob left"))
    assert late.state == "failed" and "bob is not in that group" in late.detail
    assert EnvelopeCopy.objects.filter(user=bob).count() == stored
    assert bob_client.http("GET", f"/api/v1/channels/{gid}/envelopes?device_id=1", None)[0] == 404
    assert Envelope.objects.filter(channel_id=gid).count() == 1
