//! Assign and SetSummary: a run's placement and its merged summary.

use super::*;

#[test]
fn assign_and_summary() {
    let mut s = run_in(RunStatus::Queued);
    let a = vec![assignment("gen-1", "0:1/3"), assignment("gen-2", "1/3:2/3")];
    let r = apply_all(
        &mut s,
        &[Command::Assign {
            run_id: 1,
            placement: placement(a.clone()),
        }],
    );
    assert_eq!(r[0].effect, Effect::RunAssigned { run_id: 1 });
    assert_eq!(run1(&s).assignments, a);
    assert_eq!(run1(&s).sequence, "0,1/3,2/3,1");

    let dup = vec![assignment("gen-1", "0:1/2"), assignment("gen-1", "1/2:1")];
    let e = s
        .apply(
            10,
            &Command::Assign {
                run_id: 1,
                placement: placement(dup),
            },
        )
        .err();
    assert!(e
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("assigned twice"));
    let empty = vec![assignment("", "0:1")];
    assert!(s
        .apply(
            10,
            &Command::Assign {
                run_id: 1,
                placement: placement(empty)
            }
        )
        .is_err());

    let summary = json!({"metrics": {"iterations": {"values": {"count": 3000}}}});
    apply_all(
        &mut s,
        &[
            to(1, RunStatus::AbortedBySystem, T0),
            Command::SetSummary {
                run_id: 1,
                summary: summary.clone(),
            },
        ],
    );
    assert_eq!(run1(&s).summary, Some(summary));
    let e = s
        .apply(
            20,
            &Command::Assign {
                run_id: 1,
                placement: placement(a),
            },
        )
        .err();
    assert_eq!(
        e.map(|e| e.to_string()).unwrap_or_default(),
        "run 1 is ABORTED_BY_SYSTEM (terminal); its placement can no longer change"
    );
    let e = s.apply(
        20,
        &Command::SetSummary {
            run_id: 5,
            summary: json!({}),
        },
    );
    assert_eq!(e, Err(StateError::UnknownRun(5)));
}
