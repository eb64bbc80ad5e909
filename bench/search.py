"""Message search benchmark: index N generated messages on every available engine and time
typical queries, in one run, printed as tables.

    .venv/bin/python bench/search.py                      # 1,000,000 messages
    .venv/bin/python bench/search.py --messages 100000    # smaller

The corpus is generated once (a TSV file in a temporary directory) and bulk-loaded by every
engine's child: COPY on PostgreSQL, one executemany on SQLite. Index time is the real
`reindex` path (`messaging.search.indexing.reindex`, what `manage.py reindex_search` runs).
    MEILI_URL=http://127.0.0.1:7700 MEILI_KEY=… .venv/bin/python bench/search.py

Engines: SQLite FTS5 (always), PostgreSQL full-text (a throwaway server started from the
installed binaries, tests/services.py), Meilisearch when MEILI_URL is set. Each engine runs in
its own child process with a fresh database, because Django's settings are per process. The
baseline, measured in the same run on the same data, is a plain `LIKE '%word%'` scan of the
message table: what search would cost without a full-text index.
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

CHANNELS = 20
USERS = 50
QUERIES = {
    "common word": {"terms": ["deploy"]},
    "rare word": {"terms": ["zephyrine"]},
    "two words": {"terms": ["release", "notes"]},
    "prefix": {"terms": ["meet"]},
    "from:user word": {"terms": ["lunch"], "author": True},
    "in:#channel word": {"terms": ["deploy"], "one_channel": True},
    "has:link": {"has": ["link"]},
    "during:day word": {"terms": ["release"], "during": True},
    "from:user only": {"author": True},
    "relevance sort": {"terms": ["deploy", "friday"], "sort_by": "relevance"},
    "few channels": {"terms": ["deploy"], "channels": 3},
}
TOPICS = [
    "deploy", "release", "notes", "meeting", "lunch", "friday", "coffee", "review", "bug",
    "crash", "login", "database", "search", "weekend", "design", "sprint", "ticket", "docs",
]  # fmt: skip
START = datetime(2025, 1, 1, tzinfo=UTC)


def _vocabulary(rng: random.Random, size: int = 20000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(size)}
    return sorted(words - {"zephyrine"})


def _content(rng: random.Random, vocab: list[str], i: int) -> str:
    n = rng.randint(3, 25)
    words = [
        rng.choice(TOPICS)
        if rng.random() < 0.12
        else vocab[int(rng.paretovariate(1.1)) % len(vocab)]
        for _ in range(n)
    ]
    if rng.random() < 0.05:
        words.append(f"https://example.org/{rng.choice(vocab)}/{i}")
    if i % 50_000 == 7:
        words.append("zephyrine")
    return " ".join(words).capitalize()


def write_corpus(path: Path, n: int) -> None:
    """Generate the messages once, into a TSV file every engine's child process loads: the
    same data everywhere, and the (slow, pure Python) text generation runs once."""
    rng = random.Random(20261123)
    vocab = _vocabulary(rng)
    span = timedelta(days=365).total_seconds() / max(n, 1)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            created = START + timedelta(seconds=i * span)
            out.write(
                f"{i}\t{rng.randrange(CHANNELS)}\t{rng.randrange(USERS)}\t"
                f"{_content(rng, vocab, i)}\t{created.isoformat()}\n"
            )


def _rows(path: Path, channels: list[int], users: list[int]):
    with path.open(encoding="utf-8") as corpus:
        for line in corpus:
            i, channel, author, content, created = line.rstrip("\n").split("\t")
            yield (
                10**15 + int(i),
                channels[int(channel)],
                users[int(author)],
                content,
                10**15 + int(i),
                datetime.fromisoformat(created),
            )


def _load(path: Path) -> None:
    """Users, a guild, channels (ORM: a handful of rows), then the messages in bulk: COPY on
    PostgreSQL, one executemany in one transaction on SQLite. Every other column takes the
    model's default, so the rows are what the ORM would have written."""
    from django.db import connection, transaction

    from accounts.models import User
    from guilds.models import Channel, Guild, Member

    users = User.objects.bulk_create(
        [User(username=f"user{i}", password="!") for i in range(USERS)]
    )
    guild = Guild.objects.create(name="Bench", owner=users[0])
    Member.objects.bulk_create([Member(guild=guild, user=u) for u in users])
    channels = Channel.objects.bulk_create(
        [Channel(guild=guild, type=0, name=f"chan{i}", position=i) for i in range(CHANNELS)]
    )
    rows = _rows(path, [c.id for c in channels], [u.id for u in users])
    columns = (
        "id, channel_id, author_id, content, hlc, created_at,"
        " type, content_html, hlc_node, mention_everyone, pinned"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY messaging_message ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, 0, "", "", False, False))
        else:
            adapt = connection.ops.adapt_datetimefield_value
            cursor.executemany(
                f"INSERT INTO messaging_message ({columns})"
                " VALUES (%s, %s, %s, %s, %s, %s, 0, '', '', 0, 0)",
                ((*row[:5], adapt(row[5])) for row in rows),
            )


