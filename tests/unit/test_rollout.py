"""Table-driven tests of the rollout arithmetic: the deployment bounds from ``maximumPercent`` /
``minimumHealthyPercent`` (``max_tasks``, ``min_healthy``), the launch backoff (``launch_delay``) and the
circuit breaker's failed-task threshold. Reference: ecs.md §6.3 (bounds), §6.5 (threshold, clamped to
[3, 200] per the current API reference), §6.8 (backoff up to 15 minutes)."""

from __future__ import annotations

import pytest

from orchestrator.model.service import (
    CIRCUIT_BREAKER_MAX, CIRCUIT_BREAKER_MIN, LAUNCH_BACKOFF_MAX, DeploymentConfig, circuit_breaker_threshold)
from orchestrator.services.ecs.reconciler.rollout import launch_delay, max_tasks, min_healthy

# -- max_tasks: floor(desired × maximumPercent / 100) ----------------------------------------------


@pytest.mark.parametrize("desired, maximum_percent, expected", [
    (0, 200, 0),
    (1, 100, 1),
    (1, 200, 2),
    (1, 150, 1),     # 1.5 → 1
    (3, 200, 6),
    (3, 125, 3),     # 3.75 → 3: the ref's "max 125% of 3 → can't start any"
    (3, 150, 4),     # 4.5 → 4
    (4, 100, 4),
    (4, 150, 6),
    (5, 110, 5),     # 5.5 → 5
    (10, 133, 13),   # 13.3 → 13
    (7, 199, 13),    # 13.93 → 13 (floor, never rounds up)
    (400, 200, 800),
])
def test_max_tasks(desired, maximum_percent, expected):
    assert max_tasks(desired, maximum_percent) == expected


# -- min_healthy: ceil(desired × minimumHealthyPercent / 100) --------------------------------------


@pytest.mark.parametrize("desired, minimum_healthy_percent, expected", [
    (0, 100, 0),
    (1, 0, 0),
    (1, 1, 1),       # 0.01 → 1 (ceil)
    (1, 50, 1),
    (1, 100, 1),
    (2, 75, 2),      # 1.5 → 2: the ref's "min 75% of 2 → can't stop any"
    (3, 100, 3),
    (3, 50, 2),      # 1.5 → 2
    (4, 50, 2),
    (4, 0, 0),
    (5, 33, 2),      # 1.65 → 2
    (10, 90, 9),
    (400, 100, 400),
])
def test_min_healthy(desired, minimum_healthy_percent, expected):
    assert min_healthy(desired, minimum_healthy_percent) == expected


# The worked examples of rollout.py's docstring: (desired, min%, max%) → (min_healthy, max_tasks), and
# whether a rolling update can make any progress at all from "all old tasks healthy, no new task"
# (room to start a task, or healthy tasks above the floor to stop one).
@pytest.mark.parametrize("desired, min_pct, max_pct, floor, ceiling, can_progress", [
    (3, 100, 200, 3, 6, True),   # start 3 new, then stop 3 old as they become healthy
    (4, 50, 100, 2, 4, True),    # stop 2 old, start 2 new, repeat
    (2, 75, 100, 2, 2, False),   # stalls
    (3, 100, 125, 3, 3, False),  # stalls
    (1, 0, 100, 0, 1, True),     # stop the old one, start the new one
    (2, 100, 100, 2, 2, False),  # both 100%: the ref's stall example
    (4, 0, 100, 0, 4, True),
])
def test_worked_examples(desired, min_pct, max_pct, floor, ceiling, can_progress):
    assert min_healthy(desired, min_pct) == floor
    assert max_tasks(desired, max_pct) == ceiling
    room_to_start = ceiling - desired > 0
    room_to_stop = desired - floor > 0
    assert (room_to_start or room_to_stop) is can_progress


@pytest.mark.parametrize("desired", [0, 1, 2, 3, 7, 10, 99, 400])
def test_default_replica_bounds_are_desired_and_twice_desired(desired):
    cfg = DeploymentConfig()
    assert (cfg.minimum_healthy_percent, cfg.maximum_percent) == (100, 200)
    assert min_healthy(desired, cfg.minimum_healthy_percent) == desired
    assert max_tasks(desired, cfg.maximum_percent) == 2 * desired
    assert cfg.circuit_breaker_enable is False and cfg.circuit_breaker_rollback is False


@pytest.mark.parametrize("desired", range(0, 60))
@pytest.mark.parametrize("pct", [0, 1, 25, 33, 50, 66, 75, 99, 100, 101, 125, 150, 199, 200])
def test_bounds_round_the_safe_way(desired, pct):
    """The ceiling never exceeds the exact value and the floor never falls below it."""
    exact = desired * pct / 100
    assert max_tasks(desired, pct) <= exact < max_tasks(desired, pct) + 1
    assert min_healthy(desired, pct) - 1 < exact <= min_healthy(desired, pct)


# -- launch_delay: immediate retries, then doubling from 5 s, capped at 15 minutes ------------------


@pytest.mark.parametrize("failures, delay", [
    (0, 0.0),
    (1, 0.0),
    (2, 0.0),
    (3, 5.0),
    (4, 10.0),
    (5, 20.0),
    (6, 40.0),
    (9, 320.0),
    (10, 640.0),
    (11, 900.0),   # 1280 capped to 15 minutes
    (12, 900.0),
    (50, 900.0),
    (1000, 900.0),
    (1026, 900.0),
])
def test_launch_delay(failures, delay):
    assert launch_delay(failures) == delay


def test_launch_delay_cap_is_fifteen_minutes_and_growth_is_monotonic():
    assert LAUNCH_BACKOFF_MAX == 900.0 == launch_delay(1026)
    delays = [launch_delay(n) for n in range(0, 1027)]
    assert delays == sorted(delays)
    assert max(delays) == 900.0


@pytest.mark.parametrize("failures", [1027, 10_000])
def test_launch_delay_stays_capped_after_very_many_failures(failures):
    assert launch_delay(failures) == 900.0


@pytest.mark.parametrize("failures, cap, delay", [
    (3, 60.0, 5.0),
    (6, 60.0, 40.0),
    (7, 60.0, 60.0),
    (20, 1.0, 1.0),
    (2, 1.0, 0.0),
])
def test_launch_delay_custom_cap(failures, cap, delay):
    assert launch_delay(failures, cap=cap) == delay


# -- circuit breaker threshold: ceil(0.5 × desired) clamped to [3, 200] ----------------------------


@pytest.mark.parametrize("desired, threshold", [
    (0, 3),
    (1, 3),        # the ref's example (current API reference; the 2023 guide's minimum 10 is not used)
    (2, 3),
    (5, 3),
    (6, 3),
    (7, 4),        # 3.5 → 4
    (10, 5),
    (25, 13),      # 12.5 → 13
    (26, 13),
    (100, 50),
    (399, 200),    # 199.5 → 200
    (400, 200),
    (401, 200),
    (10_000, 200),
])
def test_circuit_breaker_threshold(desired, threshold):
    assert circuit_breaker_threshold(desired) == threshold


def test_circuit_breaker_clamp_constants():
    assert (CIRCUIT_BREAKER_MIN, CIRCUIT_BREAKER_MAX) == (3, 200)
    assert all(3 <= circuit_breaker_threshold(d) <= 200 for d in range(0, 1000))
