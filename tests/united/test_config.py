from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from united.config import VARIABLES, ConfigError, load

pytestmark = pytest.mark.mode_independent

ROOT = Path(__file__).resolve().parents[2]


def test_no_environment_means_embedded(tmp_path):
    config = load({"UNITED_DATA_DIR": str(tmp_path)})
    assert config.mode == "embedded"
    assert config.database_url is None and config.redis_url is None
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    # The generated key is kept: a restart keeps everybody signed in.
    assert load({"UNITED_DATA_DIR": str(tmp_path)}).secret_key == config.secret_key


def test_database_and_redis_mean_production(tmp_path):
    config = load(
        {
            "UNITED_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://u@db/united",
            "REDIS_URL": "redis://cache:6379/0",
        }
    )
    assert config.production
    assert config.secret_key_generated  # checks.py and doctor refuse this in production


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://nowhere"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"UNITED_MODE": "cluster"}, "UNITED_MODE"),
        ({"UNITED_MODE": "production", "REDIS_URL": "redis://r/0"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://h/db"}, "REDIS_URL"),
        ({"UNITED_DEBUG": "maybe"}, "UNITED_DEBUG"),
        ({"UNITED_HOST_ID": "99"}, "UNITED_HOST_ID"),
        ({"UNITED_SECRET_KEY": "short"}, "UNITED_SECRET_KEY"),
        ({"STORAGE_BACKEND": "s3"}, "S3_BUCKET"),
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND"),
        ({"UNITED_BACKUP_TARGET": "/srv/backups"}, "UNITED_BACKUP_RECIPIENT"),
        (
            {"UNITED_BACKUP_TARGET": "ftp://x/y", "UNITED_BACKUP_PASSPHRASE": "p"},
            "UNITED_BACKUP_TARGET",
        ),
        ({"UNITED_BACKUP_RECIPIENT": "not-a-key"}, "UNITED_BACKUP_RECIPIENT"),
        ({"UNITED_BACKUP_KEEP": "0"}, "UNITED_BACKUP_KEEP"),
        ({"UNITED_BACKUP_EVERY_HOURS": "daily"}, "UNITED_BACKUP_EVERY_HOURS"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, env, names):
    with pytest.raises(ConfigError) as info:
        load({"UNITED_DATA_DIR": str(tmp_path), **env})
    assert names in str(info.value)


def test_every_variable_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    env_example = (ROOT / "deploy" / ".env.example").read_text()
    for name, _default, _meaning in VARIABLES:
        assert f"`{name}`" in readme, f"{name} missing from the README's configuration table"
        assert name in env_example, f"{name} missing from deploy/.env.example"


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "UNITED_MODE", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "postgres://nowhere"}, "DATABASE_URL"),
        (
            {
                "DATABASE_URL": "postgres://nowhere.invalid/united",
                "REDIS_URL": "redis://127.0.0.1:1/0",
                "UNITED_SECRET_KEY": "k" * 40,
            },
            "DATABASE_URL",
        ),
        ({"UNITED_MODE": "bogus"}, "UNITED_MODE"),
    ],
)
def test_bad_configuration_is_one_line_not_a_traceback(tmp_path, env, expected):
    result = _manage({"UNITED_DATA_DIR": str(tmp_path), **env}, "migrate", "--noinput")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in result.stderr


def test_unreachable_redis_is_named(tmp_path):
    from tests.services import free_port

    db = tmp_path / "x.sqlite3"
    result = _manage(
        {
            "UNITED_DATA_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{db}",
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "UNITED_MODE": "embedded",
        },
        "shell",
        "-c",
        "from django.core.cache import cache; cache.get('x')",
    )
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
