//! `--out json=FILE`: every sample as NDJSON in k6's format. A `Metric` line declares each
//! metric the first time it is seen, then one `Point` line per sample.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use volley_common::threshold::{parse_metric_key, Threshold};

use super::{anyhow_like, OutputFactory, RawOutput};
use crate::metrics::{Registry, SampleRecord, SampleSink};

/// Creates the JSON output when the run starts.
pub struct JsonOutputFactory {
    pub path: PathBuf,
}

impl OutputFactory for JsonOutputFactory {
    fn create(
        &self,
        registry: Arc<Registry>,
        thresholds: &[(String, Vec<Threshold>)],
    ) -> anyhow_like::Result<Arc<dyn RawOutput>> {
        let file = File::create(&self.path).map_err(|e| {
            format!(
                "cannot create the JSON output file {}: {e}",
                self.path.display()
            )
        })?;
        let thresholds = thresholds
            .iter()
            .map(|(k, list)| (k.clone(), list.iter().map(|t| t.source.clone()).collect()))
            .collect();
        Ok(Arc::new(JsonOutput {
            inner: Mutex::new(Inner {
                w: BufWriter::with_capacity(256 * 1024, file),
                declared: HashSet::new(),
                failed: false,
            }),
            registry,
            thresholds,
            path: self.path.clone(),
        }))
    }
}

struct Inner {
    w: BufWriter<File>,
    declared: HashSet<usize>,
    failed: bool,
}

pub struct JsonOutput {
    inner: Mutex<Inner>,
    registry: Arc<Registry>,
    thresholds: Vec<(String, Vec<String>)>,
    path: PathBuf,
}

impl JsonOutput {
    fn declaration(&self, id: usize) -> Option<String> {
        let def = self.registry.get(id)?;
        let mut srcs: Vec<String> = Vec::new();
        let mut subs = Vec::new();
        for (key, list) in &self.thresholds {
            let Ok((name, tags)) = parse_metric_key(key) else {
                continue;
            };
            if name != def.name {
                continue;
            }
            srcs.extend(list.iter().cloned());
            if !tags.is_empty() {
                let suffix = tags
                    .iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                let tag_obj: serde_json::Map<String, serde_json::Value> =
                    tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                subs.push(json!({"name": format!("{}{{{suffix}}}", def.name), "suffix": suffix, "tags": tag_obj}));
            }
        }
        let line = json!({
            "type": "Metric",
            "data": {
                "name": def.name,
                "type": def.mtype.as_str(),
                "contains": def.contains.as_str(),
                "thresholds": srcs,
                "submetrics": if subs.is_empty() { serde_json::Value::Null } else { json!(subs) },
            },
            "metric": def.name,
        });
        Some(line.to_string())
    }
}

impl SampleSink for JsonOutput {
    fn write(&self, samples: Vec<SampleRecord>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.failed {
            return;
        }
        let mut buf = String::with_capacity(samples.len() * 256);
        for s in &samples {
            if inner.declared.insert(s.metric) {
                if let Some(d) = self.declaration(s.metric) {
                    buf.push_str(&d);
                    buf.push('\n');
                }
            }
            let Some(def) = self.registry.get(s.metric) else {
                continue;
            };
            let d = s
                .time
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let time = crate::console::rfc3339(d.as_secs() as i64, d.subsec_nanos(), true);
            let tags: serde_json::Map<String, serde_json::Value> = s
                .tags
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            // Whole numbers print without a fraction, as k6 (Go) prints them.
            let value = json_number(s.value);
            let line = json!({
                "metric": def.name,
                "type": "Point",
                "data": {"time": time, "value": value, "tags": tags},
            });
            buf.push_str(&line.to_string());
            buf.push('\n');
        }
        if let Err(e) = inner.w.write_all(buf.as_bytes()) {
            inner.failed = true;
            crate::console::log_error(&format!("writing {} failed: {e}", self.path.display()), &[]);
        }
    }
}

impl RawOutput for JsonOutput {
    fn close(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = inner.w.flush() {
            crate::console::log_error(&format!("writing {} failed: {e}", self.path.display()), &[]);
        }
    }
}

/// Whole numbers as JSON integers (as k6 prints them), others as floats.
pub fn json_number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        serde_json::json!(v as i64)
    } else {
        serde_json::json!(v)
    }
}
