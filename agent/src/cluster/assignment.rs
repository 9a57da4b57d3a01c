//! An assignment (`Assign`) checked whole before anything of its run is set up: the agent
//! trusts its controller (docs/security.md#agents), but a controller of another version, a
//! bug or an impostor on a plaintext link must not get a run half set up — a folder extracted,
//! the script's init code run — and then a failure the controller cannot place. Each refusal
//! is a FAILED naming the field of the assignment at fault.

use std::collections::BTreeMap;

use volley_common::archive::Archive;
use volley_common::options::Options;
use volley_common::segment::{
    ExecutionSegment, ExecutionSegmentSequence, ExecutionTuple, SegmentError,
};
use volley_common::text::quoted;
use volley_proto as pb;

/// Most `env` entries an assignment may carry: the controller refuses more at the start
/// (docs/rest-api.md#what-a-test-may-declare), so more is not a run of a Volley controller.
pub const MAX_ENV: usize = 10_000;

/// What a run is made of, once its assignment is checked.
pub(super) struct Assignment {
    pub archive: Archive,
    pub options: Options,
    pub env: BTreeMap<String, String>,
}

/// Checks every field of `a` that can be checked without setting anything up.
pub(super) fn check(a: &mut pb::Assign) -> Result<Assignment, String> {
    if a.run_id == 0 {
        return Err("invalid assignment: `run_id` is 0, which names no run".into());
    }
    if a.env.len() > MAX_ENV {
        return Err(format!(
            "invalid assignment: `env` has {} entries, more than the {MAX_ENV} a run may have",
            a.env.len()
        ));
    }
    if let Some(k) = a
        .env
        .keys()
        .find(|k| k.is_empty() || k.contains(['=', '\0']))
    {
        return Err(format!(
            "invalid assignment: `env` name {} is not a variable name",
            quoted(k)
        ));
    }
    // UTF-8 text in a `bytes` field, so that a controller shares one copy between its agents'
    // messages (proto/build.rs).
    let sequence = std::str::from_utf8(&a.sequence)
        .map_err(|e| format!("invalid assignment: `sequence` is not UTF-8 text: {e}"))?;
    check_segment(&a.segment, sequence)?;
    let archive = Archive::from_tar(&a.archive)
        .map_err(|e| format!("invalid assignment: `archive`: the run's archive is invalid: {e}"))?;
    let options_json: serde_json::Value = if a.options_json.is_empty() {
        archive.metadata.options.clone()
    } else {
        serde_json::from_str(&a.options_json)
            .map_err(|e| format!("invalid assignment: `options_json` is not JSON: {e}"))?
    };
    let mut options = Options::from_script_json(&options_json)
        .map_err(|e| format!("invalid assignment: `options_json`: {e}"))?;
    options.execution_segment = (!a.segment.is_empty()).then(|| a.segment.clone());
    options.execution_segment_sequence = (!sequence.is_empty()).then(|| sequence.to_string());
    Ok(Assignment {
        archive,
        options,
        env: std::mem::take(&mut a.env).into_iter().collect(),
    })
}

/// The segment must parse, and lie in the sequence if one is given (k6's rules). Only what
/// takes time linear in the strings is checked here; the striping (LCD × segments) is the
/// engine's, on the run's thread. Errors quote at most [`ERROR_BYTES`] of the values.
fn check_segment(segment: &str, sequence: &str) -> Result<(), String> {
    let seg: Option<ExecutionSegment> = if segment.is_empty() {
        None
    } else {
        Some(segment.parse().map_err(|e: SegmentError| {
            format!("invalid assignment: `segment`: {}", cut(&e.to_string()))
        })?)
    };
    let seq: Option<ExecutionSegmentSequence> = if sequence.is_empty() {
        None
    } else {
        Some(sequence.parse().map_err(|e: SegmentError| {
            format!("invalid assignment: `sequence`: {}", cut(&e.to_string()))
        })?)
    };
    ExecutionTuple::locate(seg.as_ref(), seq.as_ref())
        .map(drop)
        .map_err(|e| {
            format!(
                "invalid assignment: `segment` and `sequence`: {}",
                cut(&e.to_string())
            )
        })
}

