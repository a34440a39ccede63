"""lb: requests per second and p99 latency through the minecs ALB data plane against an nginx reverse proxy,
over the same two fast backends, in the same run.

backends: one nginx process (1 worker) serving two ports on 127.0.0.1, each answering ``GET /`` with a fixed
          21-byte body (keep-alive, no access log): fast enough that the proxies, not the backends, limit.
minecs:   ``orchestrator.services.elbv2.dataplane.proxy.DataPlane`` in its own process (``python -m bench.lb --serve``, the way
          the control plane hosts it), one listener whose default action forwards to a target group of the
          two backends (round robin, health checks every 5 s, waited healthy before measuring).
baseline: nginx (Debian package; ``apt-get install -y nginx`` when it is missing and the bench runs as root)
          as a non-daemon child with a temporary configuration: 1 worker process (the data plane is one
          event loop on one core), ``upstream`` of the two backends with ``keepalive 64``, HTTP/1.1 upstream,
          X-Forwarded-For/Proto/Port set, no access log.

Load: ``wrk -t1 -c32 -d<D>s --latency`` (Debian ``wrk``, installed the same way when missing), else a small
Python multi-process keep-alive client measuring the same things; the same generator for both sides. 32
keep-alive connections, ``GET /``, fixed duration D = BENCH_LB_SECONDS (default 5) per run. One warm-up run
each, then BENCH_RUNS (default 7) runs interleaved minecs, nginx, minecs, ...

Figures (ratios of medians): the time 10,000 requests take at the measured throughput (so the throughput
target minecs/nginx >= 0.5 reads as <= 2x here), and the p99 latency (target <= 2x). Reported alongside:
requests/s, the CPU each proxy process used while loaded, and with BENCH_LB_PROFILE=1 a cProfile of the
data plane's loop thread over one extra, untimed run (top functions by own time).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import common as C

NAME = "lb"
CONNECTIONS = 32
REQUESTS_PER_FIGURE = 10_000
TARGET_TIME = 2.0      # time per 10k requests minecs/nginx <= 2  <=>  throughput minecs/nginx >= 0.5
TARGET_P99 = 2.0
NGINX_WORKERS = 1
BODY = "hello from backend X\n"  # 21 bytes, X = 1 or 2


def seconds() -> int:
    return C._positive_env("BENCH_LB_SECONDS", 5)


# -- results -------------------------------------------------------------------------------------------

@dataclass
class Load:
    rps: float
    p99: float       # seconds
    p50: float
    requests: int
    errors: int


class _MsFigure(C.Figure):
    """A figure in seconds printed in milliseconds (latencies of a few ms would read 0.00 s)."""

    def fmt(self, value: float, digits: int = 2) -> str:
        return f"{value * 1000:.{digits}f} ms"


def _report_ms(bench: str, what: str, value: float, baseline_what: str, baseline: float, *, target: float,
               runs: int) -> None:
    """``common.report`` for a figure shown in milliseconds (same line format, same summary entry)."""
    f = _MsFigure(bench, what, value, baseline_what, baseline, target, runs)
    C.RESULTS.append(f)
    line = (f"{bench}: {what} median {f.fmt(value)} vs {baseline_what} median {f.fmt(baseline)} "
            f"-> ratio {f.ratio:.2f}x (target: {f.target_text}) [{runs} runs]")
    print(line + ("  MISSED" if f.missed else ""), flush=True)


# -- tools ---------------------------------------------------------------------------------------------

def _which(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)),
                                      None)


def _apt_install(package: str) -> None:
    """``apt-get install -y <package>`` (root only), with a temporary policy-rc.d so the package's own
    service (a system nginx on 0.0.0.0:80) is not started."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = False
    if not policy.exists():
        with contextlib.suppress(OSError):
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
            made_policy = True
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        C.progress(f"{NAME}: apt-get install -y {package}")
        argv = ["apt-get", "install", "-y", "--no-install-recommends", package]
        if subprocess.run(argv, env=env, capture_output=True, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
            subprocess.run(argv, env=env, capture_output=True, timeout=600)
    finally:
        if made_policy:
            with contextlib.suppress(OSError):
                policy.unlink()


def _tool(name: str, package: str) -> str | None:
    path = _which(name)
    if path is None:
        _apt_install(package)
        path = _which(name)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise C.BenchError(f"process on port {port} exited {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                data = s.recv(4096)
                if data.startswith(b"HTTP/1.1 200"):
                    return
                last = data[:60].decode("latin-1")
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise C.BenchError(f"nothing answered 200 on 127.0.0.1:{port} within {timeout:.0f}s ({last})")


# -- nginx ---------------------------------------------------------------------------------------------

_NGINX_COMMON = """
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
{body}
}}
"""

_BACKENDS = """
    server {{ listen 127.0.0.1:{p1}; location / {{ default_type text/plain; return 200 "{b1}"; }} }}
    server {{ listen 127.0.0.1:{p2}; location / {{ default_type text/plain; return 200 "{b2}"; }} }}
"""

_PROXY = """
    upstream backends {{ server 127.0.0.1:{p1}; server 127.0.0.1:{p2}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
        }}
    }}
"""


class Nginx:
    """An nginx master (non-daemon child) with ``body`` as its http block, in a temporary prefix."""

    def __init__(self, binary: str, body: str, *, workers: int = 1) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="minecs-bench-nginx-"))
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = _NGINX_COMMON.format(workers=workers, dir=self.dir, user=user, body=body)
        (self.dir / "nginx.conf").write_text(conf)
        self.argv = [binary, "-p", f"{self.dir}/", "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "error.log")]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        return self

    def workers(self) -> list[int]:
        """The worker processes' pids (children of the master)."""
        if self.proc is None:
            return []
        with contextlib.suppress(OSError):
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        return []

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.terminate()
                self.proc.wait(timeout=10)
            with contextlib.suppress(Exception):
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def error_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "error.log").read_text()[-500:]
        return ""


