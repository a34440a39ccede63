"""Health checks of the data plane (ecs.md §9.1): one asyncio task per (target group, registered target) on the
proxy's loop, each doing ``GET <path>`` on the target (its traffic port, or the configured port) every
``interval`` seconds with ``timeout``; the outcome goes through ``health.HealthState`` (pure), and state changes
are reported through ``DataPlane.notify``.

A newly registered target is ``initial`` and checked at once; deregistered (draining) targets are not checked; a
disabled health check makes a target ``unavailable``. Unlike ELBv2, targets of a group no listener rule forwards
to are checked too (ELBv2 reports them ``unused``/``Target.NotInUse``): ECS refuses such a group for a service,
minecs does not, and its services wait for healthy targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from orchestrator.services.elbv2.dataplane import health as H
from orchestrator.services.elbv2.dataplane.model import HealthCheck, Target

if TYPE_CHECKING:
    from orchestrator.services.elbv2.dataplane.proxy import DataPlane, _Config

log = logging.getLogger("minecs.lb.health")

DISABLED_HEALTH = H.HealthState(H.UNAVAILABLE, H.HEALTH_CHECK_DISABLED, H.DESCRIPTIONS[H.HEALTH_CHECK_DISABLED])
USER_AGENT = "ELB-HealthChecker/2.0"
_EMPTY: dict[Target, str] = {}


class Prober:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self._lock = threading.Lock()  # guards the two maps below for readers on other threads
        self._states: dict[str, dict[Target, H.HealthState]] = {}  # registered targets, then draining ones
        self._routing: dict[str, dict[Target, str]] = {}  # state names, as TargetPicker wants them
        self._tasks: dict[tuple[str, Target], tuple[HealthCheck, asyncio.Task[None]]] = {}

    # -- readers

    def routing_states(self, group_arn: str) -> dict[Target, str]:
        return self._routing.get(group_arn, _EMPTY)

    def describe(self, group_arn: str) -> list[tuple[Target, str, str | None, str | None]]:
        with self._lock:
            states = self._states.get(group_arn)
            if states is None:
                return []
            return [(t, s.state, s.reason, s.description) for t, s in states.items()]

    # -- configuration (loop thread)

    def reconcile(self, old: _Config, new: _Config) -> None:
        changes: list[tuple[str, Target, H.HealthState]] = []
        states: dict[str, dict[Target, H.HealthState]] = {}
        for arn, tg in new.groups.items():
            prev = self._states.get(arn, {})
            hc = tg.health
            now: dict[Target, H.HealthState] = {}
            for t in tg.targets:
                st = prev.get(t)
                if not hc.enabled:
                    st = DISABLED_HEALTH
                elif st is None or st.state in (H.UNUSED, H.UNAVAILABLE) or st.state in H.DRAINING_STATES:
                    st = H.HealthState.registered()
                now[t] = st
            for t in tg.draining:
                if t in now:
                    continue
                st = prev.get(t) or H.HealthState.registered()
                if st.state not in H.DRAINING_STATES:
                    st = st.deregistered()
                    changes.append((arn, t, st))
                now[t] = st
            states[arn] = now
        with self._lock:
            self._states = states
            self._routing = {arn: {t: s.state for t, s in m.items()} for arn, m in states.items()}
        # probe tasks: one per checked target; restarted when the group's health check changes
        wanted = {(arn, t): tg.health for arn, tg in new.groups.items() if tg.health.enabled for t in tg.targets}
        for key, (hc, task) in list(self._tasks.items()):
            if wanted.get(key) != hc:
                task.cancel()
                del self._tasks[key]
        loop = asyncio.get_running_loop()
        for key, hc in wanted.items():
            if key not in self._tasks:
                self._tasks[key] = (hc, loop.create_task(self._run(key[0], key[1], hc)))
        for arn, t, st in changes:
            self.plane.notify(arn, t, st.state, st.reason)

    async def stop(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # -- checking (loop thread)

    async def _run(self, arn: str, target: Target, hc: HealthCheck) -> None:
        while True:
            try:
                code, timed_out = await check(target, hc)
            except Exception:  # never let one odd failure end the checks of a target
                log.exception("health check of %s:%d failed", target.ip, target.port)
                code, timed_out = None, False
            self._observe(arn, target, hc, code, timed_out)
            await asyncio.sleep(hc.interval)

    def _observe(self, arn: str, target: Target, hc: HealthCheck, code: int | None, timed_out: bool) -> None:
        with self._lock:
            states = self._states.get(arn)
            st = states.get(target) if states is not None else None
            if st is None or st.state in H.DRAINING_STATES or st.state == H.UNUSED:
                return
            new = st.observe_code(code, hc, timed_out=timed_out)
            states[target] = new
            if new.state != st.state:
                routing = dict(self._routing.get(arn, {}))
                routing[target] = new.state
                self._routing[arn] = routing
        if new.state != st.state:
            log.info("target %s:%d of %s: %s -> %s (%s)", target.ip, target.port, arn, st.state, new.state,
                     new.reason)
            self.plane.notify(arn, target, new.state, new.reason)


async def check(target: Target, hc: HealthCheck) -> tuple[int | None, bool]:
    """One health check: (status code or None, timed out)."""
    port = target.port if hc.port in ("traffic-port", "", None) else int(hc.port)
    request = (f"GET {hc.path or '/'} HTTP/1.1\r\nHost: {target.ip}:{port}\r\nUser-Agent: {USER_AGENT}\r\n"
               f"Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1")
    deadline = asyncio.get_running_loop().time() + hc.timeout
    writer: asyncio.StreamWriter | None = None
    try:
        try:
            async with asyncio.timeout_at(deadline):
                reader, writer = await asyncio.open_connection(target.ip, port)
                writer.write(request)
                line = await reader.readline()
        except TimeoutError:
            return None, True
        except (OSError, ValueError):
            return None, False
        # read the rest (within the same deadline) so the target does not write into a reset connection
        with contextlib.suppress(Exception):
            async with asyncio.timeout_at(deadline):
                while await reader.read(65536):
                    pass
    finally:
        if writer is not None:
            writer.close()
    parts = line.split(None, 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1]), False
    return None, False
