//! When a threshold's verdict changes during a run (`docs/dashboard.md`, "Thresholds"): the
//! run evaluates every threshold on the merged data as often as it checks the `abortOnFail`
//! ones (every 2 s) and once more at the end; each change of verdict — passing to failing, and
//! back — is a crossing, recorded as a run event with its moment and the threshold's value then,
//! so the run page marks it on the metric's chart and the thresholds table says when, live and
//! once the run has ended (the HTML report too). A threshold passes until its metric has data,
//! as in k6. At most [`MAX_CROSSINGS`] are recorded per run: a threshold that flaps would
//! otherwise fill the run's events.

use std::collections::HashMap;

use volley_api::ThresholdCrossing;
use volley_common::summary::build::ThresholdResults;

/// Crossings recorded per run; one event more says that later ones are not.
pub const MAX_CROSSINGS: usize = 20;

/// Each threshold's verdict so far and how many crossings were recorded.
#[derive(Debug, Default)]
pub struct Crossings {
    /// By (metric key, expression); absent: passing (no data yet).
    verdicts: HashMap<(String, String), bool>,
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
    /// The verdicts of one evaluation against the ones before.
    pub fn observe(&mut self, results: &ThresholdResults) -> Observed {
        let mut out = Observed::default();
        for (key, list) in results {
            for (t, r) in list {
                let was = self
                    .verdicts
                    .insert((key.clone(), t.source.clone()), r.ok)
                    .unwrap_or(true);
                if was == r.ok {
                    continue;
                }
                if self.recorded < MAX_CROSSINGS {
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
}
