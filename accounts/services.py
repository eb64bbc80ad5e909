from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from messaging import events
from united.errors import Invalid

DISPLAY_NAME_MAX = 32


def serialize_user(user: User) -> dict[str, Any]:
    """The public user object (Discord's shape where it applies)."""
    return {
        "id": str(user.id),
        "username": user.username,
        "global_name": user.display_name or None,
        "avatar": None,
        "bot": False,
    }


def check_update_profile(user: User, *, display_name: Any = None) -> User:
    if display_name is not None:
        if not isinstance(display_name, str):
            raise Invalid(errors={"global_name": ["Must be a string."]})
        display_name = display_name.strip()
        if len(display_name) > DISPLAY_NAME_MAX:
            raise Invalid(errors={"global_name": [f"At most {DISPLAY_NAME_MAX} characters."]})
        if any(ord(c) < 32 for c in display_name):
            raise Invalid(errors={"global_name": ["Control characters are not allowed."]})
    return do_update_profile(user, display_name=display_name)


@transaction.atomic
def do_update_profile(user: User, *, display_name: str | None = None) -> User:
    if display_name is not None:
        user.display_name = display_name
    user.save(update_fields=["display_name"])
    events.broadcast(events.user_group(user.id), "USER_UPDATE", serialize_user(user))
    return user