# -- the minecs data plane in its own process ---------------------------------------------------------

class MinecsProxy:
    def __init__(self, port: int, backends: tuple[int, int], profile: Path | None = None) -> None:
        self.argv = [C.PY, "-m", "bench.lb", "--serve", str(port), str(backends[0]), str(backends[1])]
        if profile is not None:
            self.argv += ["--profile", str(profile)]
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> MinecsProxy:
        self.proc = subprocess.Popen(self.argv, cwd=C.REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("ready"):
            err = ""
            with contextlib.suppress(Exception):
                self.proc.kill()
                err = self.proc.communicate(timeout=5)[1]
            raise C.BenchError(f"the minecs data plane did not start: {line.strip()} {err.strip()[-500:]}")
        self.info = line.split(None, 1)[1].strip() if " " in line else ""
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            self.proc.stdin.close()  # serve() stops the data plane (and writes its profile) at EOF
            self.proc.wait(timeout=15)
        with contextlib.suppress(Exception):
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                f.close()


def serve(port: int, b1: int, b2: int, profile: str | None) -> None:
    """``python -m bench.lb --serve PORT B1 B2``: the data plane with one listener forwarding to the two
    backends; prints ``ready`` once both targets are healthy, runs until stdin closes."""
    from orchestrator.services.elbv2.dataplane.model import (Action, HealthCheck, Listener, LoadBalancer, Rule, Snapshot, Target, TargetGroup,
                                       WeightedGroup)
    from orchestrator.services.elbv2.dataplane.proxy import DataPlane

    dp = DataPlane()
    if profile:
        import cProfile
        run = dp._run
        prof = cProfile.Profile()

        def profiled(ready: object) -> None:
            prof.enable()
            try:
                run(ready)  # type: ignore[arg-type]
            finally:
                prof.disable()
                prof.dump_stats(profile)

        dp._run = profiled  # type: ignore[method-assign]
    targets = (Target("127.0.0.1", b1), Target("127.0.0.1", b2))
    tg = TargetGroup("arn:minecs:elasticloadbalancing:bench:targetgroup/bench/1", "bench", 80,
                     health=HealthCheck(path="/", interval=5, timeout=2, healthy_threshold=2), targets=targets)
    listener = Listener("arn:minecs:elasticloadbalancing:bench:listener/app/bench/1/1", port,
                        (Rule("arn:default", None, (), Action("forward", (WeightedGroup(tg.arn, 1),))),))
    dp.start()
    try:
        errors = dp.apply(Snapshot((LoadBalancer("arn:lb/bench", "bench", (listener,)),), (tg,)))
        if errors:
            print(f"error {errors}", flush=True)
            return
        deadline = time.monotonic() + 20
        while any(s != "healthy" for _, s, _, _ in dp.target_health(tg.arn)):
            if time.monotonic() > deadline:
                print(f"error targets not healthy: {dp.target_health(tg.arn)}", flush=True)
                return
            time.sleep(0.02)
        print(f"ready uvloop={'on' if dp.use_uvloop else 'off'}", flush=True)
        sys.stdin.read()
    finally:
        dp.stop()


# -- load generators -----------------------------------------------------------------------------------

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _wrk_seconds(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise C.BenchError(f"cannot read wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(wrk: str, port: int, duration: int) -> Load:
    argv = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/"]
    out = C.run_timed(argv, timeout=duration + 60).proc.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    if not (rps and p99 and p50 and total):
        raise C.BenchError(f"cannot read wrk's output: {out[-500:]}")
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return Load(float(rps.group(1)), _wrk_seconds(p99.group(1)), _wrk_seconds(p50.group(1)), int(total.group(1)), errors)


def run_python_load(port: int, duration: int) -> Load:
    """The fallback generator: 2 processes x 16 keep-alive connections of ``--load`` clients."""
    procs = max(1, min(2, os.cpu_count() or 1))
    per = CONNECTIONS // procs
    children = [subprocess.Popen([C.PY, "-m", "bench.lb", "--load", str(port), str(per), str(duration)],
                                 cwd=C.REPO, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    results = []
    for p in children:
        out, _ = p.communicate(timeout=duration + 60)
        if p.returncode != 0:
            raise C.BenchError(f"the Python load generator exited {p.returncode}")
        results.append(json.loads(out))
    lat = sorted(x for r in results for x in r["latencies"])
    if not lat:
        raise C.BenchError("the Python load generator completed no request")
    total = sum(r["requests"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    return Load(total / elapsed, lat[min(len(lat) - 1, int(len(lat) * 0.99))], lat[len(lat) // 2], total,
                sum(r["errors"] for r in results))


def load_main(port: int, conns: int, duration: float) -> None:
    """``python -m bench.lb --load PORT CONNS SECONDS``: keep-alive ``GET /`` loops; JSON result on stdout."""
    import asyncio

    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}

    async def one(deadline: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        clock = time.perf_counter
        while clock() < deadline:
            t0 = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if m:
                await reader.readexactly(int(m.group(1)))
            latencies.append(clock() - t0)
            counts["requests"] += 1
            if not head.startswith(b"HTTP/1.1 2"):
                counts["errors"] += 1
        writer.close()

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(t0 + duration) for _ in range(conns)))
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    print(json.dumps({**counts, "elapsed": elapsed, "latencies": latencies}))


# -- the benchmark -------------------------------------------------------------------------------------

def run() -> None:
    n = C.runs()
    duration = seconds()
    nginx = _tool("nginx", "nginx")
    if nginx is None:
        raise C.BenchError("nginx is not installed (apt-get install nginx; the bench installs it only as root)")
    wrk = _tool("wrk", "wrk")
    generator = "wrk -t1" if wrk else "Python keep-alive client (2 processes)"
    b1, b2, p_minecs, p_nginx = (_free_port() for _ in range(4))

    def load(port: int) -> Load:
        result = run_wrk(wrk, port, duration) if wrk else run_python_load(port, duration)
        if result.errors > result.requests * 0.001:
            raise C.BenchError(f"{result.errors} failed requests out of {result.requests} on port {port}")
        return result

    backends_conf = _BACKENDS.format(p1=b1, p2=b2, b1=BODY.replace("X", "1").replace("\n", "\\n"),
                                     b2=BODY.replace("X", "2").replace("\n", "\\n"))
    with contextlib.ExitStack() as stack:
        origin = stack.enter_context(Nginx(nginx, backends_conf, workers=1))
        front = stack.enter_context(Nginx(nginx, _PROXY.format(p1=b1, p2=b2, port=p_nginx), workers=NGINX_WORKERS))
        for port, proc, what in ((b1, origin, "backend nginx"), (b2, origin, "backend nginx"),
                                 (p_nginx, front, "nginx proxy")):
            try:
                _wait_http(port, proc=proc.proc)
            except C.BenchError as e:
                raise C.BenchError(f"{what}: {e}; {proc.error_tail()}") from None
        minecs = stack.enter_context(MinecsProxy(p_minecs, (b1, b2)))
        _wait_http(p_minecs, proc=minecs.proc)
        meter = C.CpuMeter({"minecs": [minecs.pid], "nginx": front.workers(), "backends": origin.workers()})

        C.progress(f"{NAME}: warm-up ({duration} s each, {generator}, {CONNECTIONS} connections)")
        load(p_minecs)
        load(p_nginx)
        m_runs: list[Load] = []
        n_runs: list[Load] = []
        m_cpu: list[dict[str, float]] = []
        n_cpu: list[dict[str, float]] = []
        for i in range(n):
            for port, runs, cpus, label in ((p_minecs, m_runs, m_cpu, "minecs"), (p_nginx, n_runs, n_cpu, "nginx")):
                a = meter.snap()
                r = load(port)
                cpus.append(C.CpuMeter.percent(a, meter.snap()))
                runs.append(r)
                C.progress(f"{NAME}: run {i + 1}/{n} {label}: {r.rps:,.0f} req/s, p50 {r.p50 * 1000:.2f} ms, "
                           f"p99 {r.p99 * 1000:.2f} ms")
                C.settle()
        info_uvloop = minecs.info

    m_rps = C.median([r.rps for r in m_runs])
    n_rps = C.median([r.rps for r in n_runs])
    C.report(NAME, f"minecs data plane: time for {REQUESTS_PER_FIGURE:,} requests ({CONNECTIONS} keep-alive "
                   f"connections)", C.median([REQUESTS_PER_FIGURE / r.rps for r in m_runs]),
             "nginx proxy", C.median([REQUESTS_PER_FIGURE / r.rps for r in n_runs]), target=TARGET_TIME, runs=n)
    C.info(NAME, f"throughput: minecs {m_rps:,.0f} req/s vs nginx {n_rps:,.0f} req/s -> minecs/nginx "
                 f"{m_rps / n_rps:.2f} (target >= {1 / TARGET_TIME:g}; {'met' if m_rps / n_rps >= 1 / TARGET_TIME else 'MISSED'})")
    def rps_spread(runs: list[Load]) -> str:
        v = [r.rps for r in runs]
        return f"min {min(v):,.0f} / median {C.median(v):,.0f} / max {max(v):,.0f} req/s"

    C.info(NAME, f"runs: minecs {rps_spread(m_runs)}; nginx {rps_spread(n_runs)}")
    _report_ms(NAME, f"minecs data plane: p99 latency ({CONNECTIONS} connections, full load)",
               C.median([r.p99 for r in m_runs]), "nginx proxy", C.median([r.p99 for r in n_runs]),
               target=TARGET_P99, runs=n)
    C.info(NAME, f"p50 latency: minecs {C.median([r.p50 for r in m_runs]) * 1000:.2f} ms vs nginx "
                 f"{C.median([r.p50 for r in n_runs]) * 1000:.2f} ms")

    def cpu(samples: list[dict[str, float]], key: str) -> float:
        return C.median([s[key] for s in samples])

    C.info(NAME, f"CPU while loaded (% of one core, medians): minecs process {cpu(m_cpu, 'minecs'):.0f}%, "
                 f"backends {cpu(m_cpu, 'backends'):.0f}%, machine {cpu(m_cpu, 'host'):.0f}% | nginx worker "
                 f"{cpu(n_cpu, 'nginx'):.0f}%, backends {cpu(n_cpu, 'backends'):.0f}%, machine {cpu(n_cpu, 'host'):.0f}%")
    C.info(NAME, f"per request: minecs {cpu(m_cpu, 'minecs') / 100 / m_rps * 1e6:.0f} us of CPU, nginx "
                 f"{cpu(n_cpu, 'nginx') / 100 / n_rps * 1e6:.0f} us (process CPU / throughput)")
    C.info(NAME, f"setup: {generator}, {duration} s per run, {os.cpu_count()} CPUs; nginx {NGINX_WORKERS} worker "
                 f"(backends: a second nginx, 1 worker); minecs data plane {info_uvloop}")

    if os.environ.get("BENCH_LB_PROFILE", "").strip() in ("1", "yes", "true"):
        _profile(b1, b2, load, nginx, backends_conf)


def _profile(b1: int, b2: int, load, nginx: str, backends_conf: str) -> None:  # type: ignore[no-untyped-def]
    """One extra untimed run of the data plane under cProfile (loop thread), top functions by own time."""
    import pstats

    port = _free_port()
    out = Path(tempfile.mkdtemp(prefix="minecs-bench-prof-")) / "lb.prof"
    try:
        with Nginx(nginx, backends_conf, workers=1) as origin:
            _wait_http(b1, proc=origin.proc)
            with MinecsProxy(port, (b1, b2), profile=out) as minecs:
                _wait_http(port, proc=minecs.proc)
                r = load(port)
        st = pstats.Stats(str(out))
        total = st.total_tt  # type: ignore[attr-defined]
        C.info(NAME, f"profile (cProfile on, {r.rps:,.0f} req/s, {total:.2f} s in the loop thread): top own time")
        rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:18]  # type: ignore[attr-defined]
        for (file, line, func), (cc, nc, tt, ct, _) in rows:
            where = f"{Path(file).name}:{line}" if line else file
            C.info(NAME, f"  {tt / total * 100:5.1f}%  {tt:6.2f} s  {nc:>9} calls  {func}  ({where})")
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--serve":
        prof = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), prof)
    elif len(sys.argv) == 5 and sys.argv[1] == "--load":
        load_main(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        print("usage: python -m bench.lb --serve PORT BACKEND1 BACKEND2 [--profile FILE] | --load PORT CONNS SECONDS",
              file=sys.stderr)
        sys.exit(2)
