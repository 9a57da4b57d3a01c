//! When a threshold's verdict changes during a run (`docs/dashboard.md`, "Thresholds"): the
//! run evaluates every threshold on the merged data as often as it checks the `abortOnFail`
//! ones (every 2 s) and once more at the end; each change of verdict — passing to failing, and
//! back — is a crossing, recorded as a run event with its moment and the threshold's value then,
//! so the run page marks it on the metric's chart and the thresholds table says when, live and
//! once the run has ended (the HTML report too). A threshold passes until its metric has data,
//! as in k6. At most [`MAX_CROSSINGS`] are recorded per run: a threshold that flaps would
//! otherwise fill the run's events.
//!
//! A run resumed from its checkpoint (a controller restart or a new Raft leader,
//! `docs/failures.md`) recalls the crossings it recorded from its events: its data goes back to
//! the checkpoint's and its agents replay the batches since, so a crossing already recorded is
//! seen again — it is not recorded twice, and it still counts toward the cap.

use std::collections::HashMap;

use volley_api::{RunEvent, ThresholdCrossing};
use volley_common::summary::build::ThresholdResults;

/// Crossings recorded per run; one event more says that later ones are not.
pub const MAX_CROSSINGS: usize = 20;

/// Each threshold's verdict so far and how many crossings were recorded.
#[derive(Debug, Default)]
pub struct Crossings {
    /// By (metric key, expression); absent: passing (no data yet).
    verdicts: HashMap<(String, String), bool>,
    /// The verdict of each threshold's last recorded crossing, by the same key; absent: none
    /// (passing). It differs from `verdicts` only past the cap or after a resume.
    last_recorded: HashMap<(String, String), bool>,
    recorded: usize,
}

/// What one evaluation changed.
#[derive(Debug, Default, PartialEq)]
pub struct Observed {
    /// The crossings to record, in the thresholds' order.
    pub crossings: Vec<ThresholdCrossing>,
    /// This evaluation found the first crossing beyond [`MAX_CROSSINGS`].
    pub capped: bool,
}

impl Crossings {
    /// What a resumed run recorded before (its events): their crossings are not recorded
    /// again, and they and the cap's event count as before.
    pub fn recall(events: &[RunEvent]) -> Self {
        let mut c = Crossings::default();
        let capped = capped_message();
        for e in events {
            if let Some(t) = &e.threshold {
                c.last_recorded
                    .insert((t.metric.clone(), t.threshold.clone()), t.ok);
                c.recorded += 1;
            } else if e.message == capped {
                c.recorded = c.recorded.max(MAX_CROSSINGS + 1);
            }
        }
        c
    }

    /// The verdicts of one evaluation against the ones before.
    pub fn observe(&mut self, results: &ThresholdResults) -> Observed {
        let mut out = Observed::default();
        for (key, list) in results {
            for (t, r) in list {
                let id = (key.clone(), t.source.clone());
                let was = self.verdicts.insert(id.clone(), r.ok).unwrap_or(true);
                if was == r.ok || self.last_recorded.get(&id).copied().unwrap_or(true) == r.ok {
                    // Unchanged, or recorded before the run was resumed.
                    continue;
                }
                if self.recorded < MAX_CROSSINGS {
                    self.last_recorded.insert(id, r.ok);
                    out.crossings.push(ThresholdCrossing {
                        metric: key.clone(),
                        threshold: t.source.clone(),
                        ok: r.ok,
                        stat: r.stat.clone(),
                        value: r.observed.is_finite().then_some(r.observed),
                    });
                } else if self.recorded == MAX_CROSSINGS {
                    out.capped = true;
                }
                self.recorded += 1;
            }
        }
        out
    }
}

/// The event that says later crossings are not recorded (once per run).
pub fn capped_message() -> String {
    format!("more than {MAX_CROSSINGS} threshold crossings: later ones are not recorded")
}

/// The event's message for a crossing: ``threshold `p(95)<200` on http_req_duration now fails
/// (p(95) = 312.40)``.
pub fn message(c: &ThresholdCrossing) -> String {
    format!(
        "threshold `{}` on {} {} ({} = {})",
        c.threshold,
        c.metric,
        if c.ok { "passes again" } else { "now fails" },
        c.stat,
        c.value
            .map_or_else(|| "none".to_string(), |v| format!("{v:.2}"))
    )
}

#[cfg(test)]
mod tests {
    use volley_common::threshold::{Threshold, ThresholdResult};

    use super::*;

    fn results(ok: bool, observed: f64) -> ThresholdResults {
        let t = Threshold::parse("p(95)<200").unwrap();
        let r = ThresholdResult {
            ok,
            stat: "p(95)".into(),
            observed,
        };
        vec![("http_req_duration".into(), vec![(t, r)])]
    }

    #[test]
    fn a_verdict_that_changes_is_a_crossing_each_way() {
        let mut c = Crossings::default();
        assert_eq!(c.observe(&results(true, 10.0)), Observed::default());
        let failing = c.observe(&results(false, 312.4));
        assert_eq!(failing.crossings.len(), 1);
        assert_eq!(
            message(&failing.crossings[0]),
            "threshold `p(95)<200` on http_req_duration now fails (p(95) = 312.40)"
        );
        assert_eq!(
            c.observe(&results(false, 400.0)),
            Observed::default(),
            "still failing"
        );
        let back = c.observe(&results(true, 150.0));
        assert!(back.crossings[0].ok);
        assert_eq!(back.crossings[0].value, Some(150.0));
    }

    #[test]
    fn a_flapping_threshold_records_at_most_the_cap() {
        let mut c = Crossings::default();
        let mut recorded = 0;
        let mut capped = 0;
        for i in 0..100 {
            let o = c.observe(&results(i % 2 == 1, 1.0));
            recorded += o.crossings.len();
            capped += usize::from(o.capped);
        }
        assert_eq!(recorded, MAX_CROSSINGS);
        assert_eq!(capped, 1, "said once");
    }

    #[test]
    fn a_resumed_run_recalls_what_it_recorded() {
        let event = |observed: &Observed| RunEvent {
            at: String::new(),
            level: "warning".into(),
            message: message(&observed.crossings[0]),
            threshold: Some(observed.crossings[0].clone()),
        };
        let mut c = Crossings::default();
        let failing = c.observe(&results(false, 312.4));
        let mut c = Crossings::recall(&[event(&failing)]);
        // Its data is the checkpoint's (still passing), then replayed: the same crossing.
        assert_eq!(c.observe(&results(true, 10.0)), Observed::default());
        assert_eq!(c.observe(&results(false, 312.4)), Observed::default());
        assert!(c.observe(&results(true, 150.0)).crossings[0].ok);
        assert_eq!(c.recorded, 2);

        // A run that said the cap does not say it again.
        let mut events = vec![event(&failing); MAX_CROSSINGS];
        events.push(RunEvent {
            at: String::new(),
            level: "info".into(),
            message: capped_message(),
            threshold: None,
        });
        let mut c = Crossings::recall(&events);
        assert_eq!(c.observe(&results(false, 300.0)), Observed::default());
        assert_eq!(c.observe(&results(true, 1.0)), Observed::default());
        // Without the cap's event, the next crossing says it.
        let mut c = Crossings::recall(&events[..MAX_CROSSINGS]);
        assert_eq!(c.observe(&results(false, 300.0)), Observed::default());
        let over = c.observe(&results(true, 1.0));
        assert!(over.capped && over.crossings.is_empty());
    }
}
