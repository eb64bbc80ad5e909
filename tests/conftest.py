from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
_shared_dir_key = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    # The controller makes the directory that holds the migrated template; xdist workers
    # inherit the variable (tests/templates.py).
    # One fuzz seed per run, chosen here so xdist workers inherit it and the header shows it
    # (tests/united/test_fuzz.py); set UNITED_FUZZ_SEED to replay a run.
    if not os.environ.get("UNITED_FUZZ_SEED"):
        import secrets

        os.environ["UNITED_FUZZ_SEED"] = str(secrets.randbelow(2**32))
    if not os.environ.get("UNITED_TEST_SHARED_DIR"):
        os.environ["UNITED_TEST_SHARED_DIR"] = tempfile.mkdtemp(prefix="united-test-shared-")
        config.stash[_shared_dir_key] = os.environ["UNITED_TEST_SHARED_DIR"]


def pytest_unconfigure(config: pytest.Config) -> None:
    shared = config.stash.get(_shared_dir_key, None)
    if shared:
        shutil.rmtree(shared, ignore_errors=True)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`, done here: xdist 3.8 marks a group by renaming `item._nodeid`, which
    pytest 9 no longer reads, so its groups fall apart. A module marked `xdist_group` (live
    nodes or a browser shared by module fixtures) runs whole on one worker; every other test
    is scheduled on its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    @functools.cache
    def grouped(module: str) -> bool:
        path = root / module
        return path.is_file() and "xdist_group(" in path.read_text()

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if grouped(module) else nodeid

    return ModuleGroups(config, log)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Each test process's database starts as a copy of the suite's migrated template, so
    Django's own `migrate` finds nothing to do (tests/templates.py)."""
    from tests import templates

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        templates.copy_sqlite(Path(db["TEST"]["NAME"]))
    else:
        db.setdefault("TEST", {})["TEMPLATE"] = templates.migrated()


@pytest.fixture(scope="session")
def django_db_keepdb() -> bool:
    # Keep (do not recreate) the copy made above; each run's databases are fresh anyway: a new
    # data directory per process, a new PostgreSQL server per run.
    return True


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"UNITED mode: {settings.UNITED_MODE} ({settings.DATABASES['default']['ENGINE']})",
        f"fuzz seed: UNITED_FUZZ_SEED={os.environ['UNITED_FUZZ_SEED']}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL + Redis pass re-runs what the mode can change. Tests marked
    `mode_independent` (test vectors, pure functions, subprocesses with their own environment)
    would only repeat the embedded pass, so that pass alone runs them."""
    # Live tests (node processes, browsers) first: the longest work starts while every
    # worker is free, instead of lengthening the tail of a parallel run.
    items.sort(key=lambda item: item.get_closest_marker("live") is None)
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
    with ThreadPoolExecutor(max(len(nodes), 1)) as pool:  # stopping is mostly waiting
        list(pool.map(Node.stop, nodes))


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(username: str = "alice", password: str = "correct horse battery staple", **extra):
        return User.objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Every test client request comes from 127.0.0.1, so per-address rate-limit counters
    (accounts/services/ratelimit.py) would otherwise add up across the tests of a worker."""
    from tests import ratelimits

    ratelimits.reset()
