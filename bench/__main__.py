"""``python -m bench [NAME ...]``: run every benchmark, or those named; print one line per figure and a
summary table. Exit status: 0 when every benchmark was measured (missed targets included: this is a
report), 1 when one could not be measured, 2 for a usage error, 130 when interrupted."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import common as C
from bench import placement
from bench import idle, lb, replace, restart, runtask, services30

BENCHMARKS: dict[str, Callable[[], None]] = {
    runtask.NAME: runtask.run,
    placement.NAME: placement.run,
    services30.NAME: services30.run,
    replace.NAME: replace.run,
    idle.NAME: idle.run,
    lb.NAME: lb.run,
    restart.NAME: restart.run,
}

USAGE = f"""usage: python -m bench [NAME ...]

Benchmarks: {", ".join(BENCHMARKS)} (default: all).
Environment: BENCH_RUNS timed runs per measurement (default {C.DEFAULT_RUNS}); BENCH_RUNS_SLOW for services30
(default {C.DEFAULT_RUNS_SLOW}); BENCH_IDLE_SECONDS the idle sampling window (default 30).
Every figure is a ratio against a baseline measured in the same run; see bench/README.md."""


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    if "--list" in argv:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [a for a in argv if a not in BENCHMARKS]
    if unknown:
        print(f"bench: unknown benchmark(s): {', '.join(unknown)}\n\n{USAGE}", file=sys.stderr)
        return 2
    names = list(dict.fromkeys(argv)) or list(BENCHMARKS)
    try:
        C.runs()  # validate BENCH_RUNS* before starting anything
        C.runs_slow()
        C.idle_seconds()
    except C.BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    with C.sigterm_as_interrupt():
        try:
            for name in names:
                try:
                    BENCHMARKS[name]()
                except C.BenchError as e:
                    C.ERRORS.append((name, str(e)))
                    print(f"{name}: ERROR {e}", flush=True)
        except KeyboardInterrupt:
            print("\nbench: interrupted (everything it started has been cleaned up)", file=sys.stderr)
            if C.RESULTS:
                C.print_summary()
            return 130
    C.print_summary()
    return 1 if C.ERRORS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
