from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.mode_independent

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise AssertionError(
        "neither `docker compose` nor `docker-compose` is installed "
        "(scripts/test.sh installs Debian's docker-compose)"
    )


def test_compose_file_validates_with_the_example_env():
    result = subprocess.run(
        [
            *compose_command(),
            "-f",
            "deploy/docker-compose.yml",
            "--env-file",
            "deploy/.env.example",
            "config",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = ("postgres", "redis", "meilisearch", "coturn", "minio", "web", "worker", "beat")
    for service in (*services, "proxy", "migrate"):
        assert f"  {service}:" in result.stdout
    # Several web processes behind the proxy, which the node believes forwarding headers from.
    assert "replicas: 2" in result.stdout
    assert "UNITED_TRUSTED_PROXIES: 172.30.0.10" in result.stdout
    assert "ipv4_address: 172.30.0.10" in result.stdout


def test_compose_refuses_to_start_without_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = subprocess.run(
        [*compose_command(), "-f", "deploy/docker-compose.yml", "--env-file", str(empty), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "UNITED_SECRET_KEY" in result.stderr


def test_systemd_units_run_doctor_and_use_the_venv():
    web = (ROOT / "deploy/systemd/united-web.service").read_text()
    assert "manage.py doctor" in web and "-m united.serve" in web
    for unit in ("united-worker.service", "united-beat.service"):
        text = (ROOT / "deploy/systemd" / unit).read_text()
        assert "/opt/united/.venv/bin/celery -A united" in text
