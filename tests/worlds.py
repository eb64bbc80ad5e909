"""The worlds tests start from, built in one place.

`local_world` builds a guild in the test's own database through the guild services (the
`check_*`/`do_*` a view would call), so a world holds only what a user could have made.
`live_nodes` starts real federated nodes (tests/nodes.py) side by side and stops them all;
`join_guild` makes a user of one node a member of a guild hosted on another, as the web
client does it (by invite link, through its home node)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx

from tests.nodes import Node, login

if TYPE_CHECKING:
    from tests.federation.conftest import FedNode

PASSWORD = "correct horse battery staple"


def local_world(
    make_user: Callable[..., Any],
    *,
    guild: str,
    owner: str = "alice",
    members: Iterable[str] = (),
    channels: Iterable[str] = ("general",),
    roles: Mapping[str, int | None] | None = None,
    member_roles: Mapping[str, str] | None = None,
    deny: Mapping[tuple[str, str], int] | None = None,
) -> SimpleNamespace:
    """A guild owned by `owner` with `members` (each a new user, added in order).

    `channels` are created as text channels besides the guild's own defaults; `roles` maps a
    role's name to its permissions (None: the service's default), created in order, so the
    first ends up highest. `member_roles` gives a member a role, and `deny` denies a role
    permissions on a channel (keys: (channel name, role name)).

    The result has `owner`, `guild`, an attribute per user name, `channel` (the first channel
    created, if any), `channels` and `roles` by name."""
    from guilds.models import Channel
    from guilds.services import channels as channel_services
    from guilds.services import guilds as guild_services
    from guilds.services import members as member_services
    from guilds.services import overwrites as overwrite_services
    from guilds.services import roles as role_services

    boss = make_user(owner)
    made = guild_services.check_create_guild(boss, name=guild, description="")
    w = SimpleNamespace(owner=boss, guild=made, channels={}, roles={})
    setattr(w, owner, boss)
    for name in members:
        user = make_user(name)
        member_services.do_add_member(made, user)
        setattr(w, name, user)
    for name in channels:
        channel = channel_services.check_create_channel(boss, made.id, {"name": name, "type": 0})
        w.channels[name] = channel
    for name, permissions in (roles or {}).items():
        body = {"name": name}
        if permissions is not None:
            body["permissions"] = str(int(permissions))
        w.roles[name] = role_services.check_create_role(boss, made.id, body)
    for user_name, role_name in (member_roles or {}).items():
        user, role = getattr(w, user_name), w.roles[role_name]
        member_services.check_member_role(boss, made.id, user.id, role.id, add=True)
    for (channel_name, role_name), permissions in (deny or {}).items():
        overwrite_services.check_put_overwrite(
            boss,
            w.channels[channel_name].id,
            w.roles[role_name].id,
            {"type": 0, "deny": str(int(permissions))},
        )
    # Read back: the services' own copies predate the overwrites and positions set since.
    w.channels = {name: Channel.objects.get(id=c.id) for name, c in w.channels.items()}
    w.channel = next(iter(w.channels.values()), None)
    return w


@contextlib.contextmanager
def live_nodes(
    tmp: Path, nodes: Mapping[str, Mapping[str, str]] | Iterable[str]
) -> Iterator[list[FedNode]]:
    """Start federated nodes side by side (each name's extra environment on top of FED_ENV),
    in the order named; every node that started is stopped on the way out, also when another
    failed to start."""
    from tests.federation.conftest import FED_ENV, FedNode

    envs = dict(nodes) if isinstance(nodes, Mapping) else {name: {} for name in nodes}
    started: list[FedNode] = []

    def start(name: str) -> FedNode:
        fed = FedNode(Node(name, tmp / name, extra_env={**FED_ENV, **envs[name]}).start(), tmp)
        started.append(fed)
        return fed

    def stop(fed: FedNode) -> None:
        fed.stop_worker()
        fed.node.stop()

    try:
        with ThreadPoolExecutor(len(envs)) as pool:
            feds = list(pool.map(start, envs))
        yield feds
    finally:
        with ThreadPoolExecutor(max(len(started), 1)) as pool:
            list(pool.map(stop, started))


_sessions: dict[tuple[str, str, str], httpx.Cookies] = {}


@contextlib.contextmanager
def signed_in(fed: FedNode, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An HTTP session of `username` on `fed`, signed in through the login form, that sends
    the CSRF token as the web client does. A member signs in once per node: a module's many
    helpers would otherwise pass the node's per-address sign-in limit (every test request
    comes from 127.0.0.1), as a slower PostgreSQL pass did."""
    with httpx.Client(base_url=fed.url, timeout=60) as http:
        key = (fed.url, username, password)
        if key in _sessions:
            http.cookies = httpx.Cookies(_sessions[key])
        else:
            login(http, username, password)
            _sessions[key] = httpx.Cookies(http.cookies)
        http.headers["X-CSRFToken"] = http.cookies.get("csrftoken") or ""
        yield http


def join_guild(home: FedNode, username: str, invite_link: str, password: str = PASSWORD) -> None:
    """`username` of `home` asks its node to join the guild behind `invite_link`; the host
    accepts later (callers wait for what they need of the replica)."""
    with signed_in(home, username, password) as http:
        joined = http.post("/api/v1/federation/guilds/join", json={"invite": invite_link})
        assert joined.status_code == 202, joined.text
