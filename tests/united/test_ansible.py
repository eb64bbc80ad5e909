"""deploy/ansible/site.yml, run as far as it can run without changing this machine: a syntax
check, then `--check --diff` against localhost over a local connection. Check mode reports what
it would change and changes nothing; the test also looks that nothing appeared. Steps that
cannot run in check mode are skipped by the playbook with a stated reason (commands, and what
needs a user, group or directory an earlier step would have made), and the test requires those
skips to be the only ones, so a step that breaks cannot hide as "skipped"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from united.config import ConfigError, load

pytestmark = pytest.mark.mode_independent

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "deploy" / "ansible"
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
VARS = {
    "united_domain": "chat.example.org",
    "united_tls": "internal",
    "united_public_ip": "203.0.113.10",
    "united_secret_key": "a-test-secret-key-that-is-long-enough-0123456789",
    "united_db_password": "TestDatabasePassword_0123",
    "united_turn_secret": "a-test-turn-secret-0123",
    "united_backup_recipient": "6Nl8b8hVnYQ3Wwz3JcJ7ZzjVnWy5d1c4yWQf9mB0xXo=",
    "united_extra_env": {"UNITED_MAX_UPLOAD_BYTES": "52428800"},
}
# What check mode skips on a host where nothing was installed yet, and why (site.yml says so
# at each step); anything else skipped is a failure.
SKIPPABLE = {
    "The release's code",  # unarchive needs the directory check mode does not create
    "The venv with the runtime dependencies at the lock's versions (as the image has)",
    "PostgreSQL role and database",  # a command
    "coturn (REST-API credentials minted by the node; relays to public addresses only)",
    "Caddy's environment (domain, TLS, the local web process)",
    "PostgreSQL, Redis, coturn and Caddy run and start at boot",  # no systemd in a container
    "The node's units run and start at boot (web migrates and runs doctor first)",
}
WATCHED = [
    Path("/etc/united"),
    Path("/opt/united"),
    Path("/var/lib/united"),
    Path("/etc/systemd/system/united-web.service"),
    Path("/etc/systemd/system/caddy.service.d/united.conf"),
]


def ansible_env(tmp_path: Path) -> dict[str, str]:
    # Everything ansible writes (its temp files, facts cache, collections) stays in tmp_path.
    return {
        "PATH": f"{PLAYBOOK_BIN.parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "ANSIBLE_HOME": str(tmp_path / "ansible"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "ansible_plugins"),
        "ANSIBLE_STDOUT_CALLBACK": "united_report",
    }


def run_playbook(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    inventory = tmp_path / "inventory.ini"
    # Debian's python3 on the host side, as on a real target: the apt module's check mode
    # needs its python3-apt.
    inventory.write_text(
        "[united]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
    )
    release = tmp_path / "united.tar.gz"
    with tarfile.open(release, "w:gz") as tar:
        tar.add(ROOT / "manage.py", arcname="manage.py")
    variables = tmp_path / "vars.yml"
    variables.write_text(yaml.safe_dump({**VARS, "united_release": str(release)}))
    return subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(inventory), "-e", f"@{variables}", *args, "site.yml"],
        cwd=ANSIBLE,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_playbook_passes_the_syntax_check(tmp_path):
    result = run_playbook(tmp_path, "--syntax-check")
    assert result.returncode == 0, result.stdout + result.stderr


def tasks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return report["tasks"]


def parse(result: subprocess.CompletedProcess) -> dict[str, Any]:
    """The report our callback prints last (warnings may come before it)."""
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(600)
def test_check_mode_on_localhost_would_install_the_node_and_changes_nothing(tmp_path):
    before = {path: path.exists() for path in WATCHED}
    result = run_playbook(tmp_path, "--check", "--diff")
    assert {path: path.exists() for path in WATCHED} == before
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = parse(result)
    assert report["stats"]["localhost"]["failures"] == 0
    ran = tasks(report)

    skipped = {name for name, host in ran.items() if host["status"] == "skipped"}
    assert skipped <= SKIPPABLE, skipped - SKIPPABLE
    # Every other step ran, in check mode, against this host.
    for name in (
        "Debian packages",
        "The node's system user",
        "Directories (code read-only to the node, data and backups its own)",
        "The node's environment (the variables of deploy/.env.example)",
        "Caddy's configuration (deploy/Caddyfile, the compose stack's)",
        "The node's systemd units (deploy/systemd)",
    ):
        assert name in ran and ran[name]["status"] == "ok", name

    # The environment it would write is one the node accepts, with every value in place.
    env_task = ran["The node's environment (the variables of deploy/.env.example)"]
    (diff,) = env_task["diff"]
    env = dict(
        line.split("=", 1)
        for line in diff["after"].splitlines()
        if line and not line.startswith("#")
    )
    assert env["FEDERATION_DOMAIN"] == "chat.example.org"
    assert (
        env["DATABASE_URL"] == "postgres://united:TestDatabasePassword_0123@127.0.0.1:5432/united"
    )
    assert env["UNITED_BACKUP_TARGET"] == "/var/lib/united/backups"
    assert env["UNITED_MAX_UPLOAD_BYTES"] == "52428800"
    try:
        config = load({**env, "UNITED_DATA_DIR": str(tmp_path / "data")})
    except ConfigError as exc:  # pragma: no cover - the message is the failure
        pytest.fail(f"the node refuses the environment the playbook writes: {exc}")
    assert config.production and config.backup_target == "/var/lib/united/backups"
    assert config.voice_ice_addresses == ["203.0.113.10"]

    # The four units of deploy/systemd, as they are in the repository.
    units = ran["The node's systemd units (deploy/systemd)"]["results"]
    assert sorted(r["item"] for r in units) == [
        "united-beat",
        "united-voice",
        "united-web",
        "united-worker",
    ]
    for unit in units:
        (diff,) = unit["diff"]
        assert diff["after_header"].endswith(f"/systemd/{unit['item']}.service")
        assert diff["after"] == (ROOT / "deploy/systemd" / f"{unit['item']}.service").read_text()
    caddy = ran["Caddy's configuration (deploy/Caddyfile, the compose stack's)"]
    assert caddy["diff"][0]["after"] == (ROOT / "deploy" / "Caddyfile").read_text()


def test_the_playbook_refuses_missing_or_unsafe_variables(tmp_path):
    """A database password with a quote would break the SQL and the URL it is written into."""
    VARS_BAD = dict(VARS, united_db_password="it's-a-trap-0123456789")
    variables = tmp_path / "bad.yml"
    variables.write_text(yaml.safe_dump(VARS_BAD))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        "[united]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
    )
    result = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(inventory), "-e", f"@{variables}", "--check", "site.yml"],
        cwd=ANSIBLE,
        env=ansible_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    first = tasks(parse(result))["The required variables are set (vars.example.yml)"]
    assert first["status"] == "failed"
    assert "united_db_password" in first["assertion"]  # the rule it broke, as ansible shows it
