"""Metadata minimisation: every outgoing activity type carries exactly the fields
docs/federation.md lists, and nothing that identifies a device, a client or a reader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from federation import activities, delivery, services
from federation.models import Activity
from tests.federation.fixtures import remote_identity

pytestmark = pytest.mark.django_db
DOC = Path(__file__).resolve().parents[2] / "docs" / "federation.md"
FORBIDDEN = re.compile(
    r"ip|address|device|client|agent|user.?agent|version|read|seen|location|email|published",
    re.I,
)


def _documented_fields() -> dict[str, set[str]]:
    """The profile table in docs/federation.md: | `Type` | `field`, `field` | … |"""
    table: dict[str, set[str]] = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\|\s*`(\w+)`\s*\|\s*([^|]+)\|", line)
        if match and match.group(1) in activities.FIELDS:
            table[match.group(1)] = set(re.findall(r"`([@\w]+)`", match.group(2)))
    return table


def _all_keys(value, found=None) -> set[str]:
    found = set() if found is None else found
    if isinstance(value, dict):
        for k, v in value.items():
            found.add(k)
            _all_keys(v, found)
    elif isinstance(value, list):
        for v in value:
            _all_keys(v, found)
    return found


def _every_type(user, actor) -> list[dict]:
    me = f"{activities.actors.user_uri(user.username)}"
    return [
        activities.follow(me, actor.uri),
        activities.accept(me, "https://remote.example/activities/1", actor.uri),
        activities.reject(me, "https://remote.example/activities/2", actor.uri),
        activities.undo_follow(me, "https://x.example/activities/3", actor.uri),
        activities.build("Create", me, _note(), to=[GROUP]),
        activities.build("Update", me, _note(), to=[GROUP]),
        activities.build("Delete", me, {"id": NOTE, "type": "Tombstone"}, to=[GROUP]),
        activities.build("EmojiReact", me, NOTE, content="👍", to=[GROUP]),
        activities.build(
            "Announce", GROUP, activities.build("Create", me, _note(), to=[GROUP]), to=[GROUP]
        ),
        activities.build("Block", GROUP, actor.uri, to=[GROUP]),
        activities.build("Flag", me, [actor.uri], content="spam"),
        activities.build(
            "Update",
            activities.actors.node_actor_uri(),
            {
                "id": "https://x.example/dm-groups/5",
                "type": "GroupDM",
                "channelId": "5",
                "key": "00" * 16,
                "revision": 2,
                "name": "",
                "owner": me,
                "members": [me, actor.uri],
            },
            to=[actor.uri],
        ),
        activities.build("Leave", me, "https://x.example/dm-groups/5", to=[actor.uri]),
        activities.move(me, actor.uri),
        activities.minimal(
            {
                "@context": activities.AS2_CONTEXT,
                "id": "https://x.example/activities/4",
                "type": "DeviceMessage",
                "actor": me,
                "to": [actor.uri],
                "devices": ["1"],
                "payload": {"opaque": "x"},
            }
        ),
    ]


GROUP = "https://x.example/groups/1"
NOTE = "https://x.example/messages/2"


def _note() -> dict:
    return {
        "id": NOTE,
        "type": "Note",
        "attributedTo": GROUP,
        "channelId": "3",
        "messageId": "2",
        "hlc": "0000000000001-00000-x.example",
        "content": "<p>hi</p>",
        "source": {"content": "hi", "mediaType": "text/markdown"},
    }


def test_every_activity_type_is_documented_and_minimal(make_user):
    user = make_user("frank")
    actor = delivery.RemoteActor.objects.get(uri=remote_identity().uri)
    documented = _documented_fields()
    built = _every_type(user, actor)
    assert {a["type"] for a in built} == set(activities.FIELDS) == set(documented)
    for activity in built:
        # Optional fields (an invite code, a reason, `cc`) are left out when empty.
        assert set(activity) <= documented[activity["type"]] == activities.FIELDS[activity["type"]]
        # A DeviceMessage names the recipient's devices it is for: that is its job.
        allowed = {"devices", "DeviceMessage"} if activity["type"] == "DeviceMessage" else set()
        leaked = {
            k for k in _all_keys(activity) - allowed if k != "@context" and FORBIDDEN.search(k)
        }
        assert not leaked, (activity["type"], leaked)


def test_what_is_stored_for_delivery_is_minimal(make_user):
    user = make_user("gina")
    actor = delivery.RemoteActor.objects.get(uri=remote_identity().uri)
    services.do_follow(user, actor)
    services.do_unfollow(user, actor)
    for row in Activity.objects.all():
        assert set(row.payload) <= activities.FIELDS[row.type]
        assert "gina" not in json.dumps(row.payload).replace(activities.actors.user_uri("gina"), "")


def test_an_extra_field_is_refused():
    with pytest.raises(activities.MetadataLeak):
        activities.minimal(
            {"type": "Follow", "id": "x", "actor": "a", "object": "b", "ip": "1.2.3.4"}
        )
    with pytest.raises(activities.MetadataLeak):
        activities.minimal({"type": "Add", "id": "x"})
    with pytest.raises(activities.MetadataLeak):
        activities.build("Create", "a", {**_note(), "ip": "1.2.3.4"})
