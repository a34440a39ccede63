"""Deployment bounds from ECS's percentages, with worked examples.

``max_tasks``: at most floor(desired × maximumPercent / 100) tasks RUNNING or PENDING, across every
deployment of the service. ``min_healthy``: at least ceil(desired × minimumHealthyPercent / 100) tasks
RUNNING and healthy while old tasks are being replaced.

    desired  min%  max%   min_healthy  max_tasks   what a rolling update can do
    3        100   200    3            6           start 3 new, then stop 3 old as the new become healthy
    4        50    100    2            4           stop 2 old, start 2 new, repeat
    2        75    100    2            2           nothing: the deployment stalls (ECS's event)
    3        100   125    3            3           nothing: stalls
    1        0     100    0            1           stop the old one, then start the new one
"""

from __future__ import annotations

import math


def max_tasks(desired: int, maximum_percent: int) -> int:
    return math.floor(desired * maximum_percent / 100)


def min_healthy(desired: int, minimum_healthy_percent: int) -> int:
    return math.ceil(desired * minimum_healthy_percent / 100)


def launch_delay(consecutive_failures: int, cap: float = 900.0) -> float:
    """Seconds to wait before the next launch after ``consecutive_failures`` tasks failed to start.

    The first three retries are immediate (so a circuit breaker with threshold 3 trips at once); then
    5 s, 10 s, 20 s, ... up to ``cap`` (ECS's 15 minutes)."""
    if consecutive_failures < 3:
        return 0.0
    return min(cap, 5.0 * 2 ** min(consecutive_failures - 3, 20))  # cap the exponent: never overflow
