"""Domain events: how a service tells the rest of the node what it changed.

A `do_*` service publishes each change inside its transaction with
`broadcast(group, t, d, actor=…, audit=…)`: `t` is a Discord-style event name (`USER_UPDATE`,
`MESSAGE_CREATE`, …), `d` its documented payload (docs/gateway.md), `group` who may see it.
Every observer hears the typed `Published` event in the same transaction, in the order the
apps registered them in `AppConfig.ready()` (INSTALLED_APPS order):

- messaging's gateway store, first: the `GatewayEvent` row, published after commit with its id
  (messaging.gateway.store_event), so a client never hears of a change that was rolled back, a
  consumer that reacts by reading the database finds the row, and a session that missed the
  publish (socket down, Redis blip) gets it from the store on RESUME or its next heartbeat;
- messaging's search index (its job row);
- moderation's audit log (the entry an event's `audit` describes, chained and signed);
- federation (outbox rows to other nodes); voice (a member who left leaves voice too).

This module is the bottom layer's: it imports no app, and every app may import it. Delivery
after commit crosses processes on the event bus (united/bus.py) in production; in the embedded
mode it goes to the process's receivers (the gateway hub, registered by messaging).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction

from united import bus
from united.audit import Audit

logger = logging.getLogger(__name__)

DISPATCH = "gateway.dispatch"


def user_group(user_id: int) -> str:
    """Every gateway session of one user."""
    return f"user.{user_id}"


def guild_group(guild_id: int) -> str:
    """Every gateway session of a guild's members (events carry `guild_id`/`channel_id`;
    the consumer drops what the session may not see)."""
    return f"guild.{guild_id}"


Receiver = Callable[[str, dict[str, Any]], None]
_receivers: list[Receiver] = []


def receive_locally(receiver: Receiver) -> None:
    """Hear every message sent after commit, in this process, when there is no bus (the
    embedded mode): the gateway hub registers here, as its listener thread does on the bus."""
    if receiver not in _receivers:
        _receivers.append(receiver)


def _hand_over(group: str, message: dict[str, Any]) -> None:
    for receiver in list(_receivers):
        receiver(group, message)


def publish(group: str, t: str, d: dict[str, Any], event_id: int | None = None) -> None:
    """Send now (after commit). Tests replace this to capture what services publish."""
    _send(group, {"type": DISPATCH, "t": t, "d": d, "event_id": event_id})


def _send(group: str, message: dict[str, Any]) -> None:
    if not bus.enabled():
        _hand_over(group, message)
        return
    try:
        bus.publish(group, message)
    except Exception:
        # A realtime hiccup must not undo a committed write: sessions catch up from the
        # stored event on their next heartbeat, and RESUME replays it.
        logger.warning("could not publish %s to %s", message.get("t"), group, exc_info=True)


async def apublish(group: str, t: str, d: dict[str, Any]) -> None:
    """`publish` for code already on an event loop (the voice worker's subscriber): an
    ephemeral event, sent now."""
    message = {"type": DISPATCH, "t": t, "d": d, "event_id": None}
    if not bus.enabled():
        _hand_over(group, message)
        return
    try:
        await bus.apublish(group, message)
    except Exception:
        logger.warning("could not publish %s to %s", t, group, exc_info=True)


class DomainEvent(Protocol):
    """A state change of a service, as its subscribers (the gateway store, federation, search,
    the audit log, voice) hear it inside the change's transaction. `t` names the change
    (MESSAGE_CREATE, MESSAGE_REACTION_ADD, GUILD_MEMBER_ADD, GUILD_BAN_ADD, CHANNEL_UPDATE,
    VOICE_STATE_UPDATE…, docs/gateway.md) and `d` is its documented payload; `group` says who
    may see it."""

    @property
    def group(self) -> str: ...
    @property
    def t(self) -> str: ...
    @property
    def d(self) -> dict[str, Any]: ...
    @property
    def actor_id(self) -> int | None:
        """The user who made the change, None for the node itself."""

    @property
    def origin(self) -> str | None:
        """None: made on this node; else the domain of the node whose change this mirrors."""

    @property
    def audit(self) -> Audit | None:
        """The moderation log entry this change makes, if it makes one."""


@dataclass(frozen=True)
class Published:
    """The DomainEvent every `broadcast` makes, and who made the change. `actor_id` is the acting
    user's id as the `do_*` that published it was told, or None when the node itself acted (a
    sweep, a mirrored change of another node); never guessed from a request, so a change made
    in the admin, by a job or by a command is attributed like one made through the API.
    `origin` is None for a change made on this node, else the domain of the remote node whose
    change this node is mirroring (set by `origin()` around federation's apply code), so an
    observer can tell a local change from a copy and never send a copy back where it came
    from. `audit` is the entry the change writes to its guild's moderation log, by `actor_id`
    (moderation's observer appends it), or None."""

    group: str
    t: str
    d: dict[str, Any]
    actor_id: int | None
    origin: str | None = None
    audit: Audit | None = None


_origin: contextvars.ContextVar[str | None] = contextvars.ContextVar("events_origin", default=None)


@contextlib.contextmanager
def origin(domain: str) -> Iterator[None]:
    """Every event published inside is a copy of a change made on the node `domain`. Set in
    one place only: federation.mirror.context.applying(), around what a guild's host sent
    (a scope rather than a keyword on every do_* that a mirrored change may pass through:
    a message, its pin, reactions, members, bans, voice states)."""
    token = _origin.set(domain)
    try:
        yield
    finally:
        _origin.reset(token)


def current_origin() -> str | None:
    """The remote node whose change is being applied here, or None (a local change)."""
    return _origin.get()


Observer = Callable[[Published], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> None:
    """Hear every published event inside the transaction of its change, after the observers
    registered before (the gateway store registers first, so its row exists for the others)."""
    if observer not in _observers:
        _observers.append(observer)


def unobserve(observer: Observer) -> None:
    if observer in _observers:
        _observers.remove(observer)


def actor_id(actor: Any) -> int | None:
    """A user (or a user's id) as an event's actor; None stands for the node itself."""
    if actor is None or isinstance(actor, int):
        return actor
    return int(actor.pk)


def broadcast(
    group: str, t: str, d: dict[str, Any], *, actor: Any = None, audit: Audit | None = None
) -> None:
    """Publish a change inside its transaction: every observer hears it now, with its actor
    (None: the node itself), its origin (`current_origin()`) and its audit entry, if any.
    An observer's error is the change's error: the transaction rolls back whole, so the
    change, its stored event, its outbox rows and its audit entry exist together or not at
    all."""
    published = Published(group, t, d, actor_id(actor), _origin.get(), audit)
    for observer in list(_observers):
        observer(published)


def broadcast_ephemeral(group: str, t: str, d: dict[str, Any]) -> None:
    """For events that are worthless later (typing, presence): not stored, never replayed,
    heard by no observer."""
    # robust (here and below): the change is committed whatever happens to its realtime echo
    # (sessions catch up from the stored event); a failure must not become the request's error.
    transaction.on_commit(lambda: publish(group, t, d), robust=True)


REVOKE_GUILD = "gateway.revoke_guild"


def revoke_guild_access(user_id: int, guild_id: int) -> None:
    """After a ban or kick: every live session of the user stops following the guild at once
    (an internal message to the consumers, not a dispatch; the client hears GUILD_DELETE)."""
    message = {"type": REVOKE_GUILD, "guild_id": guild_id}
    transaction.on_commit(lambda: _send(user_group(user_id), message), robust=True)


DISCONNECT = "gateway.disconnect"


def disconnect_user(user_id: int) -> None:
    """After the account is deactivated: close every live gateway socket of the user."""
    transaction.on_commit(lambda: _send(user_group(user_id), {"type": DISCONNECT}), robust=True)


END_AUTH_SESSION = "gateway.end_auth_session"


def end_auth_session(user_id: int, auth_session_id: int) -> None:
    """After a sign-out, a password change or a revoked session: the sockets opened with that
    session close at once (docs/gateway.md, close code 4004)."""
    message = {"type": END_AUTH_SESSION, "auth_session": str(auth_session_id)}
    transaction.on_commit(lambda: _send(user_group(user_id), message), robust=True)


GUILD_CHANGED = "gateway.guild_changed"


def guild_changed(guild_id: int) -> None:
    """After a change that no dispatch announces but that the gateway holds in memory for the
    guild (its automod rules): every process drops what it holds and reads it again."""
    message = {"type": GUILD_CHANGED, "guild_id": guild_id}
    transaction.on_commit(lambda: _send(guild_group(guild_id), message), robust=True)
