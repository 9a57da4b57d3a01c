//! Random bodies on the routes that parse one.

use super::*;

/// A small deterministic generator for the random-input test (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A JSON value of a random kind, nested at most `depth` deep.
    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 1),
            2 => json!(self.next() as i64),
            3 => json!(f64::from(self.below(1000) as u32) / 7.0),
            4 => {
                let len = self.below(12) as usize;
                let s: String = (0..len)
                    .map(|_| char::from_u32(self.below(0x250) as u32).unwrap_or('x'))
                    .collect();
                json!(s)
            }
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let keys = [
                    "env",
                    "note",
                    "script",
                    "entry",
                    "name",
                    "A",
                    "last_batch_seq",
                ];
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(4) {
                    let k = keys[self.below(keys.len() as u64) as usize];
                    m.insert(k.to_string(), self.value(depth - 1));
                }
                Value::Object(m)
            }
        }
    }
}

/// Random bodies (bytes, and JSON of every shape with the routes' field names) on the routes
/// that parse one: never a 5xx, always the uniform error shape, and a well-formed object with
/// a wrongly typed known field is refused naming that field. Deterministic (fixed seeds),
/// bounded (a few hundred small bodies per route).
#[tokio::test]
async fn random_bodies_are_refused_cleanly() {
    let fake = seeded();
    let a = app(&fake);
    let routes = [
        "/loadtests/v2/tests/1/start-testrun",
        "/loadtests/v2/tests",
        "/v1/streamed-runs",
        "/v1/streamed-runs/1/finish",
        "/loadtests/v2/runs/1/stop",
    ];
    for (i, uri) in routes.iter().enumerate() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
        for round in 0..200 {
            let (body, what) = if round % 2 == 0 {
                let len = rng.below(256) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                (bytes, "bytes")
            } else {
                (rng.value(3).to_string().into_bytes(), "json")
            };
            let r = post(&a, uri, Some("application/json"), body.clone()).await;
            let shown = String::from_utf8_lossy(&body);
            assert!(
                !r.status.is_server_error(),
                "{uri} ({what}, round {round}) → {} {}\nbody: {shown}",
                r.status,
                r.body
            );
            if r.status.is_client_error() {
                assert!(
                    r.body["error"]["code"].is_string()
                        && r.body["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                    "{uri}: {}\nbody: {shown}",
                    r.body
                );
            }
        }
    }
    // A known field of the wrong type is named.
    let u = "/loadtests/v2/tests/1/start-testrun";
    for (field, v) in [
        ("env", json!(7)),
        ("note", json!({"x": 1})),
        ("env", json!([])),
    ] {
        let r = post_json(&a, u, json!({ field: v })).await;
        assert_eq!(assert_error(&r, 400), "invalid_json");
        let m = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(field), "{field}: {m}");
    }
    // A note that would drive the terminal of whoever runs `volley status`, or a document:
    // refused, naming the field and the rule; a plain one with lines is taken.
    for note in [
        "\u{1b}[2J\u{1b}[31mall thresholds passed".to_string(),
        "ok\rFAILED".to_string(),
        "\u{9b}31m".to_string(),
        "txt.\u{202e}exe".to_string(),
        "n".repeat(4097),
    ] {
        let r = post_json(&a, u, json!({ "note": note })).await;
        assert_eq!(assert_error(&r, 400), "invalid_field", "{note:?}");
        let m = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains("`note`") && m.contains("4096"), "{m}");
    }
    let r = post_json(&a, u, json!({ "note": "nightly\n\tbranch é" })).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
