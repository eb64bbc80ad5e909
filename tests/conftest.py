from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.nodes import Node


def pytest_report_header(config: pytest.Config) -> str:
    return f"UNITED mode: {settings.UNITED_MODE} ({settings.DATABASES['default']['ENGINE']})"


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
