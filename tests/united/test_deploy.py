"""The deployment files, checked as far as a machine without a Docker daemon allows: the
compose file validated by Debian's docker-compose (its compose-spec schema and interpolation),
then read as YAML for what a schema cannot say: the node's containers get only variables the
node reads, every mounted or built file exists, every service has a healthcheck and a restart
policy, no secret is written in it, and the image is multi-stage, slim and non-root. The
Caddyfile is adapted by Debian's caddy; the bucket step runs against a real S3 server (moto)."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from united.config import VARIABLES

pytestmark = pytest.mark.mode_independent

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = (
    "postgres",
    "redis",
    "meilisearch",
    "minio",
    "coturn",
    "migrate",
    "web",
    "worker",
    "beat",
    "voice",
    "proxy",
)


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


def compose_config(env_file: Path) -> subprocess.CompletedProcess:
    # Run from deploy/ with nothing of ours in the environment, as an operator runs it.
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "config"],
        cwd=DEPLOY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def raw_compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def node_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run our image (built from deploy/Dockerfile)."""
    return {name: s for name, s in compose["services"].items() if "build" in s}


def variables_the_node_reads() -> set[str]:
    """Every name united/config.py looks up in the environment: its VARIABLES table and every
    `env.get("X")` / `_helper(env, "X", …)` / name in a tuple it loops over."""
    names = {name for name, _default, _meaning in VARIABLES}
    tree = ast.parse((ROOT / "united" / "config.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            args = node.args
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "env"
                and args
                and isinstance(args[0], ast.Constant)
            ):
                names.add(args[0].value)
            elif (
                len(args) > 1
                and isinstance(args[0], ast.Name)
                and args[0].id == "env"
                and isinstance(args[1], ast.Constant)
            ):
                names.add(args[1].value)
    return names


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSPHRASE|_KEY$|TOKEN)", re.I)
# `${NAME}` or `${NAME:?message}`: the value comes from .env, with no default to fall back on.
FROM_ENV = re.compile(r"^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$")


def written_secrets(compose: dict[str, Any]) -> list[str]:
    """Secret values written in the file: an environment entry named like a secret whose value
    is not taken from .env (a literal, or a `:-` default), a `--…secret/password=` argument
    with a literal value, and a URL with a literal password."""
    found = []
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        for key, value in env.items():
            if SECRET_NAME.search(key) and not FROM_ENV.match(str(value)):
                found.append(f"{name}: {key}={value}")
    for text in strings(compose):
        for match in re.finditer(r"--[\w-]*(secret|password|key)[\w-]*=(\S+)", text, re.I):
            if not match.group(2).startswith("${"):
                found.append(text)
        for match in re.finditer(r"://[^:/@\s]+:(.+?)@", text):
            if not FROM_ENV.match(match.group(1)):
                found.append(text)
    return found


def test_compose_file_validates_with_the_example_env():
    result = compose_config(DEPLOY / ".env.example")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == set(SERVICES)
    # Several web processes behind the proxy, which the node believes forwarding headers from.
    assert config["services"]["web"]["deploy"]["replicas"] == 2
    proxy = config["services"]["proxy"]
    assert proxy["networks"]["default"]["ipv4_address"] == "172.30.0.10"
    for service in node_services(config).values():
        assert service["environment"]["UNITED_TRUSTED_PROXIES"] == "172.30.0.10"
    # TLS on the public ports; voice through coturn's published range, no host network.
    published = {(str(p["published"]), p.get("protocol", "tcp")) for p in proxy["ports"]}
    assert {("80", "tcp"), ("443", "tcp"), ("443", "udp")} <= published
    coturn = config["services"]["coturn"]
    assert "network_mode" not in coturn and all(
        "network_mode" not in s for s in config["services"].values()
    )
    assert "49160-49200:49160-49200/udp" in raw_compose()["services"]["coturn"]["ports"]
    turn_conf = (DEPLOY / "turnserver.conf").read_text()
    assert "min-port=49160" in turn_conf and "max-port=49200" in turn_conf
    # coturn may relay to the voice worker's address only, which is the address it offers.
    assert "--allowed-peer-ip=172.30.0.20" in coturn["command"]
    voice = config["services"]["voice"]
    assert voice["networks"]["default"]["ipv4_address"] == "172.30.0.20"
    assert voice["environment"]["VOICE_ICE_ADDRESSES"] == "172.30.0.20"


def test_compose_refuses_to_start_without_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(empty)
    assert result.returncode != 0
    assert "set " in result.stderr  # the `:?set NAME` message names what is missing


