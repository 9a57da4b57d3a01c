#!/usr/bin/env python3
"""One table of every row of issue 23's targets (and the harness's other goals) from one
`bench/run.sh`: bench.py's results JSON and controller-scale's `--json`. Each row shows Volley's
figure, k6's and the ratio where there is one, the goal and met / missed; a row this run did
not measure says so and how to run it. See bench/README.md, "Summary".

    python3 bench/summary.py [--bench RESULTS.json] [--controller CONTROLLER.json] [--out FILE.md]

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

# The rows' goals, as issue 23 states them (bench.py and controller-scale judge them).
THROUGHPUT_GOALS = {64: 5.0, 256: 4.0, 1000: 4.0}
SCALE_HOW = ("`--only scale --scale-sleep-vus 100000 --scale-conn-vus 15000 --scale-vus 0 "
             "--scale-duration 300` (the 5-minute run; `--scale` for the 30 s rows)")


def num(v: Any) -> float | None:
    """A finite number, else None (JSON has no NaN: controller-scale writes null)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def fmt(v: Any, decimals: int = 0, unit: str = "") -> str:
    n = num(v)
    if n is None:
        return "–"
    return f"{n:,.{decimals}f}{unit}"


def ratio(a: Any, b: Any) -> float | None:
    a, b = num(a), num(b)
    return None if a is None or b is None or b == 0 else a / b


def verdict(met: Any) -> str:
    if met is True:
        return "met"
    if met is False:
        return "missed"
    return "not measured"


def row(name: str, volley: str = "–", k6: str = "–", r: str = "–", goal: str = "",
        result: str = "", note: str = "") -> dict[str, str]:
    return {"row": name, "volley": volley, "k6": k6, "ratio": r, "goal": goal, "verdict": result,
            "note": note}


class Bench:
    """bench.py's results: medians per benchmark, config and tool; its target verdicts."""

    def __init__(self, data: dict[str, Any] | None):
        self.data = data or {}
        self.ran = set(self.data.get("benchmarks", []))
        self.med = self.data.get("medians", {})
        self.targets = self.data.get("targets", [])

    def get(self, bench: str, config: str, tool: str, key: str) -> Any:
        return self.med.get(bench, {}).get(config, {}).get(tool, {}).get(key)

    def measured(self, bench: str, config: str) -> bool:
        return config in self.med.get(bench, {})

    def target(self, bench: str, name: str, config: str | None = None) -> dict[str, Any] | None:
        for t in self.targets:
            if t.get("bench") == bench and t.get("name") == name and (
                    config is None or t.get("config") == config):
                return t
        return None

    def met(self, bench: str, name: str, config: str | None = None) -> str:
        t = self.target(bench, name, config)
        return verdict(t.get("met") if t else None)


def not_run(name: str, goal: str, how: str) -> dict[str, str]:
    return row(name, goal=goal, result="not run", note=f"run it with {how}")


