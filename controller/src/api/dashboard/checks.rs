//! A run's checks so far, for the run page's groups/checks tree while the run goes
//! (`docs/dashboard.md`): the `checks` metric's series merged per group and check, over the
//! agents and every other tag. Once the run has ended the page shows the end-of-test summary's
//! `root_group` instead.

use std::collections::HashMap;

use serde::Serialize;
use volley_common::metrics::store::SeriesStore;
use volley_common::metrics::Sink;

/// Checks a run stream sends (the first in group and name order); a script with more is cut
/// there, and the event says so.
pub const MAX_CHECKS: usize = 1000;

/// One check's passes and fails so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckCount {
    /// The check's group path (`::login::form`; empty at the root), as k6 tags it.
    pub group: String,
    pub check: String,
    pub passes: u64,
    pub fails: u64,
}

/// The run's checks so far in the order the run first reported them (the script's order, as
/// the summary keeps it), at most [`MAX_CHECKS`], and whether there were more.
pub fn checks(store: &SeriesStore) -> (Vec<CheckCount>, bool) {
    let mut list: Vec<CheckCount> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut more = false;
    for (name, tags, sink) in store.series() {
        let (true, Sink::Rate(rate)) = (name == "checks", sink) else {
            continue;
        };
        let key = (
            tags.get("group").unwrap_or(""),
            tags.get("check").unwrap_or(""),
        );
        let i = match index.get(&key) {
            Some(i) => *i,
            None if list.len() >= MAX_CHECKS => {
                more = true;
                continue;
            }
            None => {
                index.insert(key, list.len());
                list.push(CheckCount {
                    group: key.0.to_string(),
                    check: key.1.to_string(),
                    passes: 0,
                    fails: 0,
                });
                list.len() - 1
            }
        };
        list[i].passes += rate.trues;
        list[i].fails += rate.total.saturating_sub(rate.trues);
    }
    (list, more)
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_common::metrics::store::MetricInfo;
    use volley_common::metrics::{MetricType, TagSet};

    fn add(store: &mut SeriesStore, group: &str, check: &str, agent: &str, values: &[f64]) {
        let mut sink = Sink::new(MetricType::Rate);
        for v in values {
            sink.add(*v, 0);
        }
        let tags = TagSet::from_pairs([
            ("group".to_string(), group.to_string()),
            ("check".to_string(), check.to_string()),
            ("agent".to_string(), agent.to_string()),
        ]);
        let info = MetricInfo {
            mtype: MetricType::Rate,
            contains: Default::default(),
        };
        store.merge("checks", info, &tags, &sink).expect("merge");
    }

    #[test]
    fn checks_are_merged_over_agents_and_other_tags_in_the_order_first_seen() {
        let mut store = SeriesStore::new();
        add(
            &mut store,
            "::login",
            "status is 200",
            "gen-1",
            &[1.0, 1.0, 0.0],
        );
        add(&mut store, "::login", "status is 200", "gen-2", &[1.0]);
        add(&mut store, "", "body ok", "gen-1", &[0.0, 0.0]);
        let (list, more) = checks(&store);
        assert!(!more);
        assert_eq!(
            list,
            [
                CheckCount {
                    group: "::login".into(),
                    check: "status is 200".into(),
                    passes: 3,
                    fails: 1
                },
                CheckCount {
                    group: String::new(),
                    check: "body ok".into(),
                    passes: 0,
                    fails: 2
                },
            ]
        );
    }
}
