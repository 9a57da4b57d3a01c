"""Unit tests of the verdicts bench.py prints and of bench/summary.py's table; no benchmark runs.

    python3 -m unittest discover -s bench -p 'test_*.py'
"""

from __future__ import annotations

import unittest

import bench
import summary


def tools(volley: dict, k6: dict) -> dict:
    return {"volley": {"ok_rounds": 1, **volley}, "k6": {"ok_rounds": 1, **k6}}


class ThroughputVerdicts(unittest.TestCase):
    def test_each_vu_count_is_judged_against_its_own_goal(self):
        med = {
            "64 VUs": tools({"rps": 50000, "cpu_us_per_req": 19.5}, {"rps": 10000, "cpu_us_per_req": 90}),
            "256 VUs": tools({"rps": 41000, "cpu_us_per_req": 24}, {"rps": 10000, "cpu_us_per_req": 100}),
            "1,000 VUs": tools({"rps": 35000, "cpu_us_per_req": 28}, {"rps": 10000, "cpu_us_per_req": 100}),
        }
        lines, targets = bench.ratio_lines("throughput", med)
        got = {(t["config"], t["name"]): t["met"] for t in targets}
        self.assertEqual(got, {
            ("64 VUs", "volley/k6 req/s"): True,  # 5.0× against ≥ 5×
            ("64 VUs", "volley CPU µs per request"): True,
            ("256 VUs", "volley/k6 req/s"): True,  # 4.1× against ≥ 4×
            ("256 VUs", "volley CPU µs per request"): False,
            ("1,000 VUs", "volley/k6 req/s"): False,  # 3.5× against ≥ 4×
            ("1,000 VUs", "volley CPU µs per request"): False,
        })
        self.assertIn("1,000 VUs: volley/k6 req/s: 3.500 (goal ≥ 4×) — target missed", lines)

    def test_a_failed_k6_run_is_not_measured_not_met(self):
        med = {"64 VUs": {"volley": {"ok_rounds": 1, "rps": 50000, "cpu_us_per_req": 19},
                          "k6": {"ok_rounds": 0}}}
        _, targets = bench.ratio_lines("throughput", med)
        self.assertIsNone(targets[0]["met"])

    def test_config_labels_give_their_vus(self):
        self.assertEqual(bench.config_vus("1,000 VUs"), 1000)
        self.assertIsNone(bench.config_vus("5,000/s"))


def results(benches: dict) -> dict:
    """A bench.py results document with the medians given and the targets it would judge."""
    targets = []
    for name, med in benches.items():
        targets += bench.ratio_lines(name, med)[1]
    return {"benchmarks": list(benches), "medians": benches, "targets": targets,
            "machine": {"date_utc": "2026-12-06T16:00:00Z", "git_commit": "abc1234"}}


CONTROLLER = {
    "skipped": [{"agents": 5000, "why": "needs 5320 open files"}],
    "curve": {"measured": [10, 100, 1000, 3000], "largest_held": 1000, "one_core": True, "met": False,
              "saturation": {"agents": 3000, "lag_p99_ms": 900.0, "run_cores": 0.95,
                             "status": "FINISHED", "why": ["merge lag p99 900 ms > 100 ms"]}},
    "run_start": {"agents": 100, "vus_per_agent": 1000, "trials": [{}, {}, {}], "p50_s": 0.41,
                  "max_s": 0.52, "init_s_estimate": 0.181, "met": True},
}


class SummaryTable(unittest.TestCase):
    def by_row(self, rows):
        return {r["row"]: r for r in rows}

    def test_every_row_of_the_issue_is_there_with_its_verdict(self):
        data = results({
            "throughput": {"64 VUs": tools({"rps": 43504, "cpu_us_per_req": 23.0},
                                           {"rps": 12747, "cpu_us_per_req": 80.3})},
            "memory": {"1,000 VUs": tools({"rss_per_vu_kib": 131}, {"rss_per_vu_kib": 269})},
            "startup": {"10,000 VUs": tools({"startup_s": 2.0}, {"startup_s": 4.6})},
        })
        rows = self.by_row(summary.summary_rows(data, CONTROLLER))
        r = rows["req/s per core, 64 VUs"]
        self.assertEqual((r["volley"], r["k6"], r["ratio"], r["goal"], r["verdict"]),
                         ("43,504", "12,747", "3.41×", "≥ 5× k6", "missed"))
        self.assertEqual(rows["req/s per core, 256 VUs"]["verdict"], "not run")
        self.assertEqual(rows["generator CPU per request, 64 VUs"]["verdict"], "missed")
        self.assertEqual(rows["RSS per VU, 1,000 VUs sleeping"]["ratio"], "0.49×")
        self.assertIn("not `--quick`", rows["RSS per VU, 10,000 VUs sleeping"]["note"])
        self.assertEqual(rows["VUs on one agent, mostly sleeping, 5 min, no error"]["verdict"], "not run")
        r = rows["agents on one controller, 1 s batches, one core"]
        self.assertEqual((r["volley"], r["verdict"]), ("1,000 agents", "missed"))
        self.assertIn("skipped 5,000 (open files)", r["note"])
        self.assertIn("3,000 agents: run 0.95 cores", rows["where one controller saturates"]["volley"])
        r = rows["run start: submit → all agents RUNNING, 100 agents × 1,000 VUs"]
        self.assertEqual((r["volley"], r["verdict"]), ("p50 0.41 s, max 0.52 s", "met"))
        # The VUs' init at this run's start-up pace: 2.0 s per 10,000 VUs.
        self.assertIn("≈ 0.20 s", r["note"])
        self.assertIn("this run's startup row", r["note"])
        self.assertEqual(rows["start-up, 10,000 VUs, process start → setup()"]["verdict"], "met")

    def test_the_scale_row_gives_the_vus_held_and_for_how_long(self):
        scale = {"100,000 VUs (0 with a connection), sleep 5 s": {
            "volley": {"ok_rounds": 1, "rounds": 1, "vus": 100000, "duration_s": 300}}}
        rows = self.by_row(summary.summary_rows(results({"scale": scale}), CONTROLLER))
        r = rows["VUs on one agent, mostly sleeping, 5 min, no error"]
        self.assertEqual((r["volley"], r["verdict"]), ("100,000 VUs for 300 s", "met"))
        self.assertIn("1 reported", summary.markdown(list(rows.values())))

    def test_nothing_measured_is_every_row_not_run(self):
        rows = summary.summary_rows(None, None)
        self.assertEqual(len(rows), 10)
        self.assertTrue(all(r["verdict"] == "not run" for r in rows), rows)
        self.assertIn("10 not run", summary.markdown(rows))

    def test_the_run_start_init_falls_back_to_the_documented_startup(self):
        rows = self.by_row(summary.summary_rows(None, CONTROLLER))
        r = rows["run start: submit → all agents RUNNING, 100 agents × 1,000 VUs"]
        self.assertIn("≈ 0.18 s", r["note"])
        self.assertIn("docs/benchmarks.md", r["note"])

    def test_nan_and_null_are_shown_as_dashes(self):
        self.assertEqual(summary.fmt(float("nan")), "–")
        self.assertEqual(summary.fmt(None), "–")
        self.assertIsNone(summary.ratio(1, 0))


if __name__ == "__main__":
    unittest.main()
