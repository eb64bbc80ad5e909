"""Group DMs with members on other nodes (up to 10 people, end-to-end encrypted).

Scheme (docs/e2e.md "Group DMs across nodes", docs/federation.md "Federated group DMs"):

- **Encryption** is the local group DM's: pairwise fan-out over the existing X3DH + Double
  Ratchet sessions, one copy per device of every current member. Copies for a member of
  another node leave as the 1:1 relay's `DeviceMessage` (federation.e2e_relay), one per
  member, carrying the group's channel id.
- **Membership** is kept by every node that has a member (a GROUP_DM channel whose
  recipients are its own members and `name@node` accounts for the others, plus a
  FederatedGroup row). The node of the group's creator is its **authority**: only its node
  actor's signed `Update{GroupDM}` changes the membership elsewhere. A state carries the whole
  member list and a revision; a node applies a newer revision only, from the authority only.
- **Ids**: the channel id is the same on every node (it is bound into every ciphertext),
  derived from the authority's actor id and a random key, so no other node can claim a
  group id the authority made, nor the authority collide with one of theirs by chance.
- **Leaving**: a member leaves on their own node, which drops them at once (their node stops
  taking envelopes for them) and sends a signed `Leave` to the authority; the authority
  applies it and sends the new state to every member's node (and the leaver's). The owner
  (the creator while they are in the group) removes members on the authority. Senders'
  nodes then refuse a copy for the one who left (not a recipient), and the receiving node
  refuses any relayed copy for someone not in its copy of the group.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from accounts.models import User
from federation import activities, actors, delivery, people, policy, remote
from federation.models import FederatedGroup, InboxItem, InboxState, RemoteActor, RemoteUser
from guilds.models import Channel, ChannelType
from united.errors import Forbidden, Invalid
from united.ids import parse_snowflake

STATE_KEYS = activities.GROUP_DM_FIELDS
Outcome = tuple[str, str]


def group_channel_id(authority: str, key: str) -> int:
    """The id every node gives the group: 63 bits of a SHA-256 over its authority and key."""
    digest = hashlib.sha256(f"UNITED_GDM_v1\n{authority}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1 or 1


def group_of(channel: Channel) -> FederatedGroup | None:
    if channel.type != ChannelType.GROUP_DM:
        return None
    return FederatedGroup.objects.filter(channel_id=channel.id).first()


def is_authority(group: FederatedGroup) -> bool:
    return group.authority == actors.node_actor_uri()


def _is_node_actor(actor: RemoteActor) -> bool:
    return urlsplit(actor.uri).path == "/actor"


def _far_actors(members: list[User]) -> list[RemoteActor]:
    """The actors of the members of other nodes (their nodes' shared inboxes get the state)."""
    found = []
    for row in RemoteUser.objects.filter(user__in=members):
        if policy.refusal(row.domain):
            continue
        actor = RemoteActor.objects.filter(uri=row.actor_uri).first()
        if actor is None:
            try:
                actor = remote.fetch_actor(row.actor_uri)
            except remote.RemoteError:
                continue  # unreachable now: it gets the next state (or refetches its copy)
        found.append(actor)
    return found


# --- the authority's side --------------------------------------------------------------------
def group_uri(group: FederatedGroup) -> str:
    """The group's id: on its authority's origin (the authority is `<origin>/actor`)."""
    return f"{group.authority.rsplit('/', 1)[0]}/dm-groups/{group.channel_id}"


def state_doc(channel: Channel, group: FederatedGroup) -> dict[str, Any]:
    members = list(channel.recipients.order_by("id"))
    return {
        "id": group_uri(group),
        "type": "GroupDM",
        "channelId": str(channel.id),
        "key": group.key,
        "revision": group.version,
        "name": channel.name,
        "owner": people.actor_uri(channel.owner) if channel.owner else None,
        "members": [people.actor_uri(u) for u in members],
    }


def _send_state(channel: Channel, group: FederatedGroup, also: Sequence[User] = ()) -> None:
    """The group's state to every member's node (and to the nodes of those who just left)."""
    members = list(channel.recipients.all())
    targets = _far_actors([*members, *also])
    if not targets:
        return
    activity = activities.minimal(
        {
            "@context": [activities.AS2_CONTEXT, actors.GROUP_DM_CONTEXT],
            "id": activities.new_activity_uri(),
            "type": "Update",
            "actor": actors.node_actor_uri(),
            "to": [a.uri for a in targets],
            "object": state_doc(channel, group),
        }
    )
    delivery.fan_out(activity, targets)


def create_group(user: User, others: list[User], name: str) -> Channel:
    """messaging.ports.RemoteDMs: a group DM with members of other nodes, this node its
    authority."""
    from messaging.services.dms import do_create_group_dm

    for other in others:
        found = RemoteUser.objects.filter(user_id=other.id).first()
        if found is not None and policy.refusal(found.domain):
            raise Forbidden(f"This node does not federate with {found.domain}")
    authority, key = actors.node_actor_uri(), secrets.token_hex(16)
    with transaction.atomic():
        channel = do_create_group_dm(
            user, others, name, channel_id=group_channel_id(authority, key)
        )
        group = FederatedGroup.objects.create(channel=channel, authority=authority, key=key)
        _send_state(channel, group)
    return channel


def _change(channel: Channel, group: FederatedGroup, members: list[User], owner: Any) -> None:
    from messaging.services.dms import do_set_group_members

    gone = [u for u in channel.recipients.all() if u.id not in {m.id for m in members}]
    do_set_group_members(channel, members, owner)
    group.version += 1
    group.save(update_fields=["version"])
    _send_state(channel, group, also=gone)


def _next_owner(channel: Channel, leaving: User) -> User | None:
    """The owner stays with a member of the authority's node (only there can they act)."""
    if channel.owner_id != leaving.id:
        return channel.owner
    return (
        channel.recipients.exclude(id=leaving.id)
        .filter(remote_identity__isnull=True)
        .order_by("id")
        .first()
    )


def leave_group(user: User, channel: Channel) -> bool:
    """messaging.ports.RemoteDMs: `user` (of this node) leaves a federated group."""
    from messaging.services.dms import do_set_group_members

    group = group_of(channel)
    if group is None:
        return False
    authority: RemoteActor | None = None
    if not is_authority(group):  # fetched before the transaction: no lock across a request
        authority = RemoteActor.objects.filter(uri=group.authority).first()
        if authority is None:
            try:
                authority = remote.fetch_actor(group.authority)
            except remote.RemoteError as exc:
                raise Invalid(
                    f"Could not reach the group's home node: {exc.reason}; try again later"
                ) from None
    with transaction.atomic():
        group = FederatedGroup.objects.select_for_update().get(pk=group.pk)
        stay = list(channel.recipients.exclude(id=user.id))
        if authority is None:
            _change(channel, group, stay, _next_owner(channel, user))
            return True
        # Dropped here at once (no envelope is stored for them from now on); the authority
        # confirms with its next state, which must not bring them back meanwhile.
        owner = channel.owner if channel.owner_id != user.id else None
        do_set_group_members(channel, stay, owner)
        me = actors.user_uri(user.username)
        group.leaving = sorted({*group.leaving, me})
        group.save(update_fields=["leaving"])
        delivery.fan_out(
            activities.minimal(
                {
                    "@context": [activities.AS2_CONTEXT, actors.GROUP_DM_CONTEXT],
                    "id": activities.new_activity_uri(),
                    "type": "Leave",
                    "actor": me,
                    "to": [group.authority],
                    "object": group_uri(group),
                }
            ),
            [authority],
        )
    return True


def remove_from_group(user: User, channel: Channel, member: User) -> bool:
    """messaging.ports.RemoteDMs: the owner (a member of the authority's node) removes one."""
    group = group_of(channel)
    if group is None:
        return False
    if not is_authority(group):
        raise Invalid("Members are removed on the group's home node, by its owner")
    with transaction.atomic():
        group = FederatedGroup.objects.select_for_update().get(pk=group.pk)
        _change(channel, group, list(channel.recipients.exclude(id=member.id)), user)
    return True


def _apply_leave(activity: dict[str, Any], actor: RemoteActor) -> Outcome:
    raw = str(activity.get("object") or "")
    group_id = parse_snowflake(raw.rstrip("/").rsplit("/", 1)[-1])
    if group_id is None or not raw.startswith(actors.base_url() + "/dm-groups/"):
        return InboxState.IGNORED, "Leave of something other than a group DM of ours"
    group = FederatedGroup.objects.select_for_update().filter(channel_id=group_id).first()
    if group is None or not is_authority(group):
        return InboxState.FAILED, "refused: this node is not that group's authority"
    channel = Channel.objects.get(id=group.channel_id)
    leaver = RemoteUser.objects.filter(actor_uri=actor.uri).select_related("user").first()
    if leaver is None or not channel.recipients.filter(id=leaver.user_id).exists():
        return InboxState.PROCESSED, "not a member (already left)"
    stay = list(channel.recipients.exclude(id=leaver.user_id))
    _change(channel, group, stay, _next_owner(channel, leaver.user))
    return InboxState.PROCESSED, f"{leaver.user.username} left group {channel.id}"


# --- every other member's node ---------------------------------------------------------------
def _check_state(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or set(doc) - STATE_KEYS:
        raise ValueError("malformed group state")
    members, version = doc.get("members"), doc.get("revision")
    if not isinstance(members, list) or not all(
        isinstance(m, str) and m.startswith(("https://", "http://")) and len(m) <= 500
        for m in members
    ):
        raise ValueError("group state without a member list (actor ids)")
    from messaging.services.dms import GROUP_DM_MAX

    if not 0 < len(set(members)) <= GROUP_DM_MAX or len(set(members)) != len(members):
        raise ValueError(f"a group DM holds 1 to {GROUP_DM_MAX} distinct members")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("group state without a revision")
    key, name, owner = doc.get("key"), doc.get("name") or "", doc.get("owner")
    if not isinstance(key, str) or not 16 <= len(key) <= 64 or not isinstance(name, str):
        raise ValueError("group state without its key")
    if owner is not None and owner not in members:
        raise ValueError("the owner is not a member")
    channel_id = parse_snowflake(doc.get("channelId"))
    if channel_id is None:
        raise ValueError("group state without its channel id")
    return {
        "channel_id": channel_id,
        "key": key,
        "version": version,
        "name": name[:100],
        "owner": owner,
        "members": members,
    }


def _apply_state(activity: dict[str, Any], actor: RemoteActor) -> Outcome:
    from messaging.services.dms import _shares_a_guild, do_create_group_dm, do_set_group_members

    state = _check_state(activity.get("object"))
    channel_id = state["channel_id"]
    group = FederatedGroup.objects.select_for_update().filter(channel_id=channel_id).first()
    if group is not None and group.authority != actor.uri:
        return InboxState.FAILED, "refused: a membership change not from the group's authority"
    if group is None:
        if not _is_node_actor(actor) or channel_id != group_channel_id(actor.uri, state["key"]):
            return InboxState.FAILED, "refused: the group id is not its authority's"
        if Channel.objects.filter(id=channel_id).exists():
            return InboxState.FAILED, "refused: that id belongs to another conversation"
    elif state["version"] <= group.version:
        return InboxState.PROCESSED, f"stale state v{state['version']} (have v{group.version})"
    users = {uri: people.user_for_actor(uri) for uri in state["members"]}
    local = {uri for uri in users if actors.is_local(uri)}
    leaving = set(group.leaving) if group else set()
    keep = [u for uri, u in users.items() if uri not in leaving]
    owner = users.get(state["owner"]) if state["owner"] else None
    channel = Channel.objects.filter(id=channel_id).first()
    current = set(channel.recipients.values_list("id", flat=True)) if channel else set()
    arriving = [users[uri] for uri in local - leaving if users[uri].id not in current]
    if arriving and (owner is None or not all(_shares_a_guild(u, owner) for u in arriving)):
        # As locally: nobody is put in a conversation by someone they share no guild with.
        return InboxState.FAILED, "refused: a local member shares no guild with the owner"
    if channel is None:
        if not arriving:
            return InboxState.IGNORED, "no member of this node in that group"
        channel = do_create_group_dm(owner, keep, state["name"], channel_id=channel_id)
        group = FederatedGroup.objects.create(
            channel=channel, authority=actor.uri, key=state["key"], version=state["version"]
        )
    else:
        assert group is not None
        if channel.name != state["name"]:
            channel.name = state["name"]
            channel.save(update_fields=["name"])
        do_set_group_members(channel, keep, owner)
        group.version = state["version"]
        # A leave is confirmed once the authority's state no longer names them.
        group.leaving = sorted(leaving & set(state["members"]))
        group.save(update_fields=["version", "leaving"])
    return InboxState.PROCESSED, f"group {channel_id} v{state['version']}: {len(keep)} members"


def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome | None:
    kind, obj = activity.get("type"), activity.get("object")
    if kind == "Update" and isinstance(obj, dict) and obj.get("type") == "GroupDM":
        return _apply_state(activity, actor)
    if kind == "Leave" and isinstance(obj, str) and "/dm-groups/" in obj:
        return _apply_leave(activity, actor)
    return None


# --- envelopes -------------------------------------------------------------------------------
def check_group_copies(channel: Channel, shadow: User) -> None:
    """A copy for `shadow` in a group DM may leave only in a federated group they are in."""
    if group_of(channel) is None:
        raise Invalid(
            "This group cannot reach members of other nodes",
            errors={"channel_id": ["Not a federated group DM."]},
        )
    if not channel.recipients.filter(id=shadow.id).exists():
        raise Invalid(errors={"copies": [f"{shadow.username} is not in this group."]})
