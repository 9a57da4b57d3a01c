//! Realistic metric batches: what an agent running an `http.get` + `check` script over five
//! endpoints sends every second — ~50 series of trends, counters, rates and gauges, tagged as
//! k6 tags them, each sink encoded as agents encode it. A few variants are made once and
//! reused, so the simulated agents cost the harness little CPU; each variant knows the totals
//! it adds, so the harness can check the controller's merged totals at the end.

use std::collections::BTreeMap;

use volley_common::metrics::{MetricType, Sink, ValueType};
use volley_proto as pb;
use volley_proto::Message as _;

/// What batches add to a run's merged metrics; compared with the controller's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub iterations: f64,
    pub http_reqs: f64,
    pub checks_passed: f64,
    pub checks_failed: f64,
    pub data_sent: f64,
    pub data_received: f64,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.iterations += o.iterations;
        self.http_reqs += o.http_reqs;
        self.checks_passed += o.checks_passed;
        self.checks_failed += o.checks_failed;
        self.data_sent += o.data_sent;
        self.data_received += o.data_received;
    }

    /// The same figures in an answer of `GET /v1/runs/{id}/metrics`.
    pub fn from_metrics(answer: &serde_json::Value) -> Totals {
        let v = |metric: &str, stat: &str| {
            answer["metrics"][metric]["values"][stat]
                .as_f64()
                .unwrap_or(0.0)
        };
        Totals {
            iterations: v("iterations", "count"),
            http_reqs: v("http_reqs", "count"),
            checks_passed: v("checks", "passes"),
            checks_failed: v("checks", "fails"),
            data_sent: v("data_sent", "count"),
            data_received: v("data_received", "count"),
        }
    }
}

/// One batch's series, ready to send, and what they add.
pub struct Variant {
    pub series: pb::SeriesList,
    pub totals: Totals,
    /// The encoded size of a batch of these series, in bytes.
    pub bytes: usize,
}

const ENDPOINTS: [(&str, &str); 5] = [
    ("GET", "/"),
    ("GET", "/api/items"),
    ("GET", "/api/items/:id"),
    ("POST", "/api/login"),
    ("GET", "/static/app.js"),
];

const HTTP_TRENDS: [&str; 7] = [
    "http_req_duration",
    "http_req_blocked",
    "http_req_connecting",
    "http_req_tls_handshaking",
    "http_req_sending",
    "http_req_waiting",
    "http_req_receiving",
];

/// A small deterministic generator (xorshift64*): every run of the harness sends the same data.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `count` different batches of an agent that makes `rps` requests per second.
pub fn variants(count: usize, rps: u32) -> Vec<Variant> {
    let mut rng = Rng(0x5eed_cafe_f00d);
    (0..count.max(1)).map(|_| variant(&mut rng, rps)).collect()
}

