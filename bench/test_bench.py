"""Unit tests of bench.py's parsing, medians, tables and verdicts; no benchmark runs (no k6, no
wrk, no network). bench/test_summary.py has the throughput verdicts and the summary table.

    python3 -m unittest discover -s bench
"""

from __future__ import annotations

import contextlib
import io
import unittest

import bench


def ok(**metrics) -> dict:
    return {"ok_rounds": 1, "rounds": 1, "errors": [], **metrics}


def failed(error: str) -> dict:
    return {"ok_rounds": 0, "rounds": 1, "errors": [error]}


def targets_by_name(targets: list[dict]) -> dict:
    return {(t["config"], t["name"]): t for t in targets}


class MemoryVerdicts(unittest.TestCase):
    def test_the_rss_per_vu_ratio_is_judged_against_0_40(self):
        med = {"1,000 VUs": {"volley": ok(rss_per_vu_kib=100.0), "k6": ok(rss_per_vu_kib=250.0)},
               "10,000 VUs": {"volley": ok(rss_per_vu_kib=90.0), "k6": ok(rss_per_vu_kib=180.0)}}
        lines, targets = bench.ratio_lines("memory", med)
        t = targets_by_name(targets)
        self.assertIs(t[("1,000 VUs", "volley RSS/VU ÷ k6 RSS/VU")]["met"], True)  # 0.40
        self.assertIs(t[("10,000 VUs", "volley RSS/VU ÷ k6 RSS/VU")]["met"], False)  # 0.50
        self.assertIn("10,000 VUs: volley RSS/VU ÷ k6 RSS/VU: 0.500 (goal ≤ 0.40) — target missed", lines)

    def test_k6_that_could_not_sustain_the_load_leaves_the_ratio_unmeasured(self):
        med = {"10,000 VUs": {"volley": ok(rss_per_vu_kib=90.0),
                              "k6": failed("exit code 137: killed\nout of memory")}}
        lines, targets = bench.ratio_lines("memory", med)
        self.assertIsNone(targets[0]["met"])
        self.assertIn("10,000 VUs: k6 could not sustain this load on one core: exit code 137: killed / "
                      "out of memory", lines)


class StartupAndArrivalVerdicts(unittest.TestCase):
    def test_startup_is_judged_against_2_s(self):
        for volley_s, met in ((1.8, True), (2.0, True), (2.5, False)):
            med = {"10,000 VUs": {"volley": ok(startup_s=volley_s), "k6": ok(startup_s=4.5)}}
            lines, targets = bench.ratio_lines("startup", med)
            self.assertIs(targets[0]["met"], met, volley_s)
        self.assertEqual(lines[0], "10,000 VUs: k6/volley startup = 1.80×")

    def test_arrival_needs_the_count_within_half_a_percent_and_nothing_dropped(self):
        for error_pct, dropped, met in ((0.1, 0.0, True), (0.6, 0.0, False), (0.1, 5.0, False)):
            med = {"5,000/s": {"volley": ok(error_pct=error_pct, dropped=dropped),
                               "k6": ok(error_pct=0.002, dropped=0.0)}}
            lines, targets = bench.ratio_lines("arrival", med)
            self.assertIs(targets[0]["met"], met, (error_pct, dropped))
        self.assertEqual(len(targets), 1, "k6's line is for reference, not a target")
        self.assertIn("5,000/s: k6 error 0.002 %, dropped 0 (for reference)", lines)


