from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from united.hlc import MAX_DRIFT_MS, ClockDriftError, HybridLogicalClock, Stamp

pytestmark = pytest.mark.mode_independent


class Wall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


events = st.lists(
    st.tuples(
        st.sampled_from(["send", "recv"]),
        st.integers(min_value=-5_000, max_value=5_000),  # wall clock step, backwards allowed
        st.integers(min_value=-MAX_DRIFT_MS, max_value=MAX_DRIFT_MS),  # remote offset
        st.integers(min_value=0, max_value=1000),  # remote counter
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_monotonic_and_ahead_of_everything_received(script):
    wall = Wall(1_800_000_000_000)
    clock = HybridLogicalClock("a", wall)
    last = clock.now()
    for kind, step, offset, counter in script:
        wall.ms = max(0, wall.ms + step)
        if kind == "send":
            stamp = clock.now()
        else:
            remote = Stamp(max(0, wall.ms + offset), counter, "b")
            stamp = clock.update(remote)
            assert stamp.pack() > remote.pack()
        assert stamp.pack() > last.pack()
        # Bounded drift: never further ahead of wall time than the largest stamp seen allows.
        assert stamp.ms <= max(wall.ms, last.ms) + MAX_DRIFT_MS + 1
        last = stamp


def test_two_nodes_converge_on_one_order():
    wall_a, wall_b = Wall(1000), Wall(900)  # b's clock is behind
    a, b = HybridLogicalClock("a", wall_a), HybridLogicalClock("b", wall_b)
    m1 = a.now()
    m2 = b.update(m1)  # b replies to m1: must sort after it despite its slow clock
    assert m2.pack() > m1.pack()
    m3 = a.update(m2)
    assert sorted([m3, m1, m2]) == [m1, m2, m3]


def test_remote_stamp_far_in_the_future_is_refused():
    clock = HybridLogicalClock("a", Wall(10_000_000))
    with pytest.raises(ClockDriftError):
        clock.update(Stamp(10_000_000 + MAX_DRIFT_MS + 1, 0, "evil"))
    assert clock.now().ms == 10_000_000  # the refused stamp did not move the clock


def test_counter_overflow_borrows_next_millisecond():
    clock = HybridLogicalClock("a", Wall(5))
    stamps = [clock.now() for _ in range(70_000)]
    assert all(x.pack() < y.pack() for x, y in zip(stamps, stamps[1:], strict=False))


@given(
    st.integers(min_value=0, max_value=2**47),
    st.integers(min_value=0, max_value=65535),
    st.text(alphabet="abc.:-0123456789", max_size=30),
)
def test_wire_and_packed_forms_round_trip(ms, counter, node):
    stamp = Stamp(ms, counter, node)
    assert Stamp.decode(stamp.encode()) == stamp
    assert Stamp.unpack(stamp.pack(), node) == stamp


@pytest.mark.parametrize("bad", ["", "12", "a-b-c", "1-999999-x", "-1-0-x"])
def test_malformed_wire_stamps_are_rejected(bad):
    with pytest.raises(ValueError):
        Stamp.decode(bad)
