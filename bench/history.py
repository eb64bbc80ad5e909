"""History page benchmark: `GET /channels/{id}/messages` on a channel of N messages.

    .venv/bin/python bench/history.py                    # 1,000,000 messages, both engines
    .venv/bin/python bench/history.py --messages 100000 --engines sqlite

Each engine runs in a child process with a fresh database (SQLite in a temporary data
directory; PostgreSQL started here from the installed binaries, tests/services.py). The
channel's messages are bulk-loaded (COPY on PostgreSQL, executemany on SQLite) with every
other column at the model's default, so the rows are what the ORM writes; a second channel
holds as many again, so the history index has to pick one channel out of two.

Timed in-process through the whole Django stack (Django's test client: middleware, token
auth, DRF, JSON), no network: the latest page, and `before=`, `after=`, `around=` a random
message, 100 messages a page. The baseline, measured in the same run on the same database, is
the floor any history page stands on: the same 100 rows read with one hand-written SQL
statement on the history index, no ORM, no JSON. Goal (issue 24): p99 ≤ 15 ms for every shape.
Each engine also prints the query plan of every shape (EXPLAIN QUERY PLAN / EXPLAIN).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_MS = 15.0
PAGE = 100
SHAPES = ("latest", "before", "after", "around")
WORDS = (
    "deploy release notes meeting lunch friday coffee review bug crash login database search "
    "weekend design sprint ticket docs"
).split()


def _load(n: int) -> dict:
    """Two channels of `n` messages each, in bulk; returns the ids the timing needs."""
    from django.db import connection, transaction

    from accounts.models import AuthSession, User
    from accounts.services.tokens import issue_tokens
    from guilds.models import Channel, Member
    from guilds.services import channels as channel_services
    from guilds.services import guilds

    users = User.objects.bulk_create([User(username=f"user{i}", password="!") for i in range(20)])
    # Through the services, so the guild has its @everyone role and default permissions.
    guild = guilds.check_create_guild(users[0], name="Bench", description="")
    Member.objects.bulk_create([Member(guild=guild, user=u) for u in users[1:]])
    channels = [
        Channel.objects.get(
            id=channel_services.check_create_channel(
                users[0], guild.id, {"name": f"chan{i}", "type": 0}
            ).id
        )
        for i in range(2)
    ]
    rng = random.Random(24)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    columns = (
        "id, channel_id, author_id, content, hlc, created_at,"
        " type, content_html, hlc_node, mention_everyone, pinned"
    )

    def rows():
        # Interleaved like a real node's: both channels' messages share one id/hlc sequence.
        for i in range(2 * n):
            channel = channels[i % 2].id
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 14)))
            at = start + timedelta(seconds=i * 30)
            yield (10**15 + i, channel, users[i % 20].id, text, 10**15 + i, at)

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY messaging_message ({columns}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row((*row, 0, f"<p>{row[3]}</p>", "", False, False))
        else:
            adapt = connection.ops.adapt_datetimefield_value
            cursor.executemany(
                f"INSERT INTO messaging_message ({columns})"
                " VALUES (%s, %s, %s, %s, %s, %s, 0, '<p>' || %s || '</p>', '', 0, 0)",
                ((*row[:5], adapt(row[5]), row[3]) for row in rows()),
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE messaging_message")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    token = issue_tokens(AuthSession.objects.create(user=users[1], kind="api"))["access_token"]
    return {"channel": channels[0].id, "token": token, "n": n}


def _cursor_sql(vendor: str, shape: str) -> str:
    """The baseline: the page's rows by one statement on the history index."""
    cols = "id, channel_id, author_id, content, content_html, hlc, created_at, edited_at"
    head = f"SELECT {cols} FROM messaging_message WHERE channel_id = %s"
    if shape == "latest":
        return f"{head} ORDER BY hlc DESC, id DESC LIMIT {PAGE}"
    if shape == "before":
        return f"{head} AND (hlc, id) < (%s, %s) ORDER BY hlc DESC, id DESC LIMIT {PAGE}"
    return f"{head} AND (hlc, id) > (%s, %s) ORDER BY hlc, id LIMIT {PAGE}"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def _plans(channel: int, middle: int) -> dict[str, list[str]]:
    """The plan of each statement the history view runs, captured while it runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from messaging.services.messages import history

    user = User.objects.get(username="user1")
    plans: dict[str, list[str]] = {}
    for shape in SHAPES:
        kwargs = {} if shape == "latest" else {shape: middle}
        with CaptureQueriesContext(connection) as captured:
            history(user, channel, limit=PAGE, **kwargs)
        lines = []
        for query in captured:
            sql = query["sql"]
            if not sql.startswith('SELECT "messaging_message"."id"'):
                continue  # the permission checks and prefetches are not the history's plan
            prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
            with connection.cursor() as cursor:
                cursor.execute(prefix + sql)
                found = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
            lines.append(sql[:160] + " …")
            lines += ["    " + line for line in found]
        plans[shape] = lines
    return plans


def worker(reps: int, n: int) -> dict:
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "united.settings"
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    data = _load(n)
    loaded = time.perf_counter() - started
    channel, token = data["channel"], data["token"]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    url = f"/api/v1/channels/{channel}/messages"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, hlc FROM messaging_message WHERE channel_id = %s ORDER BY id", [channel]
        )
        ids = cursor.fetchall()
    rng = random.Random(7)
    result: dict = {"engine": connection.vendor, "load_s": loaded, "shapes": {}, "base": {}}
    for shape in SHAPES:
        # Warm up: the first requests import and fill caches; a channel's steady state is wanted.
        for _ in range(5):
            client.get(url, {"limit": PAGE})
        samples, base = [], []
        for _ in range(reps):
            target_id, target_hlc = rng.choice(ids)
            params = {"limit": PAGE} | ({} if shape == "latest" else {shape: target_id})
            t = time.perf_counter()
            response = client.get(url, params)
            samples.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.content[:300]
            page = response.json()
            if shape == "latest":
                assert len(page) == PAGE
            sql = _cursor_sql(connection.vendor, "after" if shape == "around" else shape)
            args = [channel] + ([] if shape == "latest" else [target_hlc, target_id])
            t = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                cursor.fetchall()
                if shape == "around":  # the older half, as the view reads both halves
                    cursor.execute(_cursor_sql(connection.vendor, "before"), args)
                    cursor.fetchall()
            base.append((time.perf_counter() - t) * 1000)
        result["shapes"][shape] = _percentiles(samples)
        result["base"][shape] = _percentiles(base)
    result["plans"] = _plans(channel, ids[len(ids) // 2][0])
    return result


def _run_child(name: str, env: dict[str, str], n: int, reps: int) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", "--messages", str(n), "--reps", str(reps)]
    print(f"… {name}: loading {2 * n:,} messages", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{name} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _base_env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(UNITED_MODE="embedded", UNITED_DATA_DIR=data_dir, UNITED_EMBEDDED_RUNNER="0")
    return env


def _print(results: list[dict], n: int, show_plans: bool) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nHistory page, one channel of {n:,} messages (another beside it), {PAGE} a page")
    print(f"({when}; {os.cpu_count()} CPU(s)); ms, through the API view in-process\n")
    head = (
        f"{'engine':<12}{'shape':<8}{'p50':>8}{'p99':>8}{'baseline p50':>14}{'p99':>8}"
        f"{'goal p99 <= ' + str(GOAL_MS):>18}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for shape in SHAPES:
            p50, p99 = r["shapes"][shape]
            b50, b99 = r["base"][shape]
            verdict = "met" if p99 <= GOAL_MS else "NOT MET"
            print(
                f"{r['engine']:<12}{shape:<8}{p50:>8.1f}{p99:>8.1f}{b50:>14.2f}{b99:>8.2f}"
                f"{verdict:>18}"
            )
    if show_plans:
        for r in results:
            for shape, lines in r["plans"].items():
                print(f"\n{r['engine']} plan, {shape}:")
                print("\n".join("  " + line for line in lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="in the timed channel")
    parser.add_argument("--reps", type=int, default=200, help="timed pages per shape")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--plans", action="store_true", help="print each shape's query plan")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.reps, args.messages)))
        return

    from tests import services

    results = []
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory(prefix="united-bench-") as tmp:
        os.chmod(tmp, 0o755)
        if "sqlite" in engines:
            env = _base_env(str(Path(tmp) / "sqlite"))
            result = _run_child("sqlite", env, args.messages, args.reps)
            results += [result] if result else []
        if "postgres" in engines:
            pg = services.start_postgres()
            try:
                env = _base_env(str(Path(tmp) / "pg"))
                env["DATABASE_URL"] = services.create_database(pg.port, "bench")
                result = _run_child("postgres", env, args.messages, args.reps)
                results += [result] if result else []
            finally:
                pg.stop()
    if not results:
        sys.exit("no engine ran")
    _print(results, args.messages, args.plans)


if __name__ == "__main__":
    main()
