from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from messaging.models import Message

pytestmark = pytest.mark.django_db


def open_dm(client, recipient):
    return client.post(
        "/api/v1/users/@me/channels", {"recipient_id": str(recipient.id)}, format="json"
    )


def test_members_of_a_shared_guild_can_open_one_dm(world, api):
    first = open_dm(api(world.bob), world.alice)
    assert first.status_code == 200
    again = open_dm(api(world.alice), world.bob)  # from the other side: the same channel
    assert again.json()["id"] == first.json()["id"]
    assert {u["username"] for u in first.json()["recipients"]} == {"alice", "bob"}
    assert first.json()["type"] == 1


def test_strangers_cannot_dm(world, api, make_user):
    stranger = make_user("mallory")
    response = open_dm(api(stranger), world.alice)
    assert response.status_code == 403 and response.json()["code"] == 50007
    assert open_dm(api(world.bob), world.bob).status_code == 400
    assert (
        api(world.bob)
        .post("/api/v1/users/@me/channels", {"recipient_id": "999"}, format="json")
        .status_code
        == 404
    )


def test_dm_refuses_plaintext_messages(world, api):
    """DMs are end-to-end encrypted (tests/e2e): the node takes no plaintext body for them."""
    dm = open_dm(api(world.bob), world.alice).json()
    path = f"/api/v1/channels/{dm['id']}/messages"
    sent = api(world.bob).post(path, {"content": f"hi <@{world.alice.id}>"}, format="json")
    assert sent.status_code == 400 and sent.json()["code"] == 50055
    assert api(world.alice).get(path).json() == []
    assert api(world.carol).get(path).status_code == 404
    assert api(world.carol).post(path, {"content": "x"}, format="json").status_code == 404


def test_group_dm_create_list_and_leave(world, api):
    created = api(world.alice).post(
        "/api/v1/users/@me/channels",
        {"recipients": [str(world.bob.id), str(world.carol.id)], "name": "trio"},
        format="json",
    )
    assert created.status_code == 200
    cid = created.json()["id"]
    assert created.json()["type"] == 3 and len(created.json()["recipients"]) == 3
    listed = api(world.carol).get("/api/v1/users/@me/channels").json()
    assert cid in {c["id"] for c in listed}
    assert api(world.carol).delete(f"/api/v1/channels/{cid}/recipients/@me").status_code == 204
    assert api(world.carol).get(f"/api/v1/channels/{cid}/messages").status_code == 404
    assert (
        api(world.bob)
        .post(f"/api/v1/channels/{cid}/messages", {"content": "still here"}, format="json")
        .status_code
        == 400  # plaintext refused: group DMs are end-to-end encrypted too
    )


@pytest.mark.django_db(transaction=True)
async def test_dm_events_over_the_gateway(world, api):
    from tests.messaging.test_realtime_chat import cookie_for, open_session

    cookies = await sync_to_async(
        lambda: [cookie_for(u) for u in (world.alice, world.bob, world.carol)]
    )()
    alice, bob, carol = [await open_session(c) for c in cookies]
    dm = (await sync_to_async(open_dm)(api(world.bob), world.alice)).json()
    assert (await alice.next_of("CHANNEL_CREATE"))["d"]["id"] == dm["id"]
    while not await carol.nothing(0.5):
        frame = await carol.next()
        assert frame.get("t") != "CHANNEL_CREATE", frame
    for s in (alice, bob, carol):
        await s.ws.disconnect()
    assert await Message.objects.filter(channel_id=int(dm["id"])).acount() == 0
    await sync_to_async(close_old_connections)()  # the executor thread's connection


def test_ready_lists_private_channels(world, api):
    from messaging.gateway import ready_state

    open_dm(api(world.bob), world.alice)
    ready, groups = ready_state(world.alice, "s" * 32)
    assert len(ready["private_channels"]) == 1
    assert ready["private_channels"][0]["recipients"][0]["username"] in {"alice", "bob"}


def test_a_name_at_node_recipient_without_federation_is_a_clear_400(world, api, drop_federation):
    """With no federation adapter registered (messaging.ports), a `name@node` recipient is
    refused in the API's error shape, and no DM is made."""
    drop_federation()
    response = api(world.bob).post(
        "/api/v1/users/@me/channels", {"recipient_id": "eve@remote.example"}, format="json"
    )
    assert response.status_code == 400
    assert "does not federate" in response.json()["errors"]["recipient_id"][0]
    group = api(world.bob).post(
        "/api/v1/users/@me/channels",
        {"recipients": [str(world.alice.id), "eve@remote.example"]},
        format="json",
    )
    assert group.status_code == 400 and "does not federate" in str(group.json()["errors"])
    assert api(world.bob).get("/api/v1/users/@me/channels").json() == []


def test_group_dm_owner_removes_a_member_and_eleven_are_refused(world, api):
    made = (
        api(world.alice)
        .post(
            "/api/v1/users/@me/channels",
            {"recipients": [str(world.bob.id), str(world.carol.id)]},
            format="json",
        )
        .json()
    )
    cid = made["id"]
    path = f"/api/v1/channels/{cid}/recipients"
    refused = api(world.bob).delete(f"{path}/{world.carol.id}")
    assert refused.status_code == 403 and refused.json()["code"] == 50013
    assert api(world.alice).delete(f"{path}/999").status_code == 404
    assert api(world.alice).delete(f"{path}/{world.alice.id}").status_code == 400
    assert api(world.alice).delete(f"{path}/{world.carol.id}").status_code == 204
    assert api(world.carol).get(f"/api/v1/channels/{cid}/envelopes?device_id=1").status_code == 404
    listed = {c["id"]: c for c in api(world.bob).get("/api/v1/users/@me/channels").json()}
    assert {u["username"] for u in listed[cid]["recipients"]} == {"alice", "bob"}
    crowd = [str(world.bob.id)] + [f"p{n}@remote.example" for n in range(10)]
    big = api(world.alice).post("/api/v1/users/@me/channels", {"recipients": crowd}, format="json")
    assert big.status_code == 400 and "At most 10 people" in str(big.json()["errors"])
