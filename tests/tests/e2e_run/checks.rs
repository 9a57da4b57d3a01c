//! Checks, groups, custom metrics and k6/execution values in the summary.

use super::*;

/// Finds the group with this path in the root_group tree.
fn group<'a>(root: &'a Value, path: &str) -> &'a Value {
    if root["path"] == path {
        return root;
    }
    root["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|g| {
            let p = g["path"].as_str().unwrap_or("");
            (path == p || path.starts_with(&format!("{p}::"))).then(|| group(g, path))
        })
        .unwrap_or_else(|| panic!("no group {path:?} in {root}"))
}

#[test]
fn checks_and_groups_form_the_root_group_tree() {
    let t = Target::start();
    let r = run_example(&t, "checks_groups.js", &[]);
    r.assert_code(0);
    let root = &r.data()["root_group"];
    // Ids are the md5 of the path (values from an independent md5 implementation).
    let ids = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("::api", "e6550cde192dbabccfbb3b1bac03a92a"),
        ("::api::nested", "7bc7ae5cf327bfe67ba39c0598361516"),
        ("::html", "50f85747a5539a7a29be3caa31328b79"),
    ];
    for (path, id) in ids {
        let g = group(root, path);
        assert_eq!(g["id"], id, "id of group {path:?}");
        let name = path.rsplit("::").next().unwrap_or("");
        assert_eq!(g["name"], name);
    }
    let names = |g: &Value| -> Vec<String> {
        g["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["path"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(root), ["::api", "::html"]);
    assert_eq!(names(group(root, "::api")), ["::api::nested"]);
    assert!(names(group(root, "::api::nested")).is_empty());

    // 10 iterations; checks are listed in the order the script first ran them.
    let s = |n: &str, p, f| (n.to_string(), p, f);
    assert_eq!(checks_of(root), [s("at the root", 10, 0)]);
    assert_eq!(checks_of(group(root, "::api")), [s("status is 200", 10, 0)]);
    assert_eq!(
        checks_of(group(root, "::api::nested")),
        [s("even iteration", 6, 4)]
    );
    assert_eq!(
        checks_of(group(root, "::html")),
        [
            s("is html", 10, 0),
            s("never true", 0, 10),
            s("check() returned false", 10, 0)
        ]
    );
    let even = &group(root, "::api::nested")["checks"][0];
    assert_eq!(even["path"], "::api::nested::even iteration");
    assert_eq!(even["id"], "5b302b32bacc2c53af52931539b6c7ff");
    assert_eq!(
        group(root, "::html")["checks"][1]["id"],
        "ef349147da7c1b9c3ac84f0a30286c19"
    );
    // The checks rate metric counts them all.
    assert_eq!(r.stat("checks", "passes"), 46.0);
    assert_eq!(r.stat("checks", "fails"), 14.0);
    assert_eq!(r.stat("http_reqs", "count"), 20.0);
    assert!(r.stat("group_duration", "max") > 0.0);
}

#[test]
fn custom_metrics_with_tags_and_execution_values() {
    let t = Target::start();
    let dir = temp_dir("custom_metrics_json");
    let json = dir.join("out.json");
    let out = format!("json={}", json.display());
    let r = run_example(&t, "custom_metrics.js", &["--out", &out]);
    r.assert_code(0);
    // Counter: +2 in each of 12 iterations, half of them tagged kind=a.
    assert_eq!(r.metric("items")["type"], "counter");
    assert_eq!(r.stat("items", "count"), 24.0);
    assert_eq!(r.stat("items{kind:a}", "count"), 12.0);
    assert!(r.threshold_ok("items{kind:a}", "count==12"));
    // Gauge: __VU × 10 for VUs 1..3.
    assert_eq!(r.metric("level")["type"], "gauge");
    assert_eq!(r.stat("level", "min"), 10.0);
    assert_eq!(r.stat("level", "max"), 30.0);
    assert!([10.0, 20.0, 30.0].contains(&r.stat("level", "value")));
    // Rate: even __ITER, 2 of each VU's 4 iterations.
    assert_eq!(r.metric("even_iters")["type"], "rate");
    assert_eq!(r.stat("even_iters", "passes"), 6.0);
    assert_eq!(r.stat("even_iters", "fails"), 6.0);
    assert_eq!(r.stat("even_iters", "rate"), 0.5);
    // Trend (time): 0, 10, 20, 30 ms per VU.
    let waits = r.metric("waits");
    assert_eq!(
        (&waits["type"], &waits["contains"]),
        (&"trend".into(), &"time".into())
    );
    assert_eq!(r.stat("waits", "min"), 0.0);
    assert_eq!(r.stat("waits", "max"), 30.0);
    assert_eq!(r.stat("waits", "avg"), 15.0);
    assert_eq!(r.stat("waits", "med"), 15.0);
    // One VU's samples: k6's interpolation gives p(90) = 20 + 0.7 × 10.
    assert_eq!(r.stat("waits{vu:1}", "max"), 30.0);
    assert!((r.stat("waits{vu:1}", "p(90)") - 27.0).abs() < 1e-9);
    // exec.vu / exec.scenario agree with __VU / __ITER in every iteration.
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 4);
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (12, 0), "check {name}");
    }
    // iterationInTest: 0..11, each exactly once across the VUs.
    let lines = read_ndjson(&json);
    assert_eq!(
        numbers(&point_tags(&lines, "iteration_ids", "iter")),
        (0..12).collect::<Vec<_>>()
    );
    // Custom tags appear on the raw samples.
    let kinds: BTreeSet<String> = point_tags(&lines, "items", "kind").into_iter().collect();
    assert_eq!(kinds, BTreeSet::from(["a".to_string(), "b".to_string()]));
}
