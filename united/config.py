"""The node's configuration, read once from the environment.

Every variable the node understands is listed here with its default, and the README's
configuration table is written from the same list. Bad values raise `ConfigError`, whose
message names the variable, so a typo surfaces as one readable line instead of a traceback
from deep inside Django.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


# What one member may do, as (count, window in seconds); united/ratelimit.py enforces them.
# `<action>.channel` is per member per channel, `<action>.user` per member across the node,
# a bare action per member. Sends follow Discord's 5 per 5 s per channel; the node-wide
# buckets leave room for a bot that posts in several channels.
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "message.channel": (5, 5),
    "message.user": (30, 10),
    "edit.channel": (5, 5),
    "edit.user": (20, 10),
    "reaction.channel": (10, 5),
    "reaction.user": (30, 10),
    "dm.new": (10, 600),
    "join": (10, 600),
    "invite": (20, 600),
    "report": (10, 600),
    # Incoming webhooks (bots/webhooks.py), Discord's figures: per webhook, and per channel
    # over all of its webhooks.
    "webhook": (5, 2),
    "webhook.channel": (30, 60),
    # Encrypted channels (e2e/mls.py): KeyPackage uploads per member; claims of other devices'
    # KeyPackages (each drains a one-time stock, so bounded per channel and per member);
    # commits and proposals. Application messages count as messages.
    "mls.keys": (10, 60),
    "mls.claim.channel": (20, 60),
    "mls.claim.user": (60, 60),
    "mls.handshake.channel": (30, 60),
    "mls.handshake.user": (120, 60),
    # Federation inbox POSTs (federation/inbox.py): per client address before the signature is
    # checked, so a forged flood costs a cache lookup; per verified signing domain after it.
    # Generous for a real peer: a large instance delivering a burst stays under them.
    "inbox.address": (1200, 60),
    "inbox.domain": (600, 60),
}


@dataclass(frozen=True)
class Config:
    mode: str
    data_dir: Path
    secret_key: str
    secret_key_generated: bool
    debug: bool
    allowed_hosts: list[str]
    database_url: str | None
    redis_url: str | None
    storage_backend: str
    s3_endpoint: str | None
    s3_bucket: str | None
    s3_access_key: str | None
    s3_secret_key: str | None
    s3_region: str | None
    s3_path_style: bool
    meili_url: str | None
    meili_key: str | None
    federation_domain: str
    search_backend: str = "sqlite"
    search_language: str = "simple"
    turn_urls: list[str] = field(default_factory=list)
    turn_secret: str | None = None
    turn_ttl: int = 6 * 3600
    voice_worker_addr: tuple[str, int] = ("127.0.0.1", 7881)
    voice_ice_addresses: list[str] = field(default_factory=list)
    voice_max_participants: int = 25
    # ((packets per second, packet burst), (bytes per second, byte burst)) per sender.
    voice_audio_budget: tuple[tuple[int, int], tuple[int, int]] = ((100, 200), (65536, 131072))
    inbox_share: int = 25
    voice_video_budget: tuple[tuple[int, int], tuple[int, int]] = (
        (1000, 2000),
        (1048576, 2097152),
    )
    host_id: int = 0
    log_level: str = "INFO"
    https: bool = False
    log_ips: bool = False
    registration: str = "open"
    federation_scheme: str = "https"
    federation_allow_private: tuple[str, ...] = ()
    vapid_subject: str = ""
    push_allow_private: tuple[str, ...] = ()
    bots_allow_private: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    max_upload_bytes: int = 100 * 1024 * 1024
    user_quota_bytes: int = 5 * 1024 * 1024 * 1024
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(RATE_LIMITS))
    backup_target: str | None = None
    backup_every_hours: int = 24
    backup_keep: int = 7
    backup_passphrase: str | None = None
    backup_recipient: str | None = None
    backup_s3_endpoint: str | None = None
    backup_s3_access_key: str | None = None
    backup_s3_secret_key: str | None = None
    backup_s3_region: str | None = None

    @property
    def embedded(self) -> bool:
        return self.mode == "embedded"

    @property
    def production(self) -> bool:
        return self.mode == "production"


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _int(env: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is out of range ({lo}..{hi})")
    return value


def _url(env: dict[str, str], name: str, schemes: set[str]) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ConfigError(f"{name}={raw!r}: the scheme must be one of {allowed}")
    if not parts.hostname and not (parts.scheme.startswith("unix") or parts.path):
        raise ConfigError(f"{name}={raw!r} has no host")
    return raw


def _secret_key(env: dict[str, str], data_dir: Path, mode: str) -> tuple[str, bool]:
    key = env.get("UNITED_SECRET_KEY", "").strip()
    if key:
        if len(key) < 32:
            raise ConfigError("UNITED_SECRET_KEY is shorter than 32 characters")
        return key, False
    if mode == "production":
        # checks.py turns this into a loud error; keep settings importable for `doctor`.
        return "unset-production-secret-key-" + "x" * 32, True
    # Embedded: generate once and keep it in the data directory so sessions survive restarts.
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip(), True
    import secrets

    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key, True


def _host_port(env: dict[str, str], name: str, default: tuple[str, int]) -> tuple[str, int]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}={raw!r}: expected host:port")
    return host.strip("[]"), int(port)


def voice_port_for(web_port: int) -> int:
    """The voice worker's default control port, derived from the node's web port so that
    nodes run side by side (README: different PORT and UNITED_DATA_DIR) each get their own:
    119 below it, which keeps 7881 for the default PORT 8000, or 119 above a low web port."""
    return web_port - 119 if web_port - 119 >= 1024 else web_port + 119


def _rate_burst(env: dict[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """`rate/burst` (per second / at most at once), e.g. `100/200`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    rate, _, burst = raw.partition("/")
    try:
        value = (int(rate), int(burst))
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected rate/burst, e.g. 100/200") from None
    if not (1 <= value[0] <= value[1] <= 1 << 30):
        raise ConfigError(f"{name}={raw!r}: need 1 <= rate <= burst <= 2^30")
    return value