class ScaleVerdicts(unittest.TestCase):
    def scale(self, **rows) -> tuple[list[str], dict]:
        lines, targets = bench.ratio_lines("scale", rows)
        return lines, targets[-1]

    def test_100000_vus_for_300_s_is_the_goal(self):
        _, t = self.scale(a={"volley": ok(vus=10000, duration_s=300, init_s=2.0)},
                          b={"volley": ok(vus=100000, duration_s=300, init_s=25.0)})
        self.assertEqual((t["value"], t["met"], t["config"]), (100000, True, None))
        _, t = self.scale(b={"volley": ok(vus=100000, duration_s=30, init_s=25.0)})
        self.assertIs(t["met"], False)

    def test_each_row_gives_its_init_per_vu(self):
        lines, _ = self.scale(b={"volley": ok(vus=100000, duration_s=30, init_s=25.0,
                                              rss_per_vu_kib=80.0, maps=1700, sleep_cores=0.05)})
        self.assertTrue(lines[0].startswith("b: volley init 25.0 s (250 µs per VU), 80.0 KiB per VU, "
                                            "1,700 memory mappings, 0.050 cores"), lines[0])

    def test_a_round_with_an_error_is_no_stable_run(self):
        # Three rounds at 100,000 VUs for 300 s, one of which logged an error: not "no error".
        flaky = {**ok(vus=100000, duration_s=300, init_s=25.0), "ok_rounds": 2, "rounds": 3,
                 "errors": ["1 error line(s) in the log"]}
        _, t = self.scale(b={"volley": flaky})
        self.assertIs(t["met"], False)

    def test_nothing_that_ran_is_a_missed_goal(self):
        _, t = self.scale(b={"volley": failed("not run: MemAvailable is 2,000 MiB")})
        self.assertEqual((t["value"], t["met"]), (0, False))


class Medians(unittest.TestCase):
    def rec(self, rnd: int, ok: bool = True, **metrics) -> dict:
        r = {"bench": "memory", "config": "1,000 VUs", "tool": "volley", "round": rnd, "ok": ok,
             "exit_code": 0, "timed_out": False, **metrics}
        if not ok:
            r["error"] = "exit code 1"
        return r

    def test_medians_are_over_the_rounds_that_succeeded(self):
        med = bench.medians([self.rec(1, rss_mib=100.0), self.rec(2, rss_mib=140.0),
                             self.rec(3, ok=False, rss_mib=999.0), self.rec(4, rss_mib=110.0)])
        d = med["1,000 VUs"]["volley"]
        self.assertEqual((d["rss_mib"], d["ok_rounds"], d["rounds"], d["errors"]),
                         (110.0, 3, 4, ["exit code 1"]))
        self.assertNotIn("round", d)
        self.assertNotIn("timed_out", d)

    def test_the_table_shows_a_failed_tool_and_its_rounds(self):
        med = {"1,000 VUs": {"k6": failed("killed"), "volley": ok(rss_mib=127.25, rss_per_vu_kib=130.3)}}
        rows = bench.table("memory", med).splitlines()
        self.assertTrue(rows[0].startswith("| tool | load | peak RSS MiB | RSS/VU KiB |"), rows[0])
        self.assertTrue(rows[2].startswith("| volley | 1,000 VUs | 127.2 | 130.3 | –"), rows[2])
        self.assertTrue(rows[3].startswith("| k6 | 1,000 VUs | failed | – |"), rows[3])
        self.assertTrue(rows[3].endswith("| 0/1 |"), rows[3])
        self.assertEqual(len({r.count("|") for r in rows}), 1, "every row has the header's columns")

    def test_numbers_are_formatted_for_tables(self):
        self.assertEqual(bench.fmt(None), "–")
        self.assertEqual(bench.fmt(12345.6, None), "12,346")
        self.assertEqual(bench.fmt(2.5, None), "2.50")
        self.assertEqual(bench.fmt(0.1234, 3), "0.123")


