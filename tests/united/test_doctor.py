from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

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
    assert out.count("  problem  ") == 5  # the clock check may add a warning, never a problem
    assert "warning  no scheduled backups (UNITED_BACKUP_TARGET is not set)" in out
    assert "Traceback" not in result.stderr


# Unapplied migrations, named: tests/backup/test_backup.py rolls one back for real.


def test_system_checks_refuse_production_without_secret(settings):
    from dataclasses import replace

    from united.checks import configuration_checks

    settings.CONFIG = replace(settings.CONFIG, mode="production", secret_key_generated=True)
    settings.EVENT_BUS_URL = None
    settings.CELERY_TASK_ALWAYS_EAGER = True
    ids = {p.id for p in configuration_checks(None)}
    assert {"united.E001", "united.E002", "united.E003"} <= ids


def _fake_timedatectl(tmp_path: Path, script: str) -> str:
    program = tmp_path / "timedatectl"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    return str(program)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo no", "the clock is not synchronised by NTP"),
        ("echo 'System has not been booted with systemd' >&2; exit 1", "could not tell"),
        (None, "could not tell whether the clock is synchronised (no timedatectl)"),
    ],
)
def test_doctor_warns_about_the_clock_but_never_fails(
    capsys, tmp_path, monkeypatch, script, expected
):
    from united.management.commands import doctor

    program = _fake_timedatectl(tmp_path, script) if script else str(tmp_path / "absent")
    monkeypatch.setattr(doctor, "TIMEDATECTL", program)
    call_command("doctor")  # no CommandError: a warning is not a problem
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "clock" in x)
    assert "warning" in line and expected in line
    assert "our Date header would read" in line
    assert "No problems found." in out


@pytest.mark.django_db
def test_doctor_reports_a_synchronised_clock(capsys, tmp_path, monkeypatch):
    from united.management.commands import doctor

    monkeypatch.setattr(doctor, "TIMEDATECTL", _fake_timedatectl(tmp_path, "echo yes"))
    call_command("doctor")
    out = capsys.readouterr().out
    assert "ok       clock synchronised by NTP" in out


@pytest.mark.django_db(transaction=True)
def test_doctor_names_migrations_of_a_newer_release(capsys):
    """The code was rolled back but the database was not: doctor says so, and how to fix it."""
    from django.core.management.base import CommandError
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder.Migration.objects
    recorder.create(app="messaging", name="9999_from_a_newer_release")
    try:
        with pytest.raises(CommandError):
            call_command("doctor")
    finally:
        recorder.filter(name="9999_from_a_newer_release").delete()
    out = capsys.readouterr().out
    assert (
        "the database holds 1 migration(s) this release does not have: "
        "messaging.9999_from_a_newer_release (a newer release migrated it)." in out
    )
    assert "restore a backup made with this release" in out
