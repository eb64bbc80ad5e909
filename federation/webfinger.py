"""WebFinger (RFC 7033) for this node's actors: `acct:name@domain` and actor URLs.

Rules followed (RFC 7033): `resource` is required (400 without it), an unknown resource is
404, the answer is `application/jrd+json` with `Access-Control-Allow-Origin: *` (§5), and
`rel` parameters filter the links only, keeping subject, aliases and properties (§4.3).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.conf import settings

from federation import actors

ACTIVITY_JSON = "application/activity+json"
MOVED_TO = "https://www.w3.org/ns/activitystreams#movedTo"


def _find(resource: str) -> tuple[str, dict[str, Any]] | None:
    """(subject name, actor document) for a resource naming one of our actors."""
    resource = unquote(resource).strip()
    if resource.startswith("acct:"):
        name, sep, domain = resource[len("acct:") :].rpartition("@")
        if not sep or domain.lower() != settings.FEDERATION_DOMAIN.lower():
            return None
        name = name.lstrip("@")
    elif actors.is_local(resource):
        name = resource.rstrip("/").rsplit("/", 1)[-1]
        if resource == actors.node_actor_uri():
            name = settings.FEDERATION_DOMAIN
    else:
        return None
    found = actors.find_local_actor(name)
    if found is None:
        return None
    kind, obj = found
    document = kind.render(obj)
    if not resource.startswith("acct:") and document["id"] != resource:
        return None
    return str(document.get("preferredUsername") or name), document


def jrd(resource: str, rels: list[str]) -> dict[str, Any] | None:
    found = _find(resource)
    if found is None:
        return None
    username, document = found
    links: list[dict[str, Any]] = [
        {"rel": "self", "type": ACTIVITY_JSON, "href": document["id"]},
    ]
    if isinstance(document.get("movedTo"), str):
        # The account moved: its actor (still `self`) says movedTo, and so does this link.
        links.append({"rel": MOVED_TO, "type": ACTIVITY_JSON, "href": document["movedTo"]})
    if rels:
        links = [link for link in links if link["rel"] in rels]
    return {
        "subject": f"acct:{username}@{settings.FEDERATION_DOMAIN}",
        "aliases": [document["id"]],
        "links": links,
    }


def host_meta_xml() -> str:
    template = f"{actors.base_url()}/.well-known/webfinger?resource={{uri}}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{template}"/>\n'
        "</XRD>\n"
    )