fn series(metric: &str, tags: BTreeMap<String, String>, sink: &Sink) -> pb::Series {
    let contains = match metric {
        "data_sent" | "data_received" => ValueType::Data,
        _ if matches!(sink, Sink::Trend(_)) => ValueType::Time,
        _ => ValueType::Default,
    };
    pb::Series::from_sink(metric.to_string(), contains, tags, sink.clone())
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Milliseconds with a nanosecond's precision, as an agent measures them.
fn ms(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn variant(rng: &mut Rng, rps: u32) -> Variant {
    // Each iteration visits every endpoint once.
    let iterations = (rps / ENDPOINTS.len() as u32).max(1);
    let mut out = Vec::new();
    let mut totals = Totals::default();
    let mut iteration_duration = Sink::new(MetricType::Trend);
    let mut iteration_ms = vec![0.0; iterations as usize];
    let mut sent = Sink::new(MetricType::Counter);
    let mut received = Sink::new(MetricType::Counter);
    let mut status_ok = Sink::new(MetricType::Rate);
    for (method, path) in ENDPOINTS {
        let url = format!("http://127.0.0.1:8080{path}");
        let base = [
            ("method", method),
            ("name", url.as_str()),
            ("url", url.as_str()),
            ("status", "200"),
            ("proto", "HTTP/1.1"),
            ("scenario", "default"),
            ("expected_response", "true"),
            ("group", ""),
        ];
        let mut trends: Vec<Sink> = HTTP_TRENDS
            .iter()
            .map(|_| Sink::new(MetricType::Trend))
            .collect();
        let mut reqs = Sink::new(MetricType::Counter);
        let mut failed = Sink::new(MetricType::Rate);
        for spent in iteration_ms.iter_mut() {
            let waiting = ms(2.0 + 40.0 * rng.unit().powi(3));
            let sending = ms(0.01 + 0.05 * rng.unit());
            let receiving = ms(0.02 + 0.3 * rng.unit());
            let blocked = ms(0.001 + 0.01 * rng.unit());
            let duration = ms(sending + waiting + receiving);
            let values = [duration, blocked, 0.0, 0.0, sending, waiting, receiving];
            for (sink, v) in trends.iter_mut().zip(values) {
                sink.add(v, 0);
            }
            *spent += duration + blocked;
            reqs.add(1.0, 0);
            let fail = rng.unit() < 0.01;
            failed.add(if fail { 1.0 } else { 0.0 }, 0);
            status_ok.add(if fail { 0.0 } else { 1.0 }, 0);
            if fail {
                totals.checks_failed += 1.0;
            } else {
                totals.checks_passed += 1.0;
            }
            let (s, r) = (
                (90.0 + 50.0 * rng.unit()).round(),
                (200.0 + 1800.0 * rng.unit()).round(),
            );
            sent.add(s, 0);
            received.add(r, 0);
            totals.data_sent += s;
            totals.data_received += r;
            totals.http_reqs += 1.0;
        }
        for (name, sink) in HTTP_TRENDS.iter().zip(&trends) {
            out.push(series(name, tags(&base), sink));
        }
        out.push(series("http_reqs", tags(&base), &reqs));
        out.push(series("http_req_failed", tags(&base), &failed));
    }
    let mut has_items = Sink::new(MetricType::Rate);
    for spent in &iteration_ms {
        iteration_duration.add(ms(spent + 0.2 * rng.unit()), 0);
        has_items.add(1.0, 0);
        totals.checks_passed += 1.0;
    }
    totals.iterations = f64::from(iterations);
    let mut iters = Sink::new(MetricType::Counter);
    iters.add(f64::from(iterations), 0);
    let scenario = [("scenario", "default"), ("group", "")];
    out.push(series("iterations", tags(&scenario), &iters));
    out.push(series(
        "iteration_duration",
        tags(&scenario),
        &iteration_duration,
    ));
    out.push(series("data_sent", tags(&scenario), &sent));
    out.push(series("data_received", tags(&scenario), &received));
    let check = |name: &str| tags(&[("check", name), ("scenario", "default"), ("group", "")]);
    out.push(series("checks", check("status is 200"), &status_ok));
    out.push(series("checks", check("has items"), &has_items));
    for gauge in ["vus", "vus_max"] {
        let mut g = Sink::new(MetricType::Gauge);
        g.add(1.0, 1);
        out.push(series(gauge, BTreeMap::new(), &g));
    }
    let bytes = pb::MetricBatch {
        run_id: 1,
        seq: 1,
        start_unix_ms: 1,
        end_unix_ms: 1,
        series: out.clone().into(),
    }
    .encoded_len();
    Variant {
        series: out.into(),
        totals,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_is_about_fifty_series_and_its_totals_match_its_sinks() {
        let v = &variants(1, 100)[0];
        assert_eq!(v.series.len(), 53);
        let mut reqs = 0.0;
        for mut s in v.series.decode().unwrap() {
            if s.metric != "http_reqs" {
                continue;
            }
            let (_, sink) = s.take_sink().unwrap();
            reqs += sink.stat("count", 1.0).unwrap();
        }
        assert_eq!(reqs, v.totals.http_reqs);
        assert_eq!(v.totals.http_reqs, 100.0);
        assert_eq!(v.totals.iterations, 20.0);
        assert_eq!(v.totals.checks_passed + v.totals.checks_failed, 120.0);
    }
}
