//! `exec.test.options` in k6 v1.1.0's shape
//! ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#strictness)): every option k6
//! has, in k6's order, `null` when not set (`summaryTrendStats` and `systemTags` show their
//! defaults), without the shortcuts (`vus`, `duration`, `iterations`, `stages`: they are in
//! `scenarios`) and without options k6 does not list; each scenario with the common fields and
//! its executor's, `null` when not set.
//!
//! It is made from the run's consolidated options, whose scenarios carry every field with its
//! default filled in, so a scenario field equal to k6's default shows as `null` — what k6
//! shows unless the script spelled the default out: the engine lists the fields a scenario of
//! the script spelled in its `__spelled`, and those are shown whatever their value.

use serde_json::{Map, Value};

/// k6's top-level options, in the order k6 lists them.
const TOP_LEVEL: &[&str] = &[
    "paused",
    "scenarios",
    "executionSegment",
    "executionSegmentSequence",
    "noSetup",
    "setupTimeout",
    "noTeardown",
    "teardownTimeout",
    "rps",
    "dns",
    "maxRedirects",
    "userAgent",
    "batch",
    "batchPerHost",
    "httpDebug",
    "insecureSkipTLSVerify",
    "tlsCipherSuites",
    "tlsVersion",
    "tlsAuth",
    "throw",
    "thresholds",
    "blacklistIPs",
    "blockHostnames",
    "hosts",
    "noConnectionReuse",
    "noVUConnectionReuse",
    "minIterationDuration",
    "ext",
    "summaryTrendStats",
    "summaryTimeUnit",
    "systemTags",
    "tags",
    "metricSamplesBufferSize",
    "noCookiesReset",
    "discardResponseBodies",
    "consoleOutput",
    "localIPs",
];

const DEFAULT_TREND_STATS: &[&str] = &["avg", "min", "med", "max", "p(90)", "p(95)"];
const DEFAULT_SYSTEM_TAGS: &[&str] = &[
    "check",
    "error",
    "error_code",
    "expected_response",
    "group",
    "method",
    "name",
    "proto",
    "scenario",
    "service",
    "status",
    "subproto",
    "tls_version",
    "url",
];

/// The fields of a scenario of `executor` after the common ones, in k6's order, each with the
/// value k6 fills in when it is not set (`None`: no default, always shown).
fn executor_fields(executor: &str) -> &'static [(&'static str, Option<&'static str>)] {
    match executor {
        "shared-iterations" | "per-vu-iterations" => &[
            ("vus", Some("1")),
            ("iterations", None),
            ("maxDuration", Some("\"10m0s\"")),
        ],
        "constant-vus" => &[("vus", Some("1")), ("duration", None)],
        "ramping-vus" => &[
            ("startVUs", Some("1")),
            ("stages", None),
            ("gracefulRampDown", Some("\"30s\"")),
        ],
        "constant-arrival-rate" => &[
            ("rate", None),
            ("timeUnit", Some("\"1s\"")),
            ("duration", None),
            ("preAllocatedVUs", None),
            ("maxVUs", None),
        ],
        "ramping-arrival-rate" => &[
            ("startRate", Some("0")),
            ("timeUnit", Some("\"1s\"")),
            ("stages", None),
            ("preAllocatedVUs", None),
            ("maxVUs", None),
        ],
        "externally-controlled" => &[("vus", None), ("duration", None), ("maxVUs", None)],
        _ => &[],
    }
}

/// `value`, or `null` when it is k6's default (`default` is JSON text).
fn unless_default(value: Option<&Value>, default: Option<&str>) -> Value {
    match (value, default) {
        (None, _) => Value::Null,
        (Some(v), Some(d)) if serde_json::from_str::<Value>(d).ok().as_ref() == Some(v) => {
            Value::Null
        }
        (Some(v), _) => v.clone(),
    }
}

fn scenario_shape(s: &Value) -> Value {
    let executor = s.get("executor").and_then(Value::as_str).unwrap_or("");
    let spelled = |key: &str| {
        s.get("__spelled")
            .and_then(Value::as_array)
            .is_some_and(|keys| keys.iter().any(|k| k == key))
    };
    let mut out = Map::new();
    out.insert("executor".into(), Value::from(executor));
    let common: [(&str, Option<&str>); 5] = [
        ("startTime", Some("\"0s\"")),
        ("gracefulStop", Some("\"30s\"")),
        ("env", None),
        ("exec", Some("\"default\"")),
        ("tags", None),
    ];
    for (key, default) in common {
        let default = if spelled(key) { None } else { default };
        out.insert(key.into(), unless_default(s.get(key), default));
    }
    for (key, default) in executor_fields(executor) {
        let default = if spelled(key) { None } else { *default };
        let mut v = unless_default(s.get(*key), default);
        // k6 shows maxVUs only when set; Volley fills it with preAllocatedVUs.
        if *key == "maxVUs"
            && !spelled(key)
            && executor.ends_with("arrival-rate")
            && s.get(*key) == s.get("preAllocatedVUs")
        {
            v = Value::Null;
        }
        out.insert((*key).into(), v);
    }
    Value::Object(out)
}

/// k6's thresholds: strings stay, objects get all three keys.
fn thresholds_shape(t: &Value) -> Value {
    let Some(map) = t.as_object() else {
        return t.clone();
    };
    let mut out = Map::new();
    for (metric, list) in map {
        let list = match list {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| match item.as_object() {
                        Some(o) => {
                            let mut m = Map::new();
                            for key in ["threshold", "abortOnFail", "delayAbortEval"] {
                                m.insert(key.into(), o.get(key).cloned().unwrap_or(Value::Null));
                            }
                            Value::Object(m)
                        }
                        None => item.clone(),
                    })
                    .collect(),
            ),
            other => other.clone(),
        };
        out.insert(metric.clone(), list);
    }
    Value::Object(out)
}

