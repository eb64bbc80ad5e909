from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from united.ids import (
    SLOTS_PER_HOST,
    UNITED_EPOCH_MS,
    SnowflakeGenerator,
    WorkerSlotsExhausted,
    snowflake_at,
    snowflake_time,
)

pytestmark = pytest.mark.mode_independent


class SteppedClock:
    """A wall clock that follows a script of millisecond readings, jumps backwards included."""

    def __init__(self, readings: list[int]) -> None:
        self.readings = readings
        self.i = 0

    def __call__(self) -> int:
        value = self.readings[min(self.i, len(self.readings) - 1)]
        self.i += 1
        return (UNITED_EPOCH_MS + value) * 1_000_000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=300))
def test_ids_strictly_increase_whatever_the_clock_does(tmp_path_factory, readings):
    gen = SnowflakeGenerator(clock=SteppedClock(readings), lock_dir=tmp_path_factory.mktemp("s"))
    ids = [gen.next_id() for _ in readings]
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False))


def test_sequence_overflow_borrows_next_millisecond(tmp_path):
    gen = SnowflakeGenerator(clock=lambda: (UNITED_EPOCH_MS + 5) * 1_000_000, lock_dir=tmp_path)
    ids = [gen.next_id() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert snowflake_time(ids[-1]) > snowflake_time(ids[0])


def test_time_round_trip(tmp_path):
    gen = SnowflakeGenerator(lock_dir=tmp_path)
    before = datetime.now(tz=UTC)
    sid = gen.next_id()
    assert abs((snowflake_time(sid) - before).total_seconds()) < 1
    assert snowflake_at(snowflake_time(sid)) <= sid


def _generate(lock_dir: str, count: int, queue, barrier) -> None:
    gen = SnowflakeGenerator(lock_dir=Path(lock_dir))
    ids = [gen.next_id() for _ in range(count)]
    barrier.wait(timeout=60)  # every process is alive and holds its slot at this point
    queue.put((gen.worker, ids))


def test_unique_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(6)
    procs = [
        ctx.Process(target=_generate, args=(str(tmp_path), 20_000, queue, barrier))
        for _ in range(6)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    workers = [w for w, _ in results]
    all_ids = [i for _, ids in results for i in ids]
    assert len(set(workers)) == len(workers), "two live processes leased the same worker slot"
    assert len(set(all_ids)) == len(all_ids) == 120_000


def _child_id(gen: SnowflakeGenerator, queue) -> None:
    queue.put((gen.worker, gen.next_id()))


def test_forked_child_takes_its_own_slot(tmp_path):
    gen = SnowflakeGenerator(lock_dir=tmp_path)
    parent_worker = gen.worker
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_id, args=(gen, queue))
    proc.start()
    child_worker, _ = queue.get(timeout=30)
    proc.join(timeout=30)
    assert child_worker != parent_worker
    assert gen.worker == parent_worker  # the parent still holds its lease


def test_slots_run_out_loudly(tmp_path):
    holders = [SnowflakeGenerator(lock_dir=tmp_path) for _ in range(SLOTS_PER_HOST)]
    assert len({g.worker for g in holders}) == SLOTS_PER_HOST
    extra = SnowflakeGenerator(lock_dir=tmp_path)
    try:
        extra.next_id()
    except WorkerSlotsExhausted as exc:
        assert "64" in str(exc)
    else:
        raise AssertionError("a 65th process got a slot")


def _frozen_clock() -> int:
    return (UNITED_EPOCH_MS + 42) * 1_000_000  # every id in one millisecond


def _generate_frozen(lock_dir: str, queue) -> None:
    gen = SnowflakeGenerator(clock=_frozen_clock, lock_dir=Path(lock_dir))
    queue.put((gen.worker, [gen.next_id() for _ in range(10)]))


def test_slot_reused_after_exit_never_repeats_ids(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_generate_frozen, args=(str(tmp_path), queue))
    proc.start()
    first_worker, first_ids = queue.get(timeout=60)
    proc.join(timeout=30)  # the process has exited: its slot is free again
    second = SnowflakeGenerator(clock=_frozen_clock, lock_dir=tmp_path)
    second_ids = [second.next_id() for _ in range(10)]
    assert second.worker == first_worker
    assert not set(first_ids) & set(second_ids)
