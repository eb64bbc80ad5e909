"""Template tags of federated guilds in the web client: the banner over a remote guild whose
node is unreachable or defederated."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("federation/_notice.html")
def federation_notice(guild_id: Any) -> dict[str, Any]:
    from federation.mirror import guild_notice

    return {"notice": guild_notice(int(guild_id))}
