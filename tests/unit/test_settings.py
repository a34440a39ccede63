"""``Settings.from_env``: every MINECS_* setting parsed once, defaults kept, bad values reported by name."""

from __future__ import annotations

import pytest

from orchestrator.settings import Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.task_cleanup_wait, s.stopped_task_retention, s.task_settle_seconds) == (600.0, 3600.0, 40.0)
    assert (s.pause_pool, s.pause_pool_max, s.lb_uvloop, s.problems) == (2, 32, True, ())


def test_values_are_parsed() -> None:
    s = Settings.from_env({"MINECS_TASK_CLEANUP_WAIT": "1.5", "MINECS_STOPPED_TASK_RETENTION": "0",
                           "MINECS_TASK_SETTLE_SECONDS": " 3 ", "MINECS_PAUSE_POOL": "0",
                           "MINECS_PAUSE_POOL_MAX": "8", "MINECS_LB_UVLOOP": "off", "UNRELATED": "x"})
    assert s == Settings(task_cleanup_wait=1.5, stopped_task_retention=0.0, task_settle_seconds=3.0,
                         pause_pool=0, pause_pool_max=8, lb_uvloop=False)
    assert s.problems == ()


@pytest.mark.parametrize("name, raw", [
    ("MINECS_TASK_CLEANUP_WAIT", "ten"), ("MINECS_TASK_CLEANUP_WAIT", "-1"), ("MINECS_TASK_SETTLE_SECONDS", "nan"),
    ("MINECS_PAUSE_POOL", "2.5"), ("MINECS_PAUSE_POOL_MAX", "-3"), ("MINECS_LB_UVLOOP", "maybe"),
])
def test_a_bad_value_keeps_the_default_and_is_reported_by_name(name, raw) -> None:
    s = Settings.from_env({name: raw})
    assert s == Settings()
    (problem,) = s.problems
    assert problem.startswith(f"{name}={raw!r} is ignored") and "using the default" in problem