def _rate_limits(env: dict[str, str]) -> dict[str, tuple[int, float]]:
    """RATE_LIMITS with UNITED_RATE_LIMITS' overrides: `message.channel=5/5,join=10/600`."""
    limits = dict(RATE_LIMITS)
    for item in env.get("UNITED_RATE_LIMITS", "").split(","):
        if not item.strip():
            continue
        name, _, spec = item.partition("=")
        name = name.strip()
        count, _, seconds = spec.partition("/")
        if name not in RATE_LIMITS:
            known = ", ".join(sorted(RATE_LIMITS))
            raise ConfigError(f"UNITED_RATE_LIMITS: unknown limit {name!r} (known: {known})")
        try:
            value = (int(count), float(seconds))
        except ValueError:
            value = (0, 0.0)
        if not (1 <= value[0] <= 1_000_000 and 0.001 <= value[1] <= 86400):
            raise ConfigError(
                f"UNITED_RATE_LIMITS: {item.strip()!r} is not count/seconds "
                "(1..1000000 per 0.001..86400 s)"
            )
        limits[name] = value
    return limits


def load(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    database_url = _url(env, "DATABASE_URL", {"postgres", "postgresql", "sqlite"})
    redis_url = _url(env, "REDIS_URL", {"redis", "rediss", "unix"})
    if database_url and urlsplit(database_url).scheme.startswith("postgres"):
        if not urlsplit(database_url).path.strip("/"):
            raise ConfigError(f"DATABASE_URL={database_url!r} names no database (add /dbname)")

    mode = env.get("UNITED_MODE", "").strip().lower()
    if not mode:
        mode = "production" if (database_url or redis_url) else "embedded"
    if mode not in {"embedded", "production"}:
        raise ConfigError(f"UNITED_MODE={mode!r}: use embedded or production")
    if mode == "production":
        if not database_url:
            raise ConfigError("DATABASE_URL is required in production mode (postgres://…)")
        if not redis_url:
            raise ConfigError("REDIS_URL is required in production mode (redis://…)")

    data_dir = Path(env.get("UNITED_DATA_DIR", "") or BASE_DIR / "data").expanduser().resolve()
    secret_key, generated = _secret_key(env, data_dir, mode)

    storage_backend = env.get("STORAGE_BACKEND", "local").strip().lower() or "local"
    if storage_backend not in {"local", "s3"}:
        raise ConfigError(f"STORAGE_BACKEND={storage_backend!r}: use local or s3")
    s3 = {
        k: env.get(k, "").strip() or None for k in ("S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY")
    }
    if storage_backend == "s3":
        missing = [k for k, v in s3.items() if not v]
        if missing:
            raise ConfigError(f"STORAGE_BACKEND=s3 needs {', '.join(missing)}")

    hosts_raw = env.get("UNITED_ALLOWED_HOSTS", "")
    allowed_hosts = [h.strip() for h in hosts_raw.split(",") if h.strip()]
    federation_domain = env.get("FEDERATION_DOMAIN", "").strip().lower()
    if not allowed_hosts:
        allowed_hosts = ["127.0.0.1", "localhost", "[::1]"]
        if federation_domain:
            allowed_hosts.append(federation_domain)
    if not federation_domain:
        port = env.get("PORT", "8000").strip() or "8000"
        federation_domain = f"127.0.0.1:{port}" if mode == "embedded" else ""

    federation_scheme = env.get("FEDERATION_SCHEME", "https").strip().lower() or "https"
    if federation_scheme not in {"http", "https"}:
        raise ConfigError(f"FEDERATION_SCHEME={federation_scheme!r}: use https or http")
    allow_private = tuple(
        c.strip() for c in env.get("FEDERATION_ALLOW_PRIVATE", "").split(",") if c.strip()
    )
    for cidr in allow_private:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"FEDERATION_ALLOW_PRIVATE: {cidr!r} is not an address or CIDR block"
            ) from None

    push_allow_private = tuple(
        c.strip() for c in env.get("UNITED_PUSH_ALLOW_PRIVATE", "").split(",") if c.strip()
    )
    for cidr in push_allow_private:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"UNITED_PUSH_ALLOW_PRIVATE: {cidr!r} is not an address or CIDR block"
            ) from None
    bots_allow_private = tuple(
        c.strip() for c in env.get("UNITED_BOTS_ALLOW_PRIVATE", "").split(",") if c.strip()
    )
    for cidr in bots_allow_private:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"UNITED_BOTS_ALLOW_PRIVATE: {cidr!r} is not an address or CIDR block"
            ) from None
    # RFC 8292 asks for a contact the push service can reach the operator at: mailto: or https:.
    vapid_subject = env.get("UNITED_VAPID_SUBJECT", "").strip()
    if vapid_subject and not vapid_subject.startswith(("mailto:", "https://")):
        raise ConfigError(
            f"UNITED_VAPID_SUBJECT={vapid_subject!r}: use a mailto: address or an https:// URL"
        )
    if not vapid_subject:
        vapid_subject = f"https://{federation_domain}"

    trusted_proxies = tuple(
        c.strip() for c in env.get("UNITED_TRUSTED_PROXIES", "").split(",") if c.strip()
    )
    for cidr in trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"UNITED_TRUSTED_PROXIES: {cidr!r} is not an address or CIDR block"
            ) from None

    log_level = env.get("UNITED_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"UNITED_LOG_LEVEL={log_level!r}: use DEBUG, INFO, WARNING or ERROR")

    meili_url = _url(env, "MEILI_URL", {"http", "https"})
    is_postgres = bool(database_url and urlsplit(database_url).scheme.startswith("postgres"))
    search_backend = env.get("UNITED_SEARCH_BACKEND", "").strip().lower()
    if not search_backend:
        search_backend = "meili" if meili_url else "postgres" if is_postgres else "sqlite"
    if search_backend not in {"sqlite", "postgres", "meili"}:
        raise ConfigError(
            f"UNITED_SEARCH_BACKEND={search_backend!r}: use sqlite, postgres or meili"
        )
    if search_backend == "meili" and not meili_url:
        raise ConfigError("UNITED_SEARCH_BACKEND=meili needs MEILI_URL")
    if search_backend == "postgres" and not is_postgres:
        raise ConfigError("UNITED_SEARCH_BACKEND=postgres needs a postgres:// DATABASE_URL")
    if search_backend == "sqlite" and is_postgres:
        raise ConfigError("UNITED_SEARCH_BACKEND=sqlite needs the SQLite database")
    search_language = env.get("UNITED_SEARCH_LANGUAGE", "simple").strip().lower() or "simple"
    if not re.fullmatch(r"[a-z_]{1,63}", search_language):
        raise ConfigError(f"UNITED_SEARCH_LANGUAGE={search_language!r} is not a configuration name")

    registration = env.get("UNITED_REGISTRATION", "open").strip().lower() or "open"
    if registration not in {"open", "invite", "closed"}:
        raise ConfigError(f"UNITED_REGISTRATION={registration!r}: use open, invite or closed")

    backup_target = env.get("UNITED_BACKUP_TARGET", "").strip() or None
    if backup_target and "://" in backup_target and not backup_target.startswith("s3://"):
        raise ConfigError(
            f"UNITED_BACKUP_TARGET={backup_target!r}: use a directory path or s3://bucket/prefix"
        )
    backup_passphrase = env.get("UNITED_BACKUP_PASSPHRASE", "") or None
    backup_recipient = env.get("UNITED_BACKUP_RECIPIENT", "").strip() or None
    if backup_recipient:
        import base64
        import binascii

        try:
            if len(base64.b64decode(backup_recipient, validate=True)) != 32:
                raise ValueError
        except (ValueError, binascii.Error):
            raise ConfigError(
                "UNITED_BACKUP_RECIPIENT is not a public key (the base64 line "
                "`manage.py backup --new-keypair FILE` prints)"
            ) from None
    if backup_target and not (backup_passphrase or backup_recipient):
        raise ConfigError(
            "UNITED_BACKUP_TARGET needs UNITED_BACKUP_RECIPIENT (a public key) or "
            "UNITED_BACKUP_PASSPHRASE to encrypt the backups with"
        )

    return Config(
        mode=mode,
        data_dir=data_dir,
        secret_key=secret_key,
        secret_key_generated=generated,
        debug=_bool(env, "UNITED_DEBUG", False),
        allowed_hosts=allowed_hosts,
        database_url=database_url,
        redis_url=redis_url,
        storage_backend=storage_backend,
        s3_endpoint=_url(env, "S3_ENDPOINT", {"http", "https"}),
        s3_bucket=s3["S3_BUCKET"],
        s3_access_key=s3["S3_ACCESS_KEY"],
        s3_secret_key=s3["S3_SECRET_KEY"],
        s3_region=env.get("S3_REGION", "").strip() or None,
        s3_path_style=_bool(env, "S3_PATH_STYLE", True),
        meili_url=meili_url,
        meili_key=env.get("MEILI_KEY", "").strip() or None,
        federation_domain=federation_domain,
        search_backend=search_backend,
        search_language=search_language,
        turn_urls=[u.strip() for u in env.get("TURN_URLS", "").split(",") if u.strip()],
        turn_secret=env.get("TURN_SECRET", "").strip() or None,
        turn_ttl=_int(env, "TURN_CREDENTIAL_TTL", 6 * 3600, 60, 7 * 86400),
        voice_worker_addr=_host_port(
            env,
            "VOICE_WORKER_ADDR",
            ("127.0.0.1", voice_port_for(_int(env, "PORT", 8000, 1, 65535))),
        ),
        voice_ice_addresses=[
            a.strip() for a in env.get("VOICE_ICE_ADDRESSES", "").split(",") if a.strip()
        ],
        voice_max_participants=_int(env, "VOICE_MAX_PARTICIPANTS", 25, 2, 99),
        voice_audio_budget=(
            _rate_burst(env, "UNITED_VOICE_AUDIO_PACKETS", (100, 200)),
            _rate_burst(env, "UNITED_VOICE_AUDIO_BYTES", (65536, 131072)),
        ),
        inbox_share=_int(env, "UNITED_INBOX_SHARE", 25, 5, 100),
        voice_video_budget=(
            _rate_burst(env, "UNITED_VOICE_VIDEO_PACKETS", (1000, 2000)),
            _rate_burst(env, "UNITED_VOICE_VIDEO_BYTES", (1048576, 2097152)),
        ),
        host_id=_int(env, "UNITED_HOST_ID", 0, 0, 15),
        log_level=log_level,
        https=_bool(env, "UNITED_HTTPS", mode == "production"),
        log_ips=_bool(env, "UNITED_LOG_IPS", False),
        registration=registration,
        federation_scheme=federation_scheme,
        federation_allow_private=allow_private,
        vapid_subject=vapid_subject,
        push_allow_private=push_allow_private,
        bots_allow_private=bots_allow_private,
        trusted_proxies=trusted_proxies,
        max_upload_bytes=_int(env, "UNITED_MAX_UPLOAD_BYTES", 100 * 1024 * 1024, 1, 1 << 40),
        user_quota_bytes=_int(env, "UNITED_USER_QUOTA_BYTES", 5 * 1024 * 1024 * 1024, 0, 1 << 50),
        rate_limits=_rate_limits(env),
        backup_target=backup_target,
        backup_every_hours=_int(env, "UNITED_BACKUP_EVERY_HOURS", 24, 1, 24 * 31),
        backup_keep=_int(env, "UNITED_BACKUP_KEEP", 7, 1, 1000),
        backup_passphrase=backup_passphrase,
        backup_recipient=backup_recipient,
        backup_s3_endpoint=_url(env, "UNITED_BACKUP_S3_ENDPOINT", {"http", "https"}),
        backup_s3_access_key=env.get("UNITED_BACKUP_S3_ACCESS_KEY", "").strip() or None,
        backup_s3_secret_key=env.get("UNITED_BACKUP_S3_SECRET_KEY", "").strip() or None,
        backup_s3_region=env.get("UNITED_BACKUP_S3_REGION", "").strip() or None,
    )


# Every variable, its default and what it does. README.md's table and `.env.example` follow it.
VARIABLES: list[tuple[str, str, str]] = [
    (
        "UNITED_MODE",
        "embedded, or production when DATABASE_URL/REDIS_URL is set",
        "embedded: SQLite + in-process layer and jobs; production: PostgreSQL + Redis + Celery",
    ),
    ("UNITED_DATA_DIR", "./data", "SQLite file, local media, node keys, generated secret key"),
    ("PORT", "8000", "port `make run` serves on"),
    ("HOST", "127.0.0.1", "address `make run` binds"),
    (
        "UNITED_SECRET_KEY",
        "generated into the data dir (embedded); required in production",
        "Django's secret key, at least 32 characters",
    ),
    (
        "UNITED_ALLOWED_HOSTS",
        "127.0.0.1,localhost,[::1] (+ FEDERATION_DOMAIN)",
        "comma-separated host names the node answers to",
    ),
    ("UNITED_DEBUG", "false", "Django debug pages; never in production"),
    (
        "UNITED_HTTPS",
        "true in production, false in embedded",
        "served over HTTPS (behind a proxy): secure cookies; the proxy must be in "
        "UNITED_TRUSTED_PROXIES for X-Forwarded-Proto to count",
    ),
    ("UNITED_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    (
        "UNITED_LOG_IPS",
        "false",
        "store client IP addresses in the auth audit log (the privacy manifest says so when on)",
    ),
    (
        "UNITED_TRUSTED_PROXIES",
        "unset (none)",
        "comma-separated addresses/CIDRs of your reverse proxies; X-Forwarded-For and "
        "X-Forwarded-Proto are believed only from them",
    ),
    (
        "UNITED_REGISTRATION",
        "open",
        "open, invite (an operator-issued invite code is required) or closed",
    ),
    ("UNITED_HOST_ID", "0", "0-15, distinct per machine when several run the same node (ids)"),
    ("DATABASE_URL", "unset (SQLite in the data dir)", "postgres://user:pass@host:5432/db"),
    ("REDIS_URL", "unset (in-process)", "redis://host:6379/0: channel layer, cache, Celery broker"),
    (
        "FEDERATION_DOMAIN",
        "127.0.0.1:$PORT (embedded); required in production",
        "the public host name other nodes reach this one at",
    ),
    (
        "FEDERATION_SCHEME",
        "https",
        "scheme of this node's ActivityPub ids; http only for loopback test nodes",
    ),
    (
        "FEDERATION_ALLOW_PRIVATE",
        "unset (none)",
        "comma-separated CIDRs that remote fetches may reach although private/loopback",
    ),
    (
        "UNITED_VAPID_SUBJECT",
        "https://$FEDERATION_DOMAIN",
        "contact (mailto: or https:) named in the VAPID token of every Web Push the node sends",
    ),
    (
        "UNITED_PUSH_ALLOW_PRIVATE",
        "unset (none)",
        "comma-separated CIDRs a Web Push endpoint may be at although private/loopback (tests)",
    ),
    (
        "UNITED_BOTS_ALLOW_PRIVATE",
        "unset (none)",
        "comma-separated CIDRs an application's interactions endpoint URL may be at although "
        "private/loopback (tests, a bot on the node's own host)",
    ),
    ("STORAGE_BACKEND", "local", "local (content-addressed under the data dir) or s3"),
    ("S3_ENDPOINT", "unset (AWS)", "endpoint URL of an S3-compatible server (MinIO, Garage…)"),
    ("S3_BUCKET", "unset", "bucket name (required with STORAGE_BACKEND=s3)"),
    ("S3_ACCESS_KEY", "unset", "access key (required with STORAGE_BACKEND=s3)"),
    ("S3_SECRET_KEY", "unset", "secret key (required with STORAGE_BACKEND=s3)"),
    ("S3_REGION", "unset", "region name, if the server wants one"),
    ("S3_PATH_STYLE", "true", "path-style addressing (MinIO, moto) instead of virtual hosts"),
    (
        "UNITED_MAX_UPLOAD_BYTES",
        "104857600 (100 MiB)",
        "largest file one upload may carry; bigger ones get 413",
    ),
    (
        "UNITED_USER_QUOTA_BYTES",
        "5368709120 (5 GiB)",
        "total bytes one member may have uploaded; 0 turns uploads off",
    ),
    (
        "UNITED_RATE_LIMITS",
        "unset (the defaults in docs/security.md)",
        "overrides of the per-member rate limits, `name=count/seconds` comma-separated, "
        "e.g. `message.channel=5/5,join=10/600`",
    ),
    ("MEILI_URL", "unset", "Meilisearch URL; unset uses the database's full-text search"),
    ("MEILI_KEY", "unset", "Meilisearch API key"),
    (
        "UNITED_SEARCH_BACKEND",
        "meili with MEILI_URL, else postgres or sqlite after the database",
        "message search engine: sqlite (FTS5), postgres (full-text) or meili",
    ),
    (
        "UNITED_SEARCH_LANGUAGE",
        "simple",
        "PostgreSQL text search configuration (simple, english, french…); reindex after a change",
    ),
    ("TURN_URLS", "unset", "comma-separated turn:/stun: URLs handed to voice clients"),
    ("TURN_SECRET", "unset", "coturn static-auth-secret for minting TURN credentials"),
    (
        "TURN_CREDENTIAL_TTL",
        "21600 (6 h)",
        "seconds a minted TURN credential stays valid (coturn REST-API expiry)",
    ),
    (
        "VOICE_WORKER_ADDR",
        "127.0.0.1:$PORT-119 (7881 with the default PORT; PORT+119 when PORT < 1143)",
        "host:port of the voice worker's private control socket (`manage.py voice_worker`)",
    ),
    (
        "VOICE_ICE_ADDRESSES",
        "unset (every interface but loopback)",
        "comma-separated addresses the voice worker offers as ICE host candidates",
    ),
    (
        "VOICE_MAX_PARTICIPANTS",
        "25",
        "most members in one voice channel (a channel's user limit can only lower it)",
    ),
    (
        "UNITED_INBOX_SHARE",
        "25",
        "percent of a web process's time federation inbox work may take while members use it",
    ),
    (
        "UNITED_VOICE_AUDIO_PACKETS",
        "100/200",
        "packets per second / burst one voice sender may send; the worker drops the rest",
    ),
    (
        "UNITED_VOICE_AUDIO_BYTES",
        "65536/131072",
        "RTP payload bytes per second / burst one voice sender may send (Opus peaks at 64 KiB/s)",
    ),
    (
        "UNITED_VOICE_VIDEO_PACKETS",
        "1000/2000",
        "packets per second / burst of one video track (for video, not yet offered)",
    ),
    (
        "UNITED_VOICE_VIDEO_BYTES",
        "1048576/2097152",
        "RTP payload bytes per second / burst of one video track (for video, not yet offered)",
    ),
    (
        "UNITED_BACKUP_TARGET",
        "unset (no scheduled backups)",
        "directory or s3://bucket/prefix the periodic backup job writes to (docs/operations.md)",
    ),
    (
        "UNITED_BACKUP_EVERY_HOURS",
        "24",
        "hours between scheduled backups (1..744)",
    ),
    ("UNITED_BACKUP_KEEP", "7", "scheduled backups kept in the target; older ones are deleted"),
    (
        "UNITED_BACKUP_RECIPIENT",
        "unset",
        "public key backups are sealed to (`manage.py backup --new-keypair FILE` prints it); "
        "the node can then write backups it cannot read",
    ),
    (
        "UNITED_BACKUP_PASSPHRASE",
        "unset",
        "passphrase backups are encrypted with (Argon2id), instead of a recipient key",
    ),
    ("UNITED_BACKUP_S3_ENDPOINT", "S3_ENDPOINT", "endpoint URL of an s3:// backup target"),
    ("UNITED_BACKUP_S3_ACCESS_KEY", "S3_ACCESS_KEY", "access key of an s3:// backup target"),
    ("UNITED_BACKUP_S3_SECRET_KEY", "S3_SECRET_KEY", "secret key of an s3:// backup target"),
    ("UNITED_BACKUP_S3_REGION", "S3_REGION", "region of an s3:// backup target"),
]
