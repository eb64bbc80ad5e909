"""`manage.py doctor`: every configuration problem in plain words, each with its fix."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError

Check = Callable[[], tuple[str, str | None]]  # (what was checked, problem or None)


class Problem(Exception):
    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


class Caution(Exception):
    """Printed as a warning, never counted as a problem: the node works regardless."""

    def __init__(self, warning: str, fix: str) -> None:
        super().__init__(warning)
        self.warning, self.fix = warning, fix


def check_secret_key() -> str:
    if settings.CONFIG.production and settings.CONFIG.secret_key_generated:
        raise Problem(
            "UNITED_SECRET_KEY is not set, so sessions and signatures would use a public key.",
            "set UNITED_SECRET_KEY to the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`",
        )
    return (
        "secret key is set"
        if not settings.CONFIG.secret_key_generated
        else (f"secret key is generated and kept in {settings.DATA_DIR / 'secret_key'}")
    )


def check_allowed_hosts() -> str:
    hosts = settings.ALLOWED_HOSTS
    if settings.CONFIG.production and set(hosts) <= {"127.0.0.1", "localhost", "[::1]"}:
        raise Problem(
            "UNITED_ALLOWED_HOSTS only lists loopback names; visitors to your domain get 400.",
            "set UNITED_ALLOWED_HOSTS=your.domain (comma-separated for several)",
        )
    if "*" in hosts:
        raise Problem(
            "UNITED_ALLOWED_HOSTS contains '*', which allows Host header spoofing.",
            "list your real host names instead",
        )
    return f"allowed hosts: {', '.join(hosts)}"


def check_debug() -> str:
    if settings.CONFIG.production and settings.DEBUG:
        raise Problem(
            "UNITED_DEBUG is on in production; error pages would leak internals.",
            "unset UNITED_DEBUG",
        )
    return "debug is off" if not settings.DEBUG else "debug is on (embedded mode)"


def check_database() -> str:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    where = "DATABASE_URL" if settings.CONFIG.database_url else "the SQLite file"
    try:
        connection.ensure_connection()
    except Exception as exc:
        raise Problem(
            f"cannot connect to the database ({where}): {str(exc).strip().splitlines()[0]}",
            "check DATABASE_URL (host, port, user, password, database name) and that "
            "PostgreSQL is running"
            if settings.CONFIG.database_url
            else f"check that {settings.DATA_DIR} is writable",
        ) from None
    executor = MigrationExecutor(connection)
    # Applied migrations this code has never heard of: a newer release migrated this database
    # (a rollback of the code alone). Old code on a newer schema fails in ways no log explains.
    loader = executor.loader
    unknown = sorted(
        f"{app}.{name}"
        for app, name in (loader.applied_migrations or {})
        if app in loader.migrated_apps and (app, name) not in loader.disk_migrations
    )
    if unknown:
        shown = ", ".join(unknown[:8]) + (
            f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        )
        raise Problem(
            f"the database holds {len(unknown)} migration(s) this release does not have: {shown} "
            "(a newer release migrated it).",
            "run the release that migrated it, or restore a backup made with this release "
            "(docs/operations.md, Upgrades)",
        )
    plan = executor.migration_plan(loader.graph.leaf_nodes())
    if plan:
        names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise Problem(
            f"{len(plan)} database migration(s) are not applied: {shown}.",
            "run `python manage.py migrate` (after an upgrade, and after a restore from an "
            "older version)",
        )
    return f"database reachable ({connection.vendor}) and migrated"


def check_redis() -> str:
    url = settings.CONFIG.redis_url
    if not url:
        return "no Redis needed (embedded mode: in-process channel layer and jobs)"
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        raise Problem(
            f"cannot reach Redis at REDIS_URL: {exc}",
            "check REDIS_URL and that redis-server is running",
        ) from None
    finally:
        client.close()
    return "Redis reachable"


def check_storage() -> str:
    from django.core.files.storage import default_storage

    name = f"doctor/{uuid.uuid4().hex}.txt"
    try:
        saved = default_storage.save(name, ContentFile(b"ok"))
        default_storage.delete(saved)
    except Exception as exc:
        fix = (
            "check S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY and S3_SECRET_KEY"
            if settings.CONFIG.storage_backend == "s3"
            else f"make {settings.MEDIA_ROOT} writable by the node's user"
        )
        raise Problem(f"file storage is not writable: {exc}", fix) from None
    return f"file storage writable ({settings.CONFIG.storage_backend})"


def check_federation_domain() -> str:
    if not settings.FEDERATION_DOMAIN:
        raise Problem(
            "FEDERATION_DOMAIN is not set; other nodes could not address this one.",
            "set FEDERATION_DOMAIN to the public host name, e.g. chat.example.org",
        )
    return f"federation domain: {settings.FEDERATION_DOMAIN}"


TIMEDATECTL = "timedatectl"


def check_clock() -> str:
    """Other nodes refuse our signed requests when our clock is more than an hour off (and we
    refuse theirs), so a clock that is not kept by NTP is worth a warning. Not a failure: the
    node works, and many containers cannot tell."""
    from django.utils.http import http_date

    now = f"our Date header would read {http_date()}"  # the format signed requests carry
    program = shutil.which(TIMEDATECTL)
    if program is None:
        raise Caution(
            f"could not tell whether the clock is synchronised (no timedatectl); {now}.",
            "keep the clock synchronised (NTP): peers refuse signatures more than 1 hour off",
        )
    try:
        result = subprocess.run(
            [program, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Caution(
            f"could not tell whether the clock is synchronised ({exc}); {now}.",
            "keep the clock synchronised (NTP): peers refuse signatures more than 1 hour off",
        ) from None
    answer = result.stdout.strip().lower()
    if result.returncode != 0 or answer not in {"yes", "no"}:
        why = (result.stderr or result.stdout).strip().splitlines()
        raise Caution(
            f"could not tell whether the clock is synchronised "
            f"(timedatectl: {why[0] if why else result.returncode}); {now}.",
            "keep the clock synchronised (NTP): peers refuse signatures more than 1 hour off",
        )
    if answer == "no":
        raise Caution(
            f"the clock is not synchronised by NTP; {now}. Peers refuse signed requests "
            "whose Date is more than 1 hour off their clock.",
            "turn NTP on: `timedatectl set-ntp true` (or run chrony/ntpd)",
        )
    return f"clock synchronised by NTP; {now}"


def check_trusted_proxies() -> str:
    proxies = settings.UNITED_TRUSTED_PROXIES
    if not proxies:
        # Not a problem: a node reached directly has no proxy. Behind one that is not listed,
        # every member shares the proxy's address and so its per-address rate limits.
        return (
            "trusted proxies: none (X-Forwarded-For/-Proto ignored; behind a reverse proxy, "
            "set UNITED_TRUSTED_PROXIES to its address)"
        )
    return f"trusted proxies: {', '.join(proxies)} (X-Forwarded-For/-Proto believed only from them)"


def check_backups() -> str:
    cfg = settings.CONFIG
    if cfg.backup_target:
        how = "sealed to UNITED_BACKUP_RECIPIENT" if cfg.backup_recipient else "passphrase"
        return (
            f"backups every {cfg.backup_every_hours} h to {cfg.backup_target} ({how}), "
            f"keeping {cfg.backup_keep}"
        )
    if cfg.production:
        raise Caution(
            "no scheduled backups (UNITED_BACKUP_TARGET is not set).",
            "set UNITED_BACKUP_TARGET and UNITED_BACKUP_RECIPIENT (docs/operations.md, "
            '"Backups and restore"), or run `manage.py backup` from cron',
        )
    return "no scheduled backups (`manage.py backup --to DIR` makes one)"


CHECKS = [
    check_secret_key,
    check_allowed_hosts,
    check_debug,
    check_database,
    check_redis,
    check_storage,
    check_federation_domain,
    check_clock,
    check_trusted_proxies,
    check_backups,
]


class Command(BaseCommand):
    help = "Check this node's configuration and print each problem with its fix."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(
            f"UNITED doctor — {settings.UNITED_MODE} mode, data in {settings.DATA_DIR}"
        )
        problems = 0
        for check in CHECKS:
            try:
                self.stdout.write(self.style.SUCCESS("  ok       ") + check())
            except Problem as p:
                problems += 1
                self.stdout.write(self.style.ERROR("  problem  ") + p.problem)
                self.stdout.write("           fix: " + p.fix)
            except Caution as w:
                self.stdout.write(self.style.WARNING("  warning  ") + w.warning)
                self.stdout.write("           fix: " + w.fix)
        if problems:
            raise CommandError(f"{problems} problem(s) found", returncode=1)
        self.stdout.write(self.style.SUCCESS("No problems found."))