def test_the_node_containers_get_only_variables_the_node_reads():
    read = variables_the_node_reads()
    assert {"DATABASE_URL", "S3_BUCKET", "VOICE_ICE_ADDRESSES"} <= read  # the reader works
    services = node_services(raw_compose())
    assert set(services) == {"migrate", "web", "worker", "beat", "voice"}
    for name, service in services.items():
        unknown = sorted(set(service["environment"]) - read)
        assert not unknown, f"{name} sets {unknown}, which united/config.py never reads"


def test_every_file_the_stack_mounts_or_builds_from_exists():
    compose = raw_compose()
    checked = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                path = (DEPLOY / source).resolve()
                assert path.exists(), f"{name} mounts {source}, which does not exist"
                checked.append(path)
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            dockerfile = context / build["dockerfile"]
            assert dockerfile.is_file(), f"{name} builds from a missing {dockerfile}"
            for line in dockerfile.read_text().splitlines():
                words = line.split()
                if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
                    for source in words[1:-1]:
                        if source != ".":
                            assert (context / source).exists(), f"COPY {source}: missing"
                            checked.append(context / source)
        # Files a command runs from the image's /app (the repository's root).
        for text in strings(service.get("command", [])):
            for word in re.findall(r"(?<![\w/.-])[\w/-]+\.py\b", text):
                if "/" in word or word == "manage.py":
                    assert (ROOT / word).is_file(), f"{name} runs {word}, which does not exist"
                    checked.append(ROOT / word)
    assert DEPLOY / "Caddyfile" in checked and ROOT / "deploy/ensure_bucket.py" in checked


def test_every_service_has_a_healthcheck_and_a_restart_policy():
    compose = raw_compose()
    one_shot = {n for n, s in compose["services"].items() if s.get("restart") == "no"}
    assert one_shot == {"migrate"}
    for name, service in compose["services"].items():
        assert service.get("restart") in {"unless-stopped", "always", "no"}, name
        if name in one_shot:
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"
    # A one-shot step is waited for: every node service starts only after it succeeded.
    for name, service in node_services(compose).items():
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }


def test_no_secret_is_written_in_the_compose_file():
    compose = raw_compose()
    assert written_secrets(compose) == []
    # The check itself catches each way a secret could be written in.
    for mutate, expect in (
        (lambda c: c["services"]["postgres"]["environment"].update(POSTGRES_PASSWORD="hunter2"), 1),
        (lambda c: c["services"]["web"]["environment"].update(TURN_SECRET="${TURN_SECRET:-x}"), 1),
        (lambda c: c["services"]["coturn"]["command"].append("--static-auth-secret=abc"), 1),
        (
            lambda c: c["services"]["web"]["environment"].update(
                DATABASE_URL="postgres://united:pw@postgres:5432/united"
            ),
            1,
        ),
    ):
        bad = copy.deepcopy(compose)
        bad["services"]["web"]["environment"] = dict(bad["services"]["web"]["environment"])
        mutate(bad)
        assert len(written_secrets(bad)) == expect


def test_the_image_is_multi_stage_slim_and_runs_as_a_non_root_user():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) >= 3
    final = lines[stages[-1] :]
    assert "slim" in final[0]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    # Neither Node.js nor the test tools reach the final image.
    assert not any(re.search(r"\b(npm|pip install)\b", line) for line in final)
    deps = "\n".join(lines[stages[-2] : stages[-1]])
    assert "-c requirements.lock" in deps and "-r requirements.lock" not in deps
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "node_modules", "tests", "deploy/.env"} <= set(ignored)