def bench_rows(b: Bench) -> list[dict[str, str]]:
    rows = []
    for vus, want in THROUGHPUT_GOALS.items():
        name, config, goal = f"req/s per core, {vus:,} VUs", f"{vus:,} VUs", f"≥ {want:g}× k6"
        if not b.measured("throughput", config):
            rows.append(not_run(name, goal, "`--only throughput`"))
            continue
        v, k = b.get("throughput", config, "volley", "rps"), b.get("throughput", config, "k6", "rps")
        rows.append(row(name, fmt(v), fmt(k), fmt(ratio(v, k), 2, "×"), goal,
                        b.met("throughput", "volley/k6 req/s", config)))
    name, config, goal = "generator CPU per request, 64 VUs", "64 VUs", "≤ 20 µs"
    if b.measured("throughput", config):
        v = b.get("throughput", config, "volley", "cpu_us_per_req")
        k = b.get("throughput", config, "k6", "cpu_us_per_req")
        rows.append(row(name, fmt(v, 1, " µs"), fmt(k, 1, " µs"), fmt(ratio(v, k), 2, "×"), goal,
                        b.met("throughput", "volley CPU µs per request", config)))
    else:
        rows.append(not_run(name, goal, "`--only throughput`"))
    for vus in (1000, 10000):
        name, config, goal = f"RSS per VU, {vus:,} VUs sleeping", f"{vus:,} VUs", "≤ 0.4× k6"
        if not b.measured("memory", config):
            how = "`--only memory` (not `--quick`)" if vus == 10000 else "`--only memory`"
            rows.append(not_run(name, goal, how))
            continue
        v = b.get("memory", config, "volley", "rss_per_vu_kib")
        k = b.get("memory", config, "k6", "rss_per_vu_kib")
        note = "" if num(k) is not None else "k6 could not sustain this load on one core"
        rows.append(row(name, fmt(v, 1, " KiB"), fmt(k, 1, " KiB"), fmt(ratio(v, k), 2, "×"), goal,
                        b.met("memory", "volley RSS/VU ÷ k6 RSS/VU", config), note))
    name, goal = "VUs on one agent, mostly sleeping, 5 min, no error", "100,000 for 300 s"
    t = b.target("scale", "volley VUs on one generator, mostly sleeping, no error")
    if "scale" not in b.ran or t is None:
        rows.append(not_run(name, goal, SCALE_HOW))
    else:
        longest = max((d.get("duration_s") or 0 for tools in b.med.get("scale", {}).values()
                       for tool, d in tools.items()
                       if tool == "volley" and d.get("vus") == t.get("value")
                       and d.get("ok_rounds") == d.get("rounds")),
                      default=0)
        rows.append(row(name, f"{fmt(t.get('value'))} VUs for {fmt(longest)} s", goal=goal,
                        result=verdict(t.get("met"))))
    return rows


def startup_s_per_vu(b: Bench) -> float | None:
    """This run's Volley start-up per VU (the startup row: 10,000 VUs on one core), s."""
    s = num(b.get("startup", "10,000 VUs", "volley", "startup_s"))
    return None if s is None else s / 10000


def controller_rows(c: dict[str, Any] | None, b: Bench) -> list[dict[str, str]]:
    rows = []
    curve = (c or {}).get("curve")
    name = "agents on one controller, 1 s batches, one core"
    goal = "5,000 (lag p99 ≤ 100 ms, exact, no AGENT_LOST)"
    if not curve:
        rows.append(not_run(name, goal, "`--only controller`"))
        rows.append(not_run("where one controller saturates", "reported", "`--only controller`"))
    else:
        held = curve.get("largest_held")
        measured = ", ".join(f"{n:,}" for n in curve.get("measured", []))
        note = f"measured at {measured}"
        if not curve.get("one_core"):
            note += "; the controller was not pinned to one core"
        skipped = (c or {}).get("skipped") or []
        if skipped:
            note += "; skipped " + ", ".join(f"{s['agents']:,}" for s in skipped) + " (open files)"
        rows.append(row(name, "none held" if held is None else f"{held:,} agents", goal=goal,
                        result="met" if curve.get("met") else "missed", note=note))
        sat = curve.get("saturation")
        if sat:
            text = (f"{sat['agents']:,} agents: run {fmt(sat.get('run_cores'), 2)} cores, "
                    f"lag p99 {fmt(sat.get('lag_p99_ms'))} ms, {sat.get('status')}")
            rows.append(row("where one controller saturates", text, goal="reported",
                            result="reported", note="; ".join(sat.get("why", []))))
        else:
            top = max(curve.get("measured", []), default=0)
            rows.append(row("where one controller saturates", f"not up to {top:,} agents",
                            goal="reported", result="reported"))
    rs = (c or {}).get("run_start")
    name = "run start: submit → all agents RUNNING, 100 agents × 1,000 VUs"
    goal = "≤ 2 s plus the VUs' init"
    if not rs:
        rows.append(not_run(name, goal, "`--only controller` (controller-scale `--run-start 100x1000`)"))
    else:
        per_vu = startup_s_per_vu(b)
        if per_vu is not None:
            init = per_vu * rs["vus_per_agent"]
            source = "this run's startup row"
        else:
            init = rs.get("init_s_estimate")
            source = "the startup row in docs/benchmarks.md"
        name = (f"run start: submit → all agents RUNNING, {rs['agents']:,} agents × "
                f"{rs['vus_per_agent']:,} VUs")
        text = f"p50 {fmt(rs.get('p50_s'), 2)} s, max {fmt(rs.get('max_s'), 2)} s"
        note = (f"{len(rs.get('trials', []))} trials; plus the VUs' init ≈ {fmt(init, 2)} s "
                f"({rs['vus_per_agent']:,} VUs per agent at {source}'s pace)")
        rows.append(row(name, text, goal=goal, result="met" if rs.get("met") else "missed", note=note))
    return rows