/// Most bytes of an error about a segment or sequence that a FAILED repeats: a sequence can be
/// megabytes, and its errors list its segments.
const ERROR_BYTES: usize = 1_000;

fn cut(s: &str) -> std::borrow::Cow<'_, str> {
    volley_common::text::bounded(s, ERROR_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign() -> pb::Assign {
        let archive = Archive {
            metadata: volley_common::archive::Metadata {
                format_version: volley_common::archive::FORMAT_VERSION,
                volley_version: "test".into(),
                entry: "test.js".into(),
                options: serde_json::json!({}),
                env: BTreeMap::new(),
                modules: vec!["test.js".into()],
                created: "2026-12-07T09:00:00Z".into(),
                remote_modules: BTreeMap::new(),
            },
            files: [(
                "test.js".to_string(),
                b"export default function () {}".to_vec(),
            )]
            .into_iter()
            .collect(),
        };
        pb::Assign {
            run_id: 7,
            archive: archive
                .to_tar()
                .unwrap_or_else(|e| panic!("tar: {e}"))
                .into(),
            ..Default::default()
        }
    }

    fn refused(change: impl FnOnce(&mut pb::Assign)) -> String {
        let mut a = assign();
        change(&mut a);
        match check(&mut a) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_huge_sequence_is_checked_quickly_and_quoted_in_part() {
        let points: Vec<String> = (0..=200_000).map(|i| format!("{i}/200000")).collect();
        let started = std::time::Instant::now();
        let e = refused(|a| {
            a.segment = "0:1/3".into();
            a.sequence = points.join(",").into();
        });
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(e.contains("`sequence`"), "{e}");
        assert!(e.len() < 1_200, "{} bytes", e.len());
    }

    #[test]
    fn each_bad_field_is_named() {
        check(&mut assign()).unwrap_or_else(|e| panic!("{e}"));
        type Change = Box<dyn FnOnce(&mut pb::Assign)>;
        let cases: Vec<(&str, Change)> = vec![
            ("`run_id` is 0", Box::new(|a: &mut pb::Assign| a.run_id = 0)),
            (
                "`archive`",
                Box::new(|a: &mut pb::Assign| a.archive = b"not a tar".as_slice().into()),
            ),
            (
                "`options_json` is not JSON",
                Box::new(|a: &mut pb::Assign| a.options_json = "{".into()),
            ),
            (
                "`options_json`: ",
                Box::new(|a: &mut pb::Assign| a.options_json = r#"{"vus": "many"}"#.into()),
            ),
            (
                "`segment`: invalid --execution-segment \"abc\"",
                Box::new(|a: &mut pb::Assign| a.segment = "abc".into()),
            ),
            (
                "`sequence`: invalid --execution-segment-sequence \"0,x\"",
                Box::new(|a: &mut pb::Assign| a.sequence = "0,x".into()),
            ),
            (
                "`sequence` is not UTF-8 text",
                Box::new(|a: &mut pb::Assign| a.sequence = b"0,\xff,1".as_slice().into()),
            ),
            (
                "`segment` and `sequence`",
                Box::new(|a: &mut pb::Assign| {
                    a.segment = "0:1/2".into();
                    a.sequence = "0,1/3,1".into();
                }),
            ),
            (
                "`env` name \"A=B\"",
                Box::new(|a: &mut pb::Assign| {
                    a.env.insert("A=B".into(), "1".into());
                }),
            ),
            (
                "`env` has 10001 entries",
                Box::new(|a: &mut pb::Assign| {
                    a.env = (0..=MAX_ENV)
                        .map(|i| (format!("K{i}"), String::new()))
                        .collect();
                }),
            ),
        ];
        for (field, change) in cases {
            let e = refused(change);
            assert!(e.contains(field), "{field}: {e}");
            assert!(e.starts_with("invalid assignment: "), "{e}");
        }
    }
}