class Parsing(unittest.TestCase):
    WRK = """Running 5s test @ http://127.0.0.1:40000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us   9.00ms   90.00%
  150000 requests in 5.00s, 12.00MB read
Requests/sec:  30000.50
Transfer/sec:      2.40MB
BENCH_WRK requests=150002 duration_us=5000123 errors=3 p50_us=1150 p95_us=1800
"""

    def test_wrk_output_gives_the_same_columns_as_the_other_tools(self):
        self.assertEqual(bench.parse_wrk(self.WRK), {
            "rps": 30000.5, "requests": 150002, "duration_s": 5.000123, "errors": 3,
            "p50_ms": 1.15, "p95_ms": 1.8})
        # Without the done() hook's line (an old wrk, a crash), the run has no figures.
        self.assertIsNone(bench.parse_wrk(self.WRK.split("BENCH_WRK")[0]))
        self.assertIsNone(bench.parse_wrk(""))

    def test_setup_at_is_read_from_either_tools_log(self):
        k6 = 'time="2026-12-06T18:00:00Z" level=info msg="SETUP_AT 1765044000123" source=console\n'
        volley = 'INFO console: SETUP_AT 1765044000456\n'
        self.assertEqual(bench.setup_at(k6), 1765044000.123)
        self.assertEqual(bench.setup_at("noise\n" + volley), 1765044000.456)
        self.assertIsNone(bench.setup_at("SETUP_AT soon"))

    def test_summary_exports_give_the_http_metrics(self):
        r = {"cpu_s": 3.0, "metrics": {
            "http_reqs": {"count": 100000, "rate": 20000.0},
            "http_req_failed": {"value": 0.001},
            "http_req_duration": {"med": 0.4, "p(95)": 1.1},
            "iteration_duration": {"med": 3.2}}}
        m = bench.http_metrics(r)
        self.assertEqual((m["rps"], m["cpu_us_per_req"], m["p95_ms"], m["iter_p50_ms"], m["fail_pct"]),
                         (20000.0, 30.0, 1.1, 3.2, 0.1))
        none = bench.http_metrics({"cpu_s": 1.0, "metrics": {}})
        self.assertEqual((none["rps"], none["cpu_us_per_req"], none["fail_pct"]), (None, None, None))

    def test_a_failed_run_is_recorded_with_its_error(self):
        r = {"exit_code": 137, "timed_out": False, "wall_s": 9.0, "cpu_s": 8.0, "rss_mib": 900.0,
             "gen_cores": 0.9, "target_cores": 0.1, "noise_cores": 0.0, "error": "exit code 137"}
        rec = bench.record("memory", "10,000 VUs", "k6", 0, r, {"rps": 1.0}, tolerated=True)
        self.assertEqual((rec["ok"], rec["round"], rec["error"], rec["tolerated"]),
                         (False, 1, "exit code 137", True))
        self.assertNotIn("rps", rec)

    def test_rounds_rotate_the_tool_order(self):
        self.assertEqual([bench.rotate(["volley", "k6", "wrk"], r) for r in range(3)],
                         [["volley", "k6", "wrk"], ["k6", "wrk", "volley"], ["wrk", "volley", "k6"]])


class Options(unittest.TestCase):
    def args(self, *argv: str):
        return bench.parse_args(list(argv))

    def error(self, *argv: str) -> str:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
            self.args(*argv)
        return err.getvalue()

    def test_quick_is_one_round_and_scale_levels_are_read(self):
        a = self.args("--quick", "--scale-sleep-vus", "10_000, 50000")
        self.assertEqual((a.rounds, a.scale_sleep_levels), (1, [10000, 50000]))
        self.assertEqual(self.args().rounds, 3)

    def test_bad_options_are_named(self):
        self.assertIn("--rounds must be at least 1", self.error("--rounds", "0"))
        self.assertIn("--scale-sleep-vus must be comma-separated VU counts", self.error("--scale-sleep-vus", "0"))
        self.assertIn("--scale-sleep-vus must be comma-separated VU counts", self.error("--scale-sleep-vus", "lots"))
        self.assertIn("--scale-conn-vus and --scale-vus must be 0 or more", self.error("--scale-vus", "-1"))
        self.assertIn("--scale-sleep must be above 0", self.error("--scale-sleep", "0"))

    def test_the_benchmarks_run_in_their_order_and_scale_only_when_asked(self):
        self.assertEqual(bench.select(self.args()), ["throughput", "memory", "startup", "arrival"])
        self.assertEqual(bench.select(self.args("--only", "arrival,memory", "--scale")),
                         ["memory", "arrival", "scale"])
        with self.assertRaises(bench.Prereq) as e:
            bench.select(self.args("--only", "throughput,latency"))
        self.assertIn("unknown benchmark(s) in --only: latency", str(e.exception))


if __name__ == "__main__":
    unittest.main()
