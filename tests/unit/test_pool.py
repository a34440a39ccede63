"""The warm pause pool: how many containers it keeps per key (``Demand``, pure, with the time passed in) and
the pool itself over the fake driver (real fill thread; waits are on conditions with deadlines)."""

from __future__ import annotations

import pytest

from orchestrator import naming
from orchestrator.agent.pool import Demand, PausePool
from orchestrator.runtime.fake import FakeDriver
from tests.helpers import wait_for

KEY = ("minecs-default", ((80, "tcp"),))


def test_demand_keeps_the_floor_without_takes() -> None:
    d = Demand(2, 32)
    assert d.target(0.0) == 2 and d.target(1e9) == 2


def test_demand_follows_the_largest_recent_burst_and_shrinks_back() -> None:
    d = Demand(2, 32, window=300.0, gap=2.0)
    for i in range(30):          # 30 takes, 0.1 s apart: one burst
        d.took(100.0 + i * 0.1)
    assert d.target(103.0) == 30
    for i in range(5):           # a smaller burst later does not lower the peak
        d.took(200.0 + i * 0.1)
    assert d.target(201.0) == 30
    assert d.target(402.0) == 30   # the window counts from when the peak last grew (102.9 s)
    assert d.target(403.0) == 2    # expired: back to the floor (the later, smaller burst with it)


def test_demand_separates_bursts_by_the_gap_and_caps_at_the_maximum() -> None:
    d = Demand(1, 8, gap=2.0)
    for t in (0.0, 3.0, 6.0, 9.0):        # a trickle: every take is a burst of one
        d.took(t)
    assert d.target(10.0) == 1
    for i in range(50):
        d.took(20.0 + i * 0.5)
    assert d.target(50.0) == 8
    with_floor = Demand(4, 2)             # a maximum below the floor is raised to it
    assert with_floor.target(0.0) == 4


def test_a_new_peak_after_expiry_replaces_the_old_one() -> None:
    d = Demand(0, 32, window=10.0)
    for i in range(6):
        d.took(i * 0.1)
    d.took(100.0)
    assert d.target(100.0) == 1


@pytest.fixture
def pool():
    now = [0.0]
    driver = FakeDriver()
    driver.create_network(KEY[0], {naming.LABEL_MANAGED: "1"})
    p = PausePool(driver, instance_label="test", host_ip="127.0.0.1", image="minecs/pause:latest", per_key=2,
                  max_per_key=6, window=60.0, clock=lambda: now[0])
    p.refill_delay = 0.0
    p.start()
    yield p, driver, now
    p.stop()


def _pool_containers(driver: FakeDriver) -> list:
    return [s for s in driver.list({naming.LABEL_ROLE: "pool"}) if s.running]


def test_pool_grows_to_a_burst_then_shrinks_when_it_expires(pool) -> None:
    p, driver, now = pool
    assert p.take(*KEY) is None                     # first use of the key: nothing ready yet
    wait_for(lambda: p.ready_count(KEY) == 2, 5, message="floor of 2 filled")
    taken = [p.take(*KEY) for _ in range(9)]        # a burst of 10 takes (with the first)
    assert sum(t is not None for t in taken) >= 2   # the two ready ones were handed out
    assert p.target(KEY) == 6                       # capped at max_per_key
    wait_for(lambda: p.ready_count(KEY) == 6, 5, message="refilled to the burst, capped")
    now[0] = 61.0                                   # the peak expires
    with p._work:
        p._work.notify_all()
    wait_for(lambda: p.ready_count(KEY) == 2, 5, message="shrunk back to the floor")
    handed_out = {t.id for t in taken if t is not None}   # those belong to their tasks now
    wait_for(lambda: len([s for s in _pool_containers(driver) if s.id not in handed_out]) == 2, 5,
             message="surplus containers removed")


def test_stop_removes_every_ready_container(pool) -> None:
    p, driver, _ = pool
    for _ in range(5):
        p.take(*KEY)
    wait_for(lambda: p.ready_count(KEY) == 5, 5)
    p.stop()
    assert _pool_containers(driver) == []


def test_take_hands_out_only_a_pause_that_still_runs(pool) -> None:
    """No runner reads the events here: take's own check is what keeps a dead container from a task."""
    p, driver, now = pool
    p.take(*KEY)
    wait_for(lambda: p.ready_count(KEY) == 2, 5, message="floor of 2 filled")
    with p._lock:
        first, second = [s.id for s in p._ready[KEY]]
    driver.exit(first, 137)
    got = p.take(*KEY)
    assert got is not None and got.id == second
    assert not any(s.id == first for s in driver.list({naming.LABEL_ROLE: "pool"}))  # and it was removed


def test_forget_drops_a_dead_ready_pause_and_the_pool_refills(pool) -> None:
    p, driver, now = pool
    p.take(*KEY)
    wait_for(lambda: p.ready_count(KEY) == 2, 5, message="floor of 2 filled")
    with p._lock:
        dead = p._ready[KEY][0].id
    driver.exit(dead, 137)
    p.forget(dead)
    assert not p.owns(dead)
    wait_for(lambda: p.ready_count(KEY) == 2, 5, message="refilled")
