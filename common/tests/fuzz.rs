//! Property tests ("fuzz targets", proptest on stable) for what Volley parses from scripts,
//! files and the network: durations, threshold expressions and maps, the options object, the
//! archive reader (its own tars and k6's) and the metric aggregates agents send as JSON.
//!
//! Each property: the parser never panics, allocates within a bound proportional to its input
//! (a per-thread counting allocator below), and an error names what it refused (the input or
//! the field). The case counts and the seed are fixed ([`CASES`]) so that the set runs the same
//! cases in seconds in CI; `PROPTEST_CASES=100000 PROPTEST_RNG_SEED=$RANDOM cargo test -p
//! volley-common --test fuzz` fuzzes longer. A failure
//! prints the input that caused it; such inputs are kept as regression cases in
//! [`regressions`]. See docs/security.md#fuzzing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};
use volley_common::archive::{self, Archive, Metadata};
use volley_common::duration::parse_duration;
use volley_common::metrics::Sink;
use volley_common::options::{parse_stages, Options, KNOWN_KEYS};
use volley_common::threshold::{parse_thresholds, Threshold};

/// Counts the bytes each thread holds, and the most it held since the last [`reset_peak`].
struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = HELD.try_with(|h| {
        let now = h.get().saturating_add(size);
        h.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn note_free(size: usize) {
    let _ = HELD.try_with(|h| h.set(h.get().saturating_sub(size)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, failing the case when it held more than `limit` bytes beyond what was held before.
fn within<T>(what: &str, limit: usize, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let base = HELD.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let used = PEAK.with(Cell::get).saturating_sub(base);
    if used > limit {
        return Err(TestCaseError::fail(format!(
            "{what} held {used} bytes, more than its bound of {limit}"
        )));
    }
    Ok(out)
}

/// Cases per property: the whole file runs in seconds (a debug build, CI's).
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        // The same cases on every run (CI's result does not depend on luck);
        // PROPTEST_RNG_SEED=N explores others.
        rng_seed: match std::env::var("PROPTEST_RNG_SEED") {
            Ok(_) => ProptestConfig::default().rng_seed,
            Err(_) => proptest::test_runner::RngSeed::Fixed(0x5ec_f022),
        },
        ..ProptestConfig::default()
    }
}

/// Any JSON value, up to a few levels deep, with the numbers and strings parsers trip on.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(0)),
        "[ -~]{0,16}".prop_map(Value::String),
        "[0-9]{1,4}(ms|s|m|h|d|us)?".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Duration-like text: numbers, units, signs and junk in the places Go's parser looks.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-+]?([0-9]{0,25}(\\.[0-9]{0,25})?(ns|us|µs|μs|ms|s|m|h|d|x)?){0,4}",
        any::<String>(),
    ]
}

/// Threshold-expression-like text.
fn threshold_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(avg|min|max|med|count|rate|value|p\\([0-9.]{0,6}\\)|p\\(|[a-z]{1,6}) {0,2}(<|<=|>|>=|==|===|!=|!)? {0,2}-?[0-9.e+]{0,24}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Durations: never a panic; an error is one of k6's: Go's duration parser's, its
    /// integer parser's for the days (`1.5d`), or its own for a negative part after them.
    #[test]
    fn durations(text in duration_text()) {
        let parsed = within("parse_duration", 64 * 1024 + 16 * text.len(), || parse_duration(&text))?;
        if let Err(e) = parsed {
            let m = e.message();
            prop_assert!(
                m.contains("duration")
                    || m.starts_with("strconv.ParseInt: parsing ")
                    || m.starts_with("invalid time format '"),
                "{e}"
            );
        }
    }

    /// Stages (`--stage`): never a panic; an error names the source.
    #[test]
    fn stages(text in "([0-9a-z.]{0,8}:[-0-9]{0,6},?){0,6}|.{0,40}") {
        let parsed = within("parse_stages", 64 * 1024 + 64 * text.len(), || parse_stages(&text, "--stage"))?;
        if let Err(e) = parsed {
            prop_assert!(e.message().contains("stage"), "{e}");
        }
    }

    /// Threshold expressions: never a panic; an error quotes the expression.
    #[test]
    fn threshold_expressions(text in threshold_text()) {
        let parsed = within("Threshold::parse", 64 * 1024 + 16 * text.len(), || Threshold::parse(&text))?;
        if let Err(e) = parsed {
            prop_assert!(e.to_string().contains("threshold"), "{e}");
        }
    }

    /// The `thresholds` option as a script writes it: never a panic; an error names the
    /// metric key (or says what the map must be).
    #[test]
    fn threshold_maps(
        entries in prop::collection::btree_map(
            "[a-z_]{1,12}(\\{[a-z]{0,6}:?[a-z0-9]{0,6}\\})?|.{0,12}",
            prop_oneof![
                threshold_text().prop_map(Value::String),
                prop::collection::vec(threshold_text().prop_map(Value::String), 0..4).prop_map(Value::Array),
                json_value(),
            ],
            0..5,
        ),
        plain in json_value(),
    ) {
        let map = Value::Object(entries.clone().into_iter().collect());
        let parsed = within("parse_thresholds", 1 << 20, || parse_thresholds(&map))?;
        if let Err(e) = parsed {
            let text = e.to_string();
            prop_assert!(
                entries.keys().any(|k| text.contains(k.as_str())) || text.contains("threshold"),
                "{text}"
            );
        }
        within("parse_thresholds", 1 << 20, || parse_thresholds(&plain))?.ok();
    }

    /// The script's `options` object: known keys with any values. Never a panic (parsing nor
    /// resolving the scenarios); a parse error names the option at fault.
    #[test]
    fn options_objects(
        fields in prop::collection::btree_map(
            prop::sample::select(KNOWN_KEYS),
            json_value(),
            0..6,
        ),
    ) {
        let object = Value::Object(fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
        let parsed = within("Options::from_script_json", 1 << 20, || Options::from_script_json(&object))?;
        match parsed {
            Ok(options) => {
                within("Options::resolve", 4 << 20, || options.resolve())?.ok();
            }
            Err(e) => {
                let text = e.message();
                // The key, or its singular ("scenario default has configuration errors").
                prop_assert!(
                    fields.keys().any(|k| text.contains(k.trim_end_matches('s'))),
                    "the error names none of {:?}: {text}",
                    fields.keys().collect::<Vec<_>>()
                );
            }
        }
    }

    /// Metric aggregates as JSON (a controller's checkpoint holds its merged series so): any
    /// JSON decodes or is refused, never a panic. Agents send them as typed protobuf,
    /// fuzzed in the controller's `api/k6cloud/fuzz_tests.rs`.
    #[test]
    fn sink_json(v in json_value(), kind in prop::sample::select(&["counter", "gauge", "rate", "trend", "x"][..])) {
        within("Sink from JSON", 1 << 20, || serde_json::from_value::<Sink>(v.clone()))?.ok();
        let tagged = json!({ kind: v });
        within("Sink from JSON", 1 << 20, || serde_json::from_value::<Sink>(tagged))?.ok();
    }

    /// Volley's archive reader on archives with bytes changed, cut short or appended: never a
    /// panic, memory within a few times the tar's size, and what it accepts is valid.
    #[test]
    fn archives_mutated(
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16),
        cut in prop::option::of(any::<prop::sample::Index>()),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = sample_tar();
        for (at, b) in changes {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(at) = cut {
            bytes.truncate(at.index(bytes.len()));
        }
        bytes.extend(tail);
        let read = within("Archive::from_tar", (1 << 20) + 4 * bytes.len(), || Archive::from_tar(&bytes))?;
        if let Ok(a) = read {
            prop_assert!(a.validate().is_ok());
            prop_assert!(a.files.keys().all(|p| !p.starts_with('/') && !p.split('/').any(|c| c == "..")));
        }
        within("from_k6_tar", (1 << 20) + 4 * bytes.len(), || archive::k6::from_k6_tar(&bytes))?.ok();
    }

    /// Tars of hostile entries (escaping names, links, devices, odd sizes) and plain junk:
    /// refused with an error naming the entry, never a panic.
    #[test]
    fn archives_hostile(
        entries in prop::collection::vec(
            (
                "(\\.\\./|/|\\./|[a-z]{1,4}/){0,4}[a-z.]{1,8}|files/[a-z]{1,3}|metadata\\.json",
                prop::sample::select(&[b'0', b'1', b'2', b'3', b'4', b'5', b'6', b'x'][..]),
                prop::collection::vec(any::<u8>(), 0..48),
            ),
            0..6,
        ),
        junk in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data) in &entries {
            let mut h = tar::Header::new_ustar();
            let _ = h.set_path(name);
            if h.path_bytes().is_empty() {
                continue;
            }
            h.set_entry_type(tar::EntryType::new(*kind));
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if *kind == b'2' || *kind == b'1' {
                let _ = h.set_link_name("../../etc/passwd");
            }
            h.set_cksum();
            builder.append(&h, data.as_slice()).expect("append to a Vec");
        }
        let bytes = builder.into_inner().expect("finish a Vec");
        for input in [&bytes, &junk] {
            let read = within("Archive::from_tar", (1 << 20) + 4 * input.len(), || Archive::from_tar(input))?;
            if let Ok(a) = read {
                prop_assert!(a.files.keys().all(|p| !p.starts_with('/') && !p.split('/').any(|c| c == "..")));
            }
            within("from_k6_tar", (1 << 20) + 4 * input.len(), || archive::k6::from_k6_tar(input))?.ok();
        }
    }
}

/// A valid archive of Volley's format: two modules and a data file.
fn sample_tar() -> Vec<u8> {
    let files: BTreeMap<String, Vec<u8>> = [
        (
            "script.js",
            "import { f } from './lib/f.js';\nexport default function () { f(); }\n",
        ),
        ("lib/f.js", "export function f() {}\n"),
        ("data/users.json", "[{\"name\":\"a\"}]"),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_string(), s.as_bytes().to_vec()))
    .collect();
    let archive = Archive {
        metadata: Metadata {
            format_version: archive::FORMAT_VERSION,
            volley_version: "0.1.0".into(),
            entry: "script.js".into(),
            options: json!({ "vus": 2, "duration": "10s", "thresholds": { "http_req_duration": ["p(95)<500"] } }),
            env: BTreeMap::new(),
            modules: vec!["lib/f.js".into(), "script.js".into()],
            created: "2026-01-01T00:00:00Z".into(),
            remote_modules: BTreeMap::new(),
        },
        files,
    };
    archive.to_tar().expect("the sample archive builds")
}

/// Inputs the properties above once failed on, kept so that they stay fixed.
mod regressions {}
