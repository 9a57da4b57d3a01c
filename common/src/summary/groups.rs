//! The group tree of a summary (`root_group`), built from the merged `checks` and
//! `group_duration` series: a group is in the tree once any sample was emitted in it.

use super::{CheckReport, GroupReport};
use crate::metrics::store::SeriesStore;

impl SeriesStore {
    /// The group tree with check counts, from the `checks` and `group_duration` series.
    pub fn group_tree(&self) -> GroupReport {
        let mut root = GroupReport::default();
        for (name, tags, sink) in self.series() {
            if name != "checks" && name != "group_duration" {
                continue;
            }
            let path = tags.get("group").unwrap_or("").to_string();
            let group = ensure_group(&mut root, &path);
            if name == "checks" {
                let Some(check) = tags.get("check") else {
                    continue;
                };
                let passes = sink.stat("passes", 1.0).unwrap_or(0.0) as u64;
                let fails = sink.stat("fails", 1.0).unwrap_or(0.0) as u64;
                match group.checks.iter_mut().find(|c| c.name == check) {
                    Some(c) => {
                        c.passes += passes;
                        c.fails += fails;
                    }
                    None => group.checks.push(CheckReport {
                        name: check.to_string(),
                        path: format!("{path}::{check}"),
                        passes,
                        fails,
                    }),
                }
            }
        }
        root
    }
}

fn ensure_group<'a>(root: &'a mut GroupReport, path: &str) -> &'a mut GroupReport {
    if path.is_empty() {
        return root;
    }
    let mut cur = root;
    let mut so_far = String::new();
    for part in path.split("::").skip(1) {
        so_far.push_str("::");
        so_far.push_str(part);
        let idx = match cur.groups.iter().position(|g| g.name == part) {
            Some(i) => i,
            None => {
                cur.groups.push(GroupReport {
                    name: part.to_string(),
                    path: so_far.clone(),
                    ..GroupReport::default()
                });
                cur.groups.len() - 1
            }
        };
        cur = &mut cur.groups[idx];
    }
    cur
}

#[cfg(test)]
mod tests {
    use crate::metrics::store::{MetricInfo, SeriesStore};
    use crate::metrics::{MetricType, Sink, TagSet, ValueType};

    fn rate(passes: u64, fails: u64) -> Sink {
        let mut s = Sink::new(MetricType::Rate);
        for _ in 0..passes {
            s.add(1.0, 0);
        }
        for _ in 0..fails {
            s.add(0.0, 0);
        }
        s
    }

    const RATE: MetricInfo = MetricInfo {
        mtype: MetricType::Rate,
        contains: ValueType::Default,
    };

    #[test]
    fn group_tree_from_checks() {
        let mut s = SeriesStore::new();
        let t = |g: &str, c: &str| TagSet::from_pairs([("group", g), ("check", c)]);
        s.merge("checks", RATE, &t("::api", "is 200"), &rate(4, 0))
            .unwrap();
        s.merge("checks", RATE, &t("::api::nested", "slept"), &rate(1, 1))
            .unwrap();
        s.merge("checks", RATE, &t("", "root check"), &rate(2, 0))
            .unwrap();
        let root = s.group_tree();
        assert_eq!(root.checks[0].name, "root check");
        assert_eq!(root.groups[0].path, "::api");
        assert_eq!(root.groups[0].checks[0].passes, 4);
        assert_eq!(root.groups[0].groups[0].path, "::api::nested");
        assert_eq!(root.groups[0].groups[0].checks[0].fails, 1);
    }
}
