"""Who may read an attachment.

Media does not know what a channel or a DM is. An attachment carries a scope string
("channel:<id>", "dm:<id>", …) and the app that owns that kind of scope registers a resolver,
`fn(user, scope_id) -> bool`, with `register_scope_resolver`. The uploader may always read
their own upload; avatars, icons and banners are public; a scope nobody registered a resolver
for is closed to everyone else (deny by default, so a missing wiring fails safe).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from media.models import Attachment

ScopeResolver = Callable[[Any, str], bool]

_resolvers: dict[str, ScopeResolver] = {}


def register_scope_resolver(kind: str, resolver: ScopeResolver) -> None:
    _resolvers[kind] = resolver


def unregister_scope_resolver(kind: str) -> None:
    _resolvers.pop(kind, None)


def may_read(user: Any, attachment: Attachment) -> bool:
    if attachment.public:
        return True
    if user is None or not user.is_authenticated:
        return False
    if attachment.uploader_id == user.id:
        return True
    kind, _, scope_id = attachment.scope.partition(":")
    resolver = _resolvers.get(kind)
    if not attachment.scope or resolver is None or not scope_id:
        return False
    return bool(resolver(user, scope_id))
