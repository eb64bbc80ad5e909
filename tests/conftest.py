from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.nodes import Node

# Property tests judge correctness, not speed: a loaded CI machine must not fail them for
# generating inputs slowly (the `too_slow` health check) or for a slow example.
hypothesis_settings.register_profile(
    "united", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("united")


def pytest_report_header(config: pytest.Config) -> str:
    return f"UNITED mode: {settings.UNITED_MODE} ({settings.DATABASES['default']['ENGINE']})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL + Redis pass re-runs what the mode can change. Tests marked
    `mode_independent` (test vectors, pure functions, subprocesses with their own environment)
    would only repeat the embedded pass, so that pass alone runs them."""
    if settings.UNITED_MODE != "production":
        return
    keep = [item for item in items if item.get_closest_marker("mode_independent") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(
            items=[item for item in items if item.get_closest_marker("mode_independent")]
        )
        items[:] = keep


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator:
    """Start real nodes (child processes) on loopback; all are stopped after the test."""
    nodes: list[Node] = []

    def start(name: str = "a", **env: str) -> Node:
        node = Node(name, tmp_path / name, extra_env=env)
        nodes.append(node)
        return node.start()

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(username: str = "alice", password: str = "correct horse battery staple", **extra):
        return User.objects.create_user(username=username, password=password, **extra)

    return make
