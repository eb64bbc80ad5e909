"""Guild scale benchmark: READY for a member of many guilds, and the member list of a large one.

    .venv/bin/python bench/guilds_scale.py               # 100 × 50, 100,000; both engines
    .venv/bin/python bench/guilds_scale.py --guilds 10 --members 5000 --engines sqlite

Each engine runs in a child process with a fresh database (SQLite in a temporary data
directory; PostgreSQL started here from the installed binaries, tests/services.py). The rows
are bulk-inserted with every other column at the model's default, shaped as the services
would leave them:

- READY: one member of `--guilds` guilds of `--channels` channels each (two categories, the
  rest text and voice channels under them), each guild with its @everyone role, a hoisted
  role the member holds and one they do not, a private channel opened to the member's role
  and one hidden from them, two messages in every text channel (one mentioning the member)
  and read markers on half of them. Timed in-process: `messaging.gateway.ready_state`, the
  whole payload (guilds, roles, visible channels, read states, presences).
  Baseline: the same channels read with one hand-written statement (membership join
  channels), no permissions, no read states, no JSON.
- Member list: one guild of `--members` members, 2% of them connected (the presence store of
  the process), 1% of those holding a hoisted role. Timed through the web view
  (`GET /app/guilds/{id}/members/`, Django's test client, signed in): the first page, 100
  entries. Baseline: the first 100 offline members by one statement on `member_list_idx`.

Goals (issue 24): READY p99 < 200 ms; member list first page p99 < 50 ms. `--plans` prints
the query plans of the member list's offline page and of READY's unread-channel statement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

READY_GOAL_MS = 200.0
MEMBERS_GOAL_MS = 50.0


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _load_ready(guild_count: int, channel_count: int) -> int:
    """The member of many guilds; returns their user id."""
    from accounts.models import User
    from guilds import permissions as perms
    from guilds.models import Channel, ChannelType, Guild, Member, PermissionOverwrite, Role
    from messaging.models import Message, ReadState
    from united.ids import new_id

    owner, me = User.objects.bulk_create(
        [User(username="owner", password="!"), User(username="me", password="!")]
    )
    guilds = Guild.objects.bulk_create(
        [Guild(name=f"Guild {g}", owner=owner) for g in range(guild_count)]
    )
    roles, members, channels, overwrites, held = [], [], [], [], []
    messages, markers = [], []
    for guild in guilds:
        everyone = Role(
            id=guild.id, guild=guild, name="@everyone", permissions=perms.DEFAULT_EVERYONE
        )
        crew = Role(guild=guild, name="crew", position=2, hoist=True)
        other = Role(guild=guild, name="other", position=1)
        roles += [everyone, crew, other]
        mine = Member(guild=guild, user=me, sort_name="me")
        members += [Member(guild=guild, user=owner, sort_name="owner"), mine]
        held.append(Member.roles.through(member_id=mine.id, role_id=crew.id))
        cats = [
            Channel(guild=guild, type=ChannelType.GUILD_CATEGORY, name=n, position=i)
            for i, n in enumerate(("Text", "Voice"))
        ]
        channels += cats
        for c in range(channel_count - 2):
            voice = c % 5 == 4
            channel = Channel(
                guild=guild,
                type=ChannelType.GUILD_VOICE if voice else ChannelType.GUILD_TEXT,
                name=f"chan-{c}",
                position=c,
                parent=cats[1 if voice else 0],
                permission_synced=c > 1,
            )
            channels.append(channel)
            if c in (0, 1):  # private: opened to crew (c 0), or to nobody but the owner (c 1)
                deny = int(perms.P.VIEW_CHANNEL)
                overwrites.append(
                    PermissionOverwrite(channel=channel, target_id=guild.id, type=0, deny=deny)
                )
                if c == 0:
                    overwrites.append(
                        PermissionOverwrite(channel=channel, target_id=crew.id, type=0, allow=deny)
                    )
            if not voice:
                first = Message(channel=channel, author=owner, content="hello", hlc=new_id())
                ping = Message(channel=channel, author=owner, content=f"<@{me.id}>", hlc=new_id())
                messages += [first, ping]
                if c % 2:
                    markers.append(ReadState(user=me, channel=channel, last_message_id=first.id))
    Role.objects.bulk_create(roles)
    Member.objects.bulk_create(members)
    Member.roles.through.objects.bulk_create(held)
    Channel.objects.bulk_create(channels)
    PermissionOverwrite.objects.bulk_create(overwrites)
    Message.objects.bulk_create(messages)
    Message.mentions.through.objects.bulk_create(
        [Message.mentions.through(message_id=m.id, user_id=me.id) for m in messages[1::2]]
    )
    ReadState.objects.bulk_create(markers)
    return me.id


def _load_members(count: int) -> tuple[int, int, list[int]]:
    """The large guild; returns (guild id, owner id, ids of the connected members)."""
    from accounts.models import User
    from guilds import permissions as perms
    from guilds.models import Guild, Member, Role

    users = User.objects.bulk_create(
        [User(username=f"user{i:06d}", password="!") for i in range(count)], batch_size=5000
    )
    guild = Guild.objects.create(name="Large", owner=users[0])
    staff = Role(guild=guild, name="Staff", position=1, hoist=True)
    Role.objects.bulk_create(
        [
            Role(id=guild.id, guild=guild, name="@everyone", permissions=perms.DEFAULT_EVERYONE),
            staff,
        ]
    )
    members = Member.objects.bulk_create(
        [Member(guild=guild, user=u, sort_name=u.username) for u in users], batch_size=5000
    )
    online = [u.id for u in users[::50]]  # 2%, the owner first
    connected = set(online)
    online_members = [m for m in members if m.user_id in connected]
    Member.roles.through.objects.bulk_create(
        [Member.roles.through(member_id=m.id, role_id=staff.id) for m in online_members[::100]]
    )
    return guild.id, users[0].id, online


def _plans(guild_id: int, owner_id: int, me_id: int) -> dict[str, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from guilds.models import Guild
    from guilds.services.member_list import member_page
    from messaging.gateway import ready_state

    wanted: dict[str, list[str]] = {}
    with CaptureQueriesContext(connection) as captured:
        member_page(Guild.objects.get(id=guild_id), {owner_id}, start=0)
    offline = [q["sql"] for q in captured if 'ORDER BY "guilds_member"."sort_name"' in q["sql"]]
    with CaptureQueriesContext(connection) as captured:
        ready_state(User.objects.get(id=me_id), "plans")
    unread = [
        q["sql"] for q in captured if "DISTINCT" in q["sql"] and "messaging_message" in q["sql"]
    ]
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    for name, sqls in (("member list, offline page", offline), ("READY, unread channels", unread)):
        lines = []
        for sql in sqls[:1]:
            with connection.cursor() as cursor:
                cursor.execute(prefix + sql)
                for row in cursor.fetchall():
                    line = " ".join(str(c) for c in row)
                    lines.append("    " + (line if len(line) <= 160 else line[:160] + " …"))
            lines.insert(0, sql[:200] + " …")
        wanted[name] = lines
    return wanted


def worker(reps: int, guild_count: int, channel_count: int, member_count: int) -> dict:
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "united.settings"
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from messaging import presence
    from messaging.gateway import ready_state

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    me_id = _load_ready(guild_count, channel_count)
    guild_id, owner_id, online = _load_members(member_count)
    _analyze()
    loaded = time.perf_counter() - started
    for user_id in online:
        presence.store().connect(user_id, f"bench-{user_id}")
    result: dict = {"engine": connection.vendor, "load_s": loaded}

    me = User.objects.get(id=me_id)
    ready, _groups = ready_state(me, "warm")
    visible = sum(len(g["channels"]) for g in ready["guilds"])
    assert len(ready["guilds"]) == guild_count, len(ready["guilds"])
    samples, base = [], []
    for _ in range(reps):
        t = time.perf_counter()
        ready_state(me, "bench")
        samples.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.id, c.guild_id, c.type, c.name, c.position, c.parent_id"
                " FROM guilds_channel c JOIN guilds_member m ON m.guild_id = c.guild_id"
                " WHERE m.user_id = %s ORDER BY c.guild_id, c.position, c.id",
                [me_id],
            )
            cursor.fetchall()
        base.append((time.perf_counter() - t) * 1000)
    result["ready"] = _percentiles(samples)
    result["ready_base"] = _percentiles(base)
    result["ready_channels"] = visible

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(id=owner_id))
    url = f"/app/guilds/{guild_id}/members/"
    for _ in range(5):
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
    assert response.content.count(b"data-member ") == 100, "the first page is 100 entries"
    samples, base = [], []
    for _ in range(reps):
        t = time.perf_counter()
        client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT m.id, m.nick, u.username, u.display_name FROM guilds_member m"
                " JOIN accounts_user u ON u.id = m.user_id WHERE m.guild_id = %s"
                " ORDER BY m.sort_name, m.id LIMIT 100",
                [guild_id],
            )
            cursor.fetchall()
        base.append((time.perf_counter() - t) * 1000)
    result["members"] = _percentiles(samples)
    result["members_base"] = _percentiles(base)
    result["plans"] = _plans(guild_id, owner_id, me_id)
    return result


def _run_child(name: str, env: dict[str, str], args: argparse.Namespace) -> dict | None:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        *("--guilds", str(args.guilds), "--channels", str(args.channels)),
        *("--members", str(args.members), "--reps", str(args.reps)),
    ]
    print(f"… {name}: loading", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"{name} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _base_env(data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(UNITED_MODE="embedded", UNITED_DATA_DIR=data_dir, UNITED_EMBEDDED_RUNNER="0")
    return env


def _print(results: list[dict], args: argparse.Namespace, show_plans: bool) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\nGuild scale: READY for a member of {args.guilds} guilds × {args.channels} channels;"
        f" member list of a {args.members:,}-member guild"
    )
    print(f"({when}; {os.cpu_count()} CPU(s)); ms, in-process, {args.reps} runs each\n")
    head = (
        f"{'engine':<12}{'what':<22}{'p50':>8}{'p99':>8}{'baseline p50':>14}{'p99':>8}"
        f"{'goal p99':>10}{'':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        for key, label, goal in (
            ("ready", "READY", READY_GOAL_MS),
            ("members", "member list, page 1", MEMBERS_GOAL_MS),
        ):
            p50, p99 = r[key]
            b50, b99 = r[key + "_base"]
            verdict = "met" if p99 < goal else "NOT MET"
            print(
                f"{r['engine']:<12}{label:<22}{p50:>8.1f}{p99:>8.1f}{b50:>14.2f}{b99:>8.2f}"
                f"{'< ' + str(int(goal)):>10}{verdict:>9}"
            )
    for r in results:
        print(
            f"\n{r['engine']}: loaded in {r['load_s']:.1f} s; READY lists"
            f" {r['ready_channels']:,} visible channels"
        )
    if show_plans:
        for r in results:
            for name, lines in r["plans"].items():
                print(f"\n{r['engine']} plan, {name}:")
                print("\n".join("  " + line for line in lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--guilds", type=int, default=100, help="guilds the READY member is in")
    parser.add_argument("--channels", type=int, default=50, help="channels per guild (≥ 4)")
    parser.add_argument("--members", type=int, default=100_000, help="in the large guild")
    parser.add_argument("--reps", type=int, default=100, help="timed runs of each")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--plans", action="store_true", help="print the query plans")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.channels < 4:
        parser.error("--channels must be at least 4 (two categories, two private channels)")
    if args.worker:
        print(json.dumps(worker(args.reps, args.guilds, args.channels, args.members)))
        return

    from tests import services

    results = []
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory(prefix="united-bench-") as tmp:
        os.chmod(tmp, 0o755)
        if "sqlite" in engines:
            result = _run_child("sqlite", _base_env(str(Path(tmp) / "sqlite")), args)
            results += [result] if result else []
        if "postgres" in engines:
            pg = services.start_postgres()
            try:
                env = _base_env(str(Path(tmp) / "pg"))
                env["DATABASE_URL"] = services.create_database(pg.port, "bench")
                result = _run_child("postgres", env, args)
                results += [result] if result else []
            finally:
                pg.stop()
    if not results:
        sys.exit("no engine ran")
    _print(results, args, args.plans)


if __name__ == "__main__":
    main()