def _queries(channel_ids: list[int], author_id: int):
    from messaging.search import BackendQuery

    for name, spec in QUERIES.items():
        channels = channel_ids[: spec.get("channels", len(channel_ids))]
        if spec.get("one_channel"):
            channels = channel_ids[:1]
        day = START + timedelta(days=100)
        yield (
            name,
            BackendQuery(
                channel_ids=frozenset(channels),
                terms=tuple(spec.get("terms", ())),
                author_ids=frozenset({author_id}) if spec.get("author") else None,
                has=frozenset(spec.get("has", ())),
                after=day if spec.get("during") else None,
                before=day + timedelta(days=1) if spec.get("during") else None,
                sort_by=spec.get("sort_by", "timestamp"),
                limit=25,
            ),
        )


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99


def _like_baseline(query) -> None:
    from django.db.models import Q

    from messaging.models import Message

    rows = Message.objects.live().filter(channel_id__in=query.channel_ids)
    for term in query.terms:
        rows = rows.filter(content__icontains=term)
    if query.author_ids:
        rows = rows.filter(author_id__in=query.author_ids)
    if query.has:
        rows = rows.filter(Q(content__icontains="http://") | Q(content__icontains="https://"))
    if query.after:
        rows = rows.filter(created_at__gte=query.after, created_at__lt=query.before)
    rows.count()
    list(rows.order_by("-hlc", "-id").values_list("id", flat=True)[:25])


