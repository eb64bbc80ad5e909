"""A node backed up while it runs, destroyed, and brought back on a fresh machine: its members
sign in with their passwords, read their messages and download their files, and a federation
peer keeps trusting it because its keys came back with it. Also restored into an empty
PostgreSQL database. `manage.py backup` and `restore` run as the operator runs them."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import services, templates
from tests.federation.conftest import FED_ENV, FedNode
from tests.nodes import ROOT, Node, login, services_mode

pytestmark = pytest.mark.live
PASSWORD = "correct horse battery staple"
FILE = b"tide tables\n" * 1000 + b"\x00\xff binary tail"


def follow(node: FedNode, username: str, acct: str) -> None:
    with httpx.Client(base_url=node.url, timeout=30) as http:
        login(http, username, PASSWORD)
        response = http.post(
            "/api/v1/federation/follow",
            json={"acct": acct},
            headers={"X-CSRFToken": http.cookies.get("csrftoken")},
        )
        assert response.status_code == 202, response.text


def inbox(node: FedNode, kind: str, domain: str) -> list[tuple]:
    return node.sql(
        "SELECT i.key_id, i.state FROM federation_inboxitem i JOIN federation_remotenode n "
        "ON n.id = i.node_id WHERE i.type = ? AND n.domain = ? ORDER BY i.id",
        (kind, domain),
    )


def key_material(url: str) -> tuple:
    actor = httpx.get(
        f"{url}/users/alice", headers={"Accept": "application/activity+json"}, timeout=30
    ).json()
    return actor["publicKey"]["publicKeyPem"], actor["assertionMethod"]


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def blob_objects(target: Path) -> dict[str, int]:
    """Every blob object in the target with its modification time (ns)."""
    return {str(p): p.stat().st_mtime_ns for p in (target / "blobs").rglob("*") if p.is_file()}


def seed(a: FedNode) -> dict:
    a.python(
        "from accounts.models import User\n"
        f"User.objects.create_user('alice', password={PASSWORD!r})\n"
        f"User.objects.create_user('bob', password={PASSWORD!r})\n"
    )
    with httpx.Client(base_url=a.url, timeout=60) as http:
        login(http, "alice", PASSWORD)
        http.headers["X-CSRFToken"] = http.cookies.get("csrftoken") or ""
        guild = http.post("/api/v1/guilds", json={"name": "Harbour"})
        assert guild.status_code in (200, 201), guild.text
        gid = guild.json()["id"]
        made = http.post(f"/api/v1/guilds/{gid}/channels", json={"name": "tides", "type": 0})
        assert made.status_code in (200, 201), made.text
        channel = made.json()["id"]
        upload = http.post("/api/v1/upload", files={"file": ("tides.bin", FILE, "text/plain")})
        assert upload.status_code == 201, upload.text
        attachment = upload.json()["id"]
        texts = ["high tide at noon", "low tide at six", "bring boots"]
        for i, text in enumerate(texts):
            body: dict = {"content": text}
            if i == 0:
                body["attachments"] = [attachment]
            sent = http.post(f"/api/v1/channels/{channel}/messages", json=body)
            assert sent.status_code == 200, sent.text
    return {"guild": gid, "channel": channel, "attachment": attachment, "texts": texts}


@pytest.mark.timeout(900)  # two nodes, two backups, two restores, a third start
def test_backup_destroy_restore_and_the_peer_still_trusts_the_node(fed_node, tmp_path, postgres):
    postgres, redis_url = postgres
    a, b = fed_node.many("a", "b")
    world = seed(a)
    b.node.create_user("carol", PASSWORD)
    # The peer follows alice: A's Accept reaches B signed with A's key, which B now trusts.
    follow(b, "carol", f"alice@{a.domain}")
    b.wait_for(lambda: [s for _, s in inbox(b, "Accept", a.domain)] == ["processed"], 120, "Accept")
    ((accept_key, _),) = inbox(b, "Accept", a.domain)
    keys_before = key_material(a.url)
    with httpx.Client(base_url=a.url, timeout=60) as http:
        login(http, "alice", PASSWORD)
        vapid_before = http.get("/api/v1/push/vapid-key").json()["public_key"]

    # Backed up while the node runs, twice: the second run writes no blob again.
    target = tmp_path / "target"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a long passphrase for the harbour\n")
    first = manage(a.node.env, "backup", "--to", str(target), "--passphrase-file", str(passphrase))
    assert first.returncode == 0, first.stderr
    assert "blobs 1/1" in first.stderr and "(1 new)" in first.stdout, first.stdout
    blobs = blob_objects(target)
    assert len(blobs) == 1
    second = manage(a.node.env, "backup", "--to", str(target), "--passphrase-file", str(passphrase))
    assert second.returncode == 0, second.stderr
    assert "(0 new)" in second.stdout
    assert blob_objects(target) == blobs  # same objects, none rewritten
    assert len(list((target / "archives").glob("*.ubk"))) == 2
    # The archive is not readable without the passphrase: no message text in the clear.
    for archive in (target / "archives").glob("*.ubk"):
        assert b"high tide" not in archive.read_bytes()

    # The machine is lost.
    port = a.node.ports[0]
    a.stop_worker()
    a.node.stop()
    shutil.rmtree(Path(a.node.env["UNITED_DATA_DIR"]))

    # A fresh machine: same address, a new data directory (a new database in the PostgreSQL
    # run), a secret key of its own; restore, then start.
    database_url = None
    if services_mode():
        database_url = services.create_database(templates.pg_port(), f"restored_{port}")
    fresh = Node("a2", tmp_path / "a2", dict(FED_ENV), port=port, database_url=database_url)
    restored = manage(
        fresh.env, "restore", "--from", str(target), "--passphrase-file", str(passphrase)
    )
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "2 node keys" in restored.stdout and "1 blobs (1 written)" in restored.stdout
    fresh.start()
    a2 = FedNode(fresh, tmp_path)
    try:
        with httpx.Client(base_url=a2.url, timeout=60) as http:
            login(http, "alice", PASSWORD)  # the password still works
            history = http.get(f"/api/v1/channels/{world['channel']}/messages")
            assert history.status_code == 200, history.text
            assert sorted(m["content"] for m in history.json()) == sorted(world["texts"])
            content = http.get(f"/api/v1/attachments/{world['attachment']}/content")
            assert content.status_code == 200 and content.content == FILE
        with httpx.Client(base_url=a2.url, timeout=60) as http:
            login(http, "bob", PASSWORD)
            assert http.get("/api/v1/users/@me").json()["username"] == "bob"

        # Same identity: the same keys are published, and the peer accepts what the restored
        # node signs with the key id it already knew.
        assert key_material(a2.url) == keys_before
        follow(a2, "alice", f"carol@{b.domain}")
        b.wait_for(
            lambda: [s for _, s in inbox(b, "Follow", a.domain)] == ["processed"], 120, "Follow"
        )
        ((follow_key, _),) = inbox(b, "Follow", a.domain)
        assert follow_key.split("#")[1] == accept_key.split("#")[1]
        a2.wait_for(
            lambda: (
                a2.sql(
                    "SELECT f.state FROM federation_follow f JOIN accounts_user u "
                    "ON u.id = f.local_user_id WHERE u.username = 'alice' AND f.outgoing = ?",
                    (True,),
                )
                == [("accepted",)]
            ),
            120,
            "B's Accept on the restored node",
        )
        counts = rows(a2)
    finally:
        a2.stop_worker()
        fresh.stop()

    # The same archive into the other engine (an empty PostgreSQL database after the SQLite
    # restore, a fresh SQLite data directory after the PostgreSQL one): the same rows.
    other = tmp_path / "other-engine"
    env = {
        k: v
        for k, v in a.node.env.items()
        if k not in {"UNITED_DATA_DIR", "DATABASE_URL", "REDIS_URL", "UNITED_MODE"}
    }
    env.update(
        UNITED_DATA_DIR=str(other),
        UNITED_SECRET_KEY="a-fresh-machine-with-its-own-secret-key-0123456789",
        UNITED_HTTPS="false",
    )
    if not services_mode():
        env.update(DATABASE_URL=postgres, REDIS_URL=redis_url)
    into_other = manage(env, "restore", "--from", str(target), "--passphrase-file", str(passphrase))
    assert into_other.returncode == 0, into_other.stderr + into_other.stdout
    assert (pg_rows(postgres) if not services_mode() else sqlite_rows(other)) == counts
    check = manage(
        env,
        "shell",
        "-c",
        "from media.models import Attachment; from media.storage import blob_store\n"
        f"a = Attachment.objects.get(id={world['attachment']})\n"
        "import hashlib; print(hashlib.sha256(blob_store().read(a.blob.key)).hexdigest())\n"
        "from federation import keys; print(keys.signing_key('rsa').public_pem)\n"
        # The push key too: unsealed under this machine's own secret key, browsers'
        # subscriptions (bound to its public half) keep working.
        "from push import webpush; webpush._vapid(); print('vapid', webpush.public_key())",
    )
    assert check.returncode == 0, check.stderr
    assert hashlib.sha256(FILE).hexdigest() in check.stdout
    assert keys_before[0].strip() in check.stdout  # the RSA key peers know, unsealed again
    assert f"vapid {vapid_before}" in check.stdout


COUNTED = ("accounts_user", "guilds_guild", "guilds_channel", "messaging_message", "media_blob")


def rows(node: FedNode) -> dict[str, list]:
    return {
        table: sorted(str(r[0]) for r in node.sql(f"SELECT id FROM {table}"))
        if table != "media_blob"
        else sorted(r[0] for r in node.sql("SELECT sha256 FROM media_blob"))
        for table in COUNTED
    }


def sqlite_rows(data_dir: Path) -> dict[str, list]:
    conn = sqlite3.connect(data_dir / "united.sqlite3")
    try:
        return {
            table: sorted(
                str(r[0])
                for r in conn.execute(
                    f"SELECT {'sha256' if table == 'media_blob' else 'id'} FROM {table}"
                )
            )
            for table in COUNTED
        }
    finally:
        conn.close()


def pg_rows(url: str) -> dict[str, list]:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        return {
            table: sorted(
                str(r[0])
                for r in conn.execute(
                    f"SELECT {'sha256' if table == 'media_blob' else 'id'} FROM {table}"
                )
            )
            for table in COUNTED
        }


@pytest.fixture
def postgres():
    """An empty PostgreSQL database and a Redis, as a fresh production machine has (the
    PostgreSQL run restores into SQLite instead, the other engine)."""
    if services_mode():
        yield None, None
        return
    pg = services.start_postgres()
    redis = services.start_redis()
    try:
        yield services.create_database(pg.port, "restore_target"), redis.url
    finally:
        redis.stop()
        pg.stop()


def test_the_scheduled_backup_runs_keeps_the_newest_and_shows_on_the_jobs_page(fed_node, tmp_path):
    target = tmp_path / "scheduled"
    node = fed_node(
        "s",
        UNITED_BACKUP_TARGET=str(target),
        UNITED_BACKUP_PASSPHRASE="the scheduled passphrase",
        UNITED_BACKUP_EVERY_HOURS="1",
        UNITED_BACKUP_KEEP="1",
    )
    node.python(
        "from accounts.models import User\n"
        f"User.objects.create_superuser('root', password={PASSWORD!r})\n"
    )
    # Due at once on a node that never ran it: the embedded runner starts it within seconds.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(target.glob("archives/*.ubk")):
        time.sleep(0.5)
    (first,) = target.glob("archives/*.ubk")
    # Run again now (as if an hour had passed): keep=1 leaves only the newest archive.
    node.python(
        "from jobs.models import PeriodicRun\nfrom jobs.services import run_due_jobs\n"
        "from datetime import timedelta\nfrom django.utils import timezone\n"
        "PeriodicRun.objects.filter(name='backup.scheduled').update("
        "last_run_at=timezone.now() - timedelta(hours=2))\n"
        "run_due_jobs()\n"
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.exists():
        time.sleep(0.5)
    (newest,) = target.glob("archives/*.ubk")
    assert newest != first
    opened = manage(
        {**node.node.env, "UNITED_BACKUP_PASSPHRASE": "", "UNITED_BACKUP_TARGET": ""},
        "shell",
        "-c",
        "from backup import services, crypto\n"
        f"t = services.target_from({str(target)!r})\n"
        "meta = services.verify_archive(t, services.archives(t)[-1], "
        "crypto.Opener('the scheduled passphrase'))\n"
        "print('users', meta['counts']['accounts.user'])",
    )
    assert "users 1" in opened.stdout, opened.stderr
    with httpx.Client(base_url=node.url, timeout=60) as http:
        login(http, "root", PASSWORD)
        page = http.get("/admin/jobs/job/overview/")
        assert page.status_code == 200
        periodic = page.text.split('id="periodic-jobs"')[1].split("</table>")[0]
        assert "backup.scheduled" in periodic
