"""Reports across nodes: a report about a member of another node can be forwarded to their
home node as an ActivityPub `Flag`, only when the reporter asks for it (their consent is the
request), and only by the node actor: the reporter's identity is not sent. The home node opens
a case in its own moderation queue, reporter unknown, noting which node forwarded it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from federation import activities, actors, delivery, remote
from federation.activities import object_id
from federation.guildwire import id_from_uri, note_uri
from federation.models import InboxItem, InboxState, RemoteActor, RemoteUser
from federation.services import local_user_for_uri
from united.errors import Forbidden, Invalid, NotFound

Outcome = tuple[str, str]


def check_forward(user: User, report_id: Any) -> dict[str, Any]:
    from moderation.models import Report

    try:
        report = Report.objects.select_related("case__target_user").get(
            id=int(report_id), reporter=user
        )
    except (Report.DoesNotExist, TypeError, ValueError):
        raise NotFound("Unknown report") from None
    target = report.case.target_user
    identity = RemoteUser.objects.filter(user=target).first() if target else None
    if identity is None:
        raise Invalid(errors={"report": ["Only reports about people of other nodes travel."]})
    actor = RemoteActor.objects.filter(uri=identity.actor_uri).select_related("node").first()
    if actor is None:
        try:
            actor = remote.fetch_actor(identity.actor_uri)
        except remote.RemoteError:
            raise Forbidden("Their node cannot be reached or is not federated with") from None
    objects = [identity.actor_uri]
    if report.case.message_id:
        objects.append(note_uri(report.case.message_id))
    content = f"[{report.category}] {report.note}".strip()
    with transaction.atomic():
        flag = activities.build("Flag", actors.node_actor_uri(), objects, content=content[:1000])
        delivery.fan_out(flag, [actor])
    return {"id": flag["id"], "to": actor.node.domain, "object": objects}


def _forwarded_message(objects: list[Any], actor: RemoteActor, target: User) -> Any:
    """The message a Flag names, when it is one of the target's that this node holds too
    (guild ids are shared across replicas): the case then shows it, from our own copy."""
    from messaging.models import Message

    origin = actor.uri.split("/", 3)
    prefix = "/".join(origin[:3]) + "/messages/"
    for o in objects:
        uri = object_id(o) or ""
        mid = id_from_uri(uri) if uri.startswith(prefix) else None
        if mid is not None:
            message = Message.objects.filter(id=mid, author=target, deleted_at__isnull=True)
            found = message.select_related("channel").first()
            if found is not None:
                return found
    return None


def handle(item: InboxItem, activity: dict[str, Any], actor: RemoteActor) -> Outcome | None:
    if activity["type"] != "Flag":
        return None
    from moderation.models import SEVERITY, Category, Report, ReportCase, TargetKind
    from moderation.services.reports import _user_snapshot, do_open_case, message_target

    objects = activity.get("object")
    objects = objects if isinstance(objects, list) else [objects]
    users = [u for u in (local_user_for_uri(object_id(o) or "") for o in objects) if u]
    if not users:
        return InboxState.IGNORED, "the Flag names nobody of this node"
    target = users[0]
    content = str(activity.get("content") or "")[:900]
    # check_forward sends "[category] note": keep the reporter's category when it is one of ours.
    category = Category.OTHER
    if content.startswith("[") and "]" in content:
        named, rest = content[1:].split("]", 1)
        if named in Category.values:
            category, content = Category(named), rest.strip()
    message = _forwarded_message(objects, actor, target)
    if message is not None:
        opened = message_target(message)
    else:
        opened = {
            "kind": TargetKind.USER,
            "key": f"user:{target.id}",
            "guild": None,
            "target_user": target,
            "snapshot": {"user": _user_snapshot(target)},
        }
    opened["snapshot"]["forwarded_by"] = actor.node.domain
    case = do_open_case(opened, severity=SEVERITY[category])
    # The queue sorts and shows cases by their count, as for a report made here.
    ReportCase.objects.filter(id=case.id).update(
        report_count=F("report_count") + 1, updated_at=timezone.now()
    )
    Report.objects.create(
        case=case,
        reporter=None,
        category=category,
        note=f"Forwarded by {actor.node.domain}: {content}"[:1000],
    )
    return InboxState.PROCESSED, f"report about {target.username} from {actor.node.domain}"