def worker(engine: str, corpus: Path, reps: int) -> dict:
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "united.settings"
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from guilds.models import Channel
    from messaging.search import get_backend
    from messaging.search.indexing import reindex

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _load(corpus)
    loaded = time.perf_counter() - started
    if engine == "meili":
        from messaging.search.meili import MeiliBackend

        backend = MeiliBackend(index=f"united-bench-{os.getpid()}")  # never the node's index
    else:
        backend = get_backend(engine)
    started = time.perf_counter()
    indexed = reindex(backend, batch=5000)
    index_time = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    channel_ids = list(Channel.objects.order_by("id").values_list("id", flat=True))
    from accounts.models import User

    author_id = User.objects.order_by("id").values_list("id", flat=True)[3]
    result: dict = {
        "engine": engine,
        "database": connection.vendor,
        "load_s": loaded,
        "indexed": indexed,
        "index_s": index_time,
        "size": backend.size_bytes(),
        "queries": {},
        "baseline": {},
    }
    for name, query in _queries(channel_ids, author_id):
        samples, base, hits = [], [], 0
        for _ in range(reps):
            t = time.perf_counter()
            hits = backend.search(query).total
            samples.append((time.perf_counter() - t) * 1000)
        for _ in range(max(3, reps // 5)):
            t = time.perf_counter()
            _like_baseline(query)
            base.append((time.perf_counter() - t) * 1000)
        result["queries"][name] = {"hits": hits, "ms": _percentiles(samples)}
        result["baseline"][name] = _percentiles(base)
    if engine == "meili":
        backend.drop()
    return result


def _run_child(engine: str, corpus: Path, n: int, reps: int, env: dict[str, str]) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", engine, "--corpus", str(corpus)]
    cmd += ["--reps", str(reps)]
    print(f"… {engine}: loading and indexing {n:,} messages", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{engine} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _base_env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(UNITED_MODE="embedded", UNITED_DATA_DIR=data_dir, UNITED_EMBEDDED_RUNNER="0")
    env.pop("UNITED_SEARCH_BACKEND", None)
    return env


def _size(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1024 / 1024:,.1f} MiB"


def _machine() -> str:
    import platform

    return f"{platform.node()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"


def _print(results: list[dict], n: int, generated_s: float) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nMessage search, {n:,} generated messages ({when}; {_machine()})")
    print(
        f"corpus generated in {generated_s:.1f}s; loaded per engine in "
        + ", ".join(f"{r['engine']} {r['load_s']:.1f}s" for r in results)
        + "\n"
    )
    head = (
        f"{'engine':<22}{'index time':>12}{'msg/s':>10}{'index size':>14}{'p50 ms':>9}{'p99 ms':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        samples = [v["ms"] for v in r["queries"].values()]
        p50 = statistics.median(s[0] for s in samples)
        p99 = max(s[1] for s in samples)
        rate = r["indexed"] / r["index_s"] if r["index_s"] else 0
        print(
            f"{r['engine'] + ' (' + r['database'] + ')':<22}{r['index_s']:>11.1f}s{rate:>10,.0f}"
            f"{_size(r['size']):>14}{p50:>9.1f}{p99:>9.1f}"
        )
    print("\np50 / p99 latency per query in ms (LIKE scan of the same database = baseline)\n")
    cols = [(f"{r['engine']}", r) for r in results]
    head = f"{'query':<18}" + "".join(
        f"{name:>22}{'LIKE ' + r['database'][:6]:>20}" for name, r in cols
    )
    print(head)
    print("-" * len(head))
    for q in QUERIES:
        line = f"{q:<18}"
        for _, r in cols:
            p50, p99 = r["queries"][q]["ms"]
            b50, b99 = r["baseline"][q]
            line += f"{p50:>10.1f} / {p99:>7.1f}  {b50:>9.1f} / {b99:>7.1f}"
        print(line)
    print(
        "\nhits per query: "
        + ", ".join(f"{q}={results[0]['queries'][q]['hits']}" for q in QUERIES),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=30, help="timed runs of each query")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.reps)))
        return

    from tests import services

    results = []
    with tempfile.TemporaryDirectory(prefix="united-bench-") as tmp:
        os.chmod(tmp, 0o755)
        corpus = Path(tmp) / "corpus.tsv"
        print(f"… generating {args.messages:,} messages", file=sys.stderr, flush=True)
        started = time.perf_counter()
        write_corpus(corpus, args.messages)
        generated_s = time.perf_counter() - started
        sqlite_dir = Path(tmp) / "sqlite"
        env = _base_env(str(sqlite_dir))
        result = _run_child("sqlite", corpus, args.messages, args.reps, env)
        results += [result] if result else []
        pg = services.start_postgres()
        try:
            env = _base_env(str(Path(tmp) / "pg"))
            env["DATABASE_URL"] = services.create_database(pg.port, "bench")
            result = _run_child("postgres", corpus, args.messages, args.reps, env)
            results += [result] if result else []
        finally:
            pg.stop()
        if os.environ.get("MEILI_URL"):
            env = _base_env(str(Path(tmp) / "meili"))
            result = _run_child("meili", corpus, args.messages, args.reps, env)
            results += [result] if result else []
    if not results:
        sys.exit("no engine ran")
    _print(results, args.messages, generated_s)


if __name__ == "__main__":
    main()
