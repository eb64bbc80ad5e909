"""A guild with a text channel, two members who can talk, and one who cannot see it."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from guilds.permissions import Permissions as P
from tests.worlds import local_world


@pytest.fixture
def api():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def world(make_user):
    w = local_world(
        make_user,
        guild="Chat",
        members=("bob", "carol"),
        roles={"outsiders": None},
        member_roles={"carol": "outsiders"},
        deny={("general", "outsiders"): P.VIEW_CHANNEL},
    )
    w.outsiders = w.roles["outsiders"]
    return w


@pytest.fixture
def drop_federation():
    """Call it to go on as a node without the federation adapter: no port implementation
    registered (docs/architecture.md, "Ports"). The adapter's registration comes back after."""
    from accounts.ports import register_remote_keys
    from e2e.ports import register_remote_devices
    from federation.apps import register_ports
    from messaging.ports import register_remote_dms
    from voice.ports import register_remote_voice

    def drop() -> None:
        for register in (
            register_remote_keys,
            register_remote_devices,
            register_remote_dms,
            register_remote_voice,
        ):
            register(None)

    yield drop
    register_ports()