def other_rows(b: Bench) -> list[dict[str, str]]:
    """bench.py's goals outside issue 23's table."""
    rows = []
    if b.measured("startup", "10,000 VUs"):
        v = b.get("startup", "10,000 VUs", "volley", "startup_s")
        k = b.get("startup", "10,000 VUs", "k6", "startup_s")
        rows.append(row("start-up, 10,000 VUs, process start → setup()", fmt(v, 2, " s"),
                        fmt(k, 2, " s"), fmt(ratio(v, k), 2, "×"), "≤ 2 s",
                        b.met("startup", "volley startup s")))
    if b.measured("arrival", "5,000/s"):
        v = b.get("arrival", "5,000/s", "volley", "error_pct")
        k = b.get("arrival", "5,000/s", "k6", "error_pct")
        dropped = b.get("arrival", "5,000/s", "volley", "dropped")
        rows.append(row("arrival rate 5,000/s: iteration count error", fmt(v, 3, " %"), fmt(k, 3, " %"),
                        goal="≤ 0.5 %, 0 dropped", result=b.met("arrival", "volley iteration count error %"),
                        note=f"Volley dropped {fmt(dropped)}"))
    return rows


def summary_rows(bench: dict[str, Any] | None, controller: dict[str, Any] | None) -> list[dict[str, str]]:
    b = Bench(bench)
    return bench_rows(b) + controller_rows(controller, b) + other_rows(b)


def markdown(rows: list[dict[str, str]], header: str = "") -> str:
    lines = ["## Summary: issue 23's rows" + (f" — {header}" if header else ""), "",
             "| row | Volley | k6 | Volley ÷ k6 | goal | verdict | note |",
             "|---|---:|---:|---:|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(r[k] for k in ("row", "volley", "k6", "ratio", "goal", "verdict",
                                                       "note")) + " |")
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in ("met", "missed", "reported",
                                                                     "not measured", "not run")}
    lines += ["", "- " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)]
    return "\n".join(lines) + "\n"


def load(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    if not path.exists():
        print(f"summary: no {what} at {path} (its rows are shown as not run)", file=sys.stderr)
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"summary: {path} ({what}) is not readable JSON: {e}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="One table of every row of issue 23's targets.")
    ap.add_argument("--bench", type=Path, help="bench.py's results JSON (bench/results/STAMP.json)")
    ap.add_argument("--controller", type=Path, help="controller-scale's --json output")
    ap.add_argument("--out", type=Path, help="also write the table here (and FILE.json beside it)")
    args = ap.parse_args(argv)
    bench = load(args.bench, "bench.py results")
    controller = load(args.controller, "controller-scale results")
    header = ""
    if bench and bench.get("machine"):
        m = bench["machine"]
        header = f"{m.get('date_utc', '')}, git {m.get('git_commit') or 'n/a'}"
    rows = summary_rows(bench, controller)
    md = markdown(rows, header)
    print(md, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(md)
        args.out.with_suffix(".json").write_text(json.dumps({"rows": rows}, indent=2, ensure_ascii=False) + "\n")
        print(f"summary: {args.out} and {args.out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
