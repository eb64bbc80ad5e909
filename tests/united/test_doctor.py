from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_doctor_passes_on_a_healthy_node(capsys):
    call_command("doctor")
    out = capsys.readouterr().out
    assert "No problems found." in out
    assert "database reachable" in out


def test_doctor_explains_production_problems(tmp_path):
    from tests.services import free_port

    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "UNITED_MODE",
            "DJANGO_SETTINGS_MODULE",
            "UNITED_SECRET_KEY",
            "FEDERATION_DOMAIN",
        }
    }
    env.update(
        UNITED_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"postgres://u@127.0.0.1:{free_port()}/united",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    out = result.stdout
    for expected in (
        "UNITED_SECRET_KEY is not set",
        "UNITED_ALLOWED_HOSTS only lists loopback",
        "cannot connect to the database",
        "cannot reach Redis at REDIS_URL",
        "FEDERATION_DOMAIN is not set",
    ):
        assert expected in out, out
    assert out.count("fix:") == 5
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_doctor_finds_unapplied_migrations(monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("x", False)])
    with pytest.raises(CommandError):
        call_command("doctor")


def test_system_checks_refuse_production_without_secret(settings):
    from dataclasses import replace

    from united.checks import configuration_checks

    settings.CONFIG = replace(settings.CONFIG, mode="production", secret_key_generated=True)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    ids = {p.id for p in configuration_checks(None)}
    assert {"united.E001", "united.E002", "united.E003"} <= ids
