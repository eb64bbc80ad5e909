"""Mentions of people by handle, `@name@node`, which mean the same person on every node.

`<@id>` mentions name node-local ids (a person of another node has a different id on each
node), so they cannot cross federation. A handle can: the Markdown source travels unchanged,
and each node resolves `@name@node` among the guild's members to its own row — its own user
when `node` is this node's domain, the `name@node` account otherwise. So the mentioned
person's home node records the mention on its replica (unread mention count, highlight), as
the host and every other member node do on theirs.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Q

from guilds.models import Member

HANDLE = re.compile(r"(?<![\w@<`/])@([A-Za-z0-9_.-]{2,32})@([A-Za-z0-9.-]+(?::\d{1,5})?)")
MAX_HANDLES = 50


def handles_in(content: str) -> list[tuple[str, str]]:
    found = []
    for name, domain in HANDLE.findall(content or "")[:MAX_HANDLES]:
        host, _, port = domain.partition(":")
        host = host.rstrip(".-")  # "@carol@node.example." at the end of a sentence
        found.append((name, f"{host}:{port}" if port else host))
    return found


def handle_mentions(guild_id: int, content: str) -> list[int]:
    """Ids of the guild's members that `@name@node` handles in `content` name."""
    handles = handles_in(content)
    if not handles:
        return []
    local = (settings.FEDERATION_DOMAIN or "").lower()
    wanted = Q(pk__in=[])
    for name, domain in handles:
        if domain.lower() == local:
            wanted |= Q(user__username__iexact=name, user__remote_identity__isnull=True)
        else:
            wanted |= Q(user__username__iexact=f"{name}@{domain}")
    return list(Member.objects.filter(wanted, guild_id=guild_id).values_list("user_id", flat=True))
