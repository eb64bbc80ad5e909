"""Gateway protocol constants and the services the consumer calls."""

from __future__ import annotations

from typing import Any

from messaging import events

# Opcodes (Discord's numbering).
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
RESUME = 6
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Close codes (Discord's numbering).
CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SEQ = 4007
CLOSE_RATE_LIMITED = 4008
CLOSE_SESSION_TIMED_OUT = 4009


def authenticate(*, token: Any, scope_user: Any, cookie_auth: bool) -> Any:
    """The user a new gateway session acts as, or None."""
    if cookie_auth and scope_user is not None and scope_user.is_authenticated:
        return scope_user if scope_user.is_active else None
    return None


def ready_state(user: Any, session_id: str) -> tuple[dict[str, Any], list[str]]:
    """The READY payload and the groups the session listens to."""
    from accounts.services import serialize_user

    ready = {"v": 1, "session_id": session_id, "user": serialize_user(user)}
    return ready, [events.user_group(user.id)]
