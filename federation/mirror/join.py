"""Joining a guild of another node by its invite link: preview (the guild and the host's
privacy manifest), then `Follow` with the invite code; the host answers Accept or Reject."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.services.moves import check_not_moved
from federation import activities, actors, delivery, http, remote
from federation.models import RemoteActor, RemoteJoin
from united.errors import Forbidden, Invalid, NotFound


def parse_invite(raw: Any) -> tuple[str, str]:
    """(domain, code) from an invite link of another node (`https://node/invite/CODE`)."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(errors={"invite": ["Paste an invite link."]})
    parts = urlsplit(raw.strip())
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in {"http", "https"} or len(segments) != 2 or segments[0] != "invite":
        raise Invalid(errors={"invite": ["Expected a link like https://node/invite/CODE."]})
    domain = parts.netloc.lower()
    if domain == settings.FEDERATION_DOMAIN:
        raise Invalid(errors={"invite": ["That invite is for this node: open it directly."]})
    return domain, segments[1]


def _remote_error(exc: Exception, domain: str) -> Exception:
    reason = getattr(exc, "reason", "")
    if reason == "refused":
        return Forbidden(f"This node does not federate with {domain}")
    if reason in {"status", "not_found"}:
        return NotFound("Unknown Invite", code=10006)
    return Invalid(f"Could not reach {domain}: {reason or exc}")


def preview(raw: Any) -> dict[str, Any]:
    """What the member sees before joining: the guild and the host's privacy manifest."""
    from federation import policy

    domain, code = parse_invite(raw)
    if policy.refusal(domain):
        raise Forbidden(f"This node does not federate with {domain}")
    try:
        node = remote.check_node(domain)
        invite, _ = http.get_json(
            f"{settings.FEDERATION_SCHEME}://{domain}/api/v1/invites/{code}",
            sign=False,
            accept="application/json",
        )
    except (http.FetchError, remote.RemoteError) as exc:
        raise _remote_error(exc, domain) from None
    if policy.refusal(domain):  # the manifest we just read may fail our requirements
        raise Forbidden(f"This node does not federate with {domain}: {node.manifest_problems}")
    listed = invite.get("guild")
    guild: dict[str, Any] = listed if isinstance(listed, dict) else {}
    if not str(guild.get("id", "")).isdigit():
        raise NotFound("Unknown Invite", code=10006)
    return {
        "domain": domain,
        "code": code,
        "guild": {
            "id": str(guild["id"]),
            "name": str(guild.get("name", ""))[:100],
            "description": str(guild.get("description") or "")[:300],
        },
        "member_count": invite.get("approximate_member_count"),
        "group": f"{settings.FEDERATION_SCHEME}://{domain}/groups/{guild['id']}",
        "manifest": node.manifest,
        "software": node.software or "unknown",
    }


def check_join(user: User, raw: Any) -> RemoteJoin:
    check_not_moved(user)
    info = preview(raw)
    try:
        group = remote.fetch_actor(info["group"], refresh=True)
    except remote.RemoteError as exc:
        raise _remote_error(exc, info["domain"]) from None
    if group.kind != "Group":
        raise NotFound("Unknown Invite", code=10006)
    return do_join(user, group, int(info["guild"]["id"]), info["code"])


@transaction.atomic
def do_join(user: User, group: RemoteActor, guild_id: int, code: str) -> RemoteJoin:
    payload = activities.follow(actors.user_uri(user.username), group.uri, code)
    join = RemoteJoin.objects.create(
        user=user, group_uri=group.uri, guild_id=guild_id, activity_uri=payload["id"]
    )
    delivery.fan_out(payload, [group])
    return join


def serialize_join(join: RemoteJoin) -> dict[str, Any]:
    return {
        "id": str(join.id),
        "guild_id": str(join.guild_id),
        "group": join.group_uri,
        "state": join.state,
        "detail": join.detail,
    }