def caddy_adapt(**env: str) -> dict[str, Any]:
    if not shutil.which("caddy"):
        raise AssertionError("caddy is not installed (scripts/test.sh installs Debian's caddy)")
    result = subprocess.run(
        ["caddy", "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def proxy_handler(config: dict[str, Any]) -> dict[str, Any]:
    (route,) = config["apps"]["http"]["servers"]["srv0"]["routes"]
    handlers = route["handle"][0]["routes"][0]["handle"]
    return next(h for h in handlers if h["handler"] == "reverse_proxy")


def test_the_caddyfile_serves_the_domain_over_tls_to_the_web_processes():
    public = caddy_adapt(FEDERATION_DOMAIN="chat.example.org", CADDY_TLS="ops@example.org")
    server = public["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    assert server["routes"][0]["match"] == [{"host": ["chat.example.org"]}]
    (policy,) = public["apps"]["tls"]["automation"]["policies"]
    assert policy["subjects"] == ["chat.example.org"]
    assert policy["issuers"][0]["module"] == "acme"
    assert policy["issuers"][0]["email"] == "ops@example.org"
    # Compose: every running web process, found by name.
    assert proxy_handler(public)["dynamic_upstreams"] == {
        "name": "web",
        "port": "8000",
        "source": "a",
    }
    assert "logs" not in server  # no access log, so no client addresses
    # A test setup: Caddy's own CA; the Ansible layout: the one local web process.
    local = caddy_adapt(
        FEDERATION_DOMAIN="localhost",
        CADDY_TLS="internal",
        CADDY_UPSTREAM="to 127.0.0.1:8000",
    )
    (policy,) = local["apps"]["tls"]["automation"]["policies"]
    assert policy["issuers"] == [{"module": "internal"}]
    assert proxy_handler(local)["upstreams"] == [{"dial": "127.0.0.1:8000"}]


def test_the_bucket_step_creates_the_media_bucket_once(tmp_path):
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.services import free_port, wait_for_port

    port = free_port()
    # moto keeps one store per process: other tests on this worker leave their buckets in it,
    # so this one's name is its own.
    bucket = f"deploy-{secrets.token_hex(6)}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        env = {
            "PATH": os.environ["PATH"],
            "UNITED_DATA_DIR": str(tmp_path),
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT": f"http://127.0.0.1:{port}",
            "S3_BUCKET": bucket,
            "S3_ACCESS_KEY": "united",
            "S3_SECRET_KEY": "a-test-secret",
        }
        runs = [
            subprocess.run(
                [sys.executable, "deploy/ensure_bucket.py"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            for _ in range(2)
        ]
        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
        assert runs[0].stdout.strip() == f"bucket {bucket} created"
        assert runs[1].stdout.strip() == f"bucket {bucket} exists"
        s3 = boto3.client(
            "s3",
            endpoint_url=env["S3_ENDPOINT"],
            aws_access_key_id="united",
            aws_secret_access_key="a-test-secret",
            region_name="us-east-1",
        )
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert names.count(bucket) == 1
    finally:
        server.stop()


def test_systemd_units_run_doctor_and_use_the_venv():
    web = (DEPLOY / "systemd/united-web.service").read_text()
    assert "manage.py doctor" in web and "-m united.serve" in web
    for unit in ("united-worker.service", "united-beat.service"):
        text = (DEPLOY / "systemd" / unit).read_text()
        assert "/opt/united/.venv/bin/celery -A united" in text


def test_coturn_starts_with_caddys_certificate_for_turn_over_tls(tmp_path):
    """deploy/coturn-start.sh, run as the container runs it (a stand-in `turnserver` on PATH
    records its arguments): with Caddy's certificate for the domain it copies certificate and
    key where the unprivileged turnserver can read them and passes both; before Caddy has one,
    it starts without TLS and says why. The compose file publishes 5349 and mounts both."""
    import stat

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "turnserver"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n')
    fake.chmod(0o755)
    storage = tmp_path / "caddy"
    tls_dir = tmp_path / "tls"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FEDERATION_DOMAIN": "chat.example.org",
        "CADDY_STORAGE": str(storage),
        "TURN_TLS_DIR": str(tls_dir),
        "ARGS_OUT": str(tmp_path / "args"),
    }

    def start() -> tuple[list[str], str]:
        run = subprocess.run(
            ["sh", str(DEPLOY / "coturn-start.sh"), "-c", "/etc/coturn/turnserver.conf"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, run.stderr
        return (tmp_path / "args").read_text().split(), run.stderr

    args, said = start()
    assert "--no-tls" in args and not any(a.startswith("--cert") for a in args)
    assert "no certificate for chat.example.org" in said
    assert args[:2] == ["-c", "/etc/coturn/turnserver.conf"] and "--proc-user=nobody" in args

    issued = storage / "certificates" / "acme-v02.api.letsencrypt.org-directory"
    (issued / "chat.example.org").mkdir(parents=True)
    (issued / "chat.example.org" / "chat.example.org.crt").write_text("CERT")
    (issued / "chat.example.org" / "chat.example.org.key").write_text("KEY")
    args, _said = start()
    assert f"--cert={tls_dir}/cert.pem" in args and f"--pkey={tls_dir}/key.pem" in args
    assert "--no-tls" not in args and "--proc-user=nobody" in args
    assert (tls_dir / "cert.pem").read_text() == "CERT"
    assert (tls_dir / "key.pem").read_text() == "KEY"
    assert stat.S_IMODE((tls_dir / "key.pem").stat().st_mode) == 0o600

    coturn = raw_compose()["services"]["coturn"]
    assert "5349:5349/tcp" in coturn["ports"]
    assert "./coturn-start.sh:/etc/coturn/start.sh:ro" in coturn["volumes"]
    assert "caddy-data:/caddy:ro" in coturn["volumes"]
    assert coturn["entrypoint"] == ["/bin/sh", "/etc/coturn/start.sh"]