/// The consolidated options (as [`volley_common::options::ResolvedOptions::to_json`] writes
/// them) in k6's `exec.test.options` shape.
pub(super) fn k6_shape(options: &Value) -> Value {
    let mut out = Map::new();
    for key in TOP_LEVEL {
        let given = options.get(*key).filter(|v| !v.is_null());
        let v = match (*key, given) {
            ("scenarios", Some(Value::Object(s))) => Value::Object(
                s.iter()
                    .map(|(name, sc)| (name.clone(), scenario_shape(sc)))
                    .collect(),
            ),
            ("dns", given) => {
                let mut m = Map::new();
                for k in ["ttl", "select", "policy"] {
                    m.insert(
                        k.into(),
                        given.and_then(|d| d.get(k)).cloned().unwrap_or(Value::Null),
                    );
                }
                Value::Object(m)
            }
            ("thresholds", Some(t)) => thresholds_shape(t),
            ("summaryTrendStats", None) => Value::from(DEFAULT_TREND_STATS.to_vec()),
            ("systemTags", None) => Value::from(DEFAULT_SYSTEM_TAGS.to_vec()),
            (_, Some(v)) => v.clone(),
            (_, None) => Value::Null,
        };
        out.insert((*key).into(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// k6 v1.1.0's `exec.test.options` for `{ iterations: 1 }` and for a scenario with
    /// `startTime`, `tags` and a threshold (measured).
    #[test]
    fn the_shape_is_k6s() {
        let k6_default = r#"{"paused":null,"scenarios":{"default":{"executor":"shared-iterations","startTime":null,"gracefulStop":null,"env":null,"exec":null,"tags":null,"vus":null,"iterations":1,"maxDuration":null}},"executionSegment":null,"executionSegmentSequence":null,"noSetup":null,"setupTimeout":null,"noTeardown":null,"teardownTimeout":null,"rps":null,"dns":{"ttl":null,"select":null,"policy":null},"maxRedirects":null,"userAgent":null,"batch":null,"batchPerHost":null,"httpDebug":null,"insecureSkipTLSVerify":null,"tlsCipherSuites":null,"tlsVersion":null,"tlsAuth":null,"throw":null,"thresholds":null,"blacklistIPs":null,"blockHostnames":null,"hosts":null,"noConnectionReuse":null,"noVUConnectionReuse":null,"minIterationDuration":null,"ext":null,"summaryTrendStats":["avg","min","med","max","p(90)","p(95)"],"summaryTimeUnit":null,"systemTags":["check","error","error_code","expected_response","group","method","name","proto","scenario","service","status","subproto","tls_version","url"],"tags":null,"metricSamplesBufferSize":null,"noCookiesReset":null,"discardResponseBodies":null,"consoleOutput":null,"localIPs":null}"#;
        // What Volley's consolidated options hold for `{ iterations: 1 }`.
        let volley = json!({"scenarios": {"default": {"executor": "shared-iterations",
            "startTime": "0s", "gracefulStop": "30s", "exec": "default", "vus": 1,
            "iterations": 1, "maxDuration": "10m0s"}}});
        // Byte for byte: the workspace's serde_json keeps insertion order.
        assert_eq!(
            serde_json::to_string(&k6_shape(&volley)).unwrap(),
            k6_default
        );

        let volley = json!({
            "scenarios": {"s": {"executor": "constant-arrival-rate", "startTime": "1ms",
                "gracefulStop": "30s", "exec": "default", "tags": {"a": "b"}, "rate": 1,
                "timeUnit": "1s", "duration": "1s", "preAllocatedVUs": 1, "maxVUs": 1}},
            "thresholds": {"iterations": [{"threshold": "count>0", "abortOnFail": true}],
                "http_reqs": ["count>0"]},
            "userAgent": "x",
            "dns": {"ttl": "1m"},
            "summaryTrendStats": ["avg"],
        });
        let got = k6_shape(&volley);
        assert_eq!(
            got["scenarios"]["s"],
            json!({"executor": "constant-arrival-rate", "startTime": "1ms", "gracefulStop": null,
                "env": null, "exec": null, "tags": {"a": "b"}, "rate": 1, "timeUnit": null,
                "duration": "1s", "preAllocatedVUs": 1, "maxVUs": null})
        );
        assert_eq!(
            got["thresholds"],
            json!({"iterations": [{"threshold": "count>0", "abortOnFail": true,
                "delayAbortEval": null}], "http_reqs": ["count>0"]})
        );
        assert_eq!(
            got["dns"],
            json!({"ttl": "1m", "select": null, "policy": null})
        );
        assert_eq!(got["userAgent"], json!("x"));
        assert_eq!(got["summaryTrendStats"], json!(["avg"]));
        assert_eq!(got["systemTags"].as_array().unwrap().len(), 14);

        // Defaults the script spelled out are shown, as k6 shows them.
        let volley = json!({"scenarios": {"s": {"executor": "constant-arrival-rate",
            "startTime": "0s", "gracefulStop": "30s", "exec": "default", "rate": 1,
            "timeUnit": "1s", "duration": "1s", "preAllocatedVUs": 1, "maxVUs": 1,
            "__spelled": ["executor", "startTime", "timeUnit", "maxVUs"]}}});
        let got = k6_shape(&volley);
        assert_eq!(
            got["scenarios"]["s"],
            json!({"executor": "constant-arrival-rate", "startTime": "0s", "gracefulStop": null,
                "env": null, "exec": null, "tags": null, "rate": 1, "timeUnit": "1s",
                "duration": "1s", "preAllocatedVUs": 1, "maxVUs": 1})
        );
    }
}
