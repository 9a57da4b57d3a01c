//! Files, modules and the HTTP API; the JSON output; execution segments.

use super::*;

#[test]
fn open_shared_array_local_import_encoding_and_crypto() {
    let t = Target::start();
    let r = run_example(&t, "data_and_modules.js", &[]);
    r.assert_code(0);
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 13, "{checks:?}");
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (6, 0), "check {name}");
    }
}

#[test]
fn http_bodies_cookies_batch_json_and_status_codes() {
    let t = Target::start();
    let r = run_example(&t, "http_features.js", &[]);
    r.assert_code(0);
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 13, "{checks:?}");
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (2, 0), "check {name}");
    }
    // 8 requests per iteration (the cookie redirect is two), 1 of them a 404.
    assert_eq!(r.stat("http_reqs", "count"), 16.0);
    assert_eq!(r.stat("http_req_failed", "passes"), 2.0);
    assert_eq!(r.stat("http_req_failed", "fails"), 14.0);
    assert_eq!(r.stat("http_req_failed", "rate"), 0.125);
}

#[test]
fn json_output_declares_each_metric_before_its_points() {
    let t = Target::start();
    let dir = temp_dir("json_output");
    let json = dir.join("out.json");
    let out = format!("json={}", json.display());
    let r = run_example(&t, "executors.js", &["--out", &out]);
    r.assert_code(0);
    let lines = read_ndjson(&json);
    let mut declared: BTreeMap<String, Value> = BTreeMap::new();
    let mut points: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        let metric = l["metric"].as_str().expect("metric name").to_string();
        match l["type"].as_str() {
            Some("Metric") => {
                assert_eq!(l["data"]["name"], metric.as_str());
                assert!(
                    ["counter", "gauge", "rate", "trend"]
                        .contains(&l["data"]["type"].as_str().unwrap_or("")),
                    "{l}"
                );
                assert!(
                    declared.insert(metric, l.clone()).is_none(),
                    "declared twice: {l}"
                );
            }
            Some("Point") => {
                assert!(
                    declared.contains_key(&metric),
                    "Point before its Metric line: {l}"
                );
                assert!(l["data"]["value"].is_number(), "{l}");
                let time = l["data"]["time"].as_str().unwrap_or("");
                assert!(time.len() > 20 && time.ends_with('Z'), "time {time:?}");
                assert!(l["data"]["tags"].is_object(), "{l}");
                *points.entry(metric).or_default() += 1;
            }
            _ => panic!("unknown line type: {l}"),
        }
    }
    // One http_reqs Point per request, with k6's request tags.
    assert_eq!(points.get("http_reqs"), Some(&50));
    assert_eq!(points.get("iterations"), Some(&50));
    assert_eq!(points.get("http_req_duration"), Some(&50));
    assert_eq!(r.stat("http_reqs", "count"), 50.0);
    let req = lines
        .iter()
        .find(|l| l["type"] == "Point" && l["metric"] == "http_reqs")
        .expect("an http_reqs point");
    let tags = &req["data"]["tags"];
    assert_eq!(tags["method"], "GET");
    assert_eq!(tags["status"], "200");
    assert_eq!(tags["scenario"], "shared-iterations");
    assert_eq!(tags["url"], format!("{}/", t.url));
    assert_eq!(declared["http_req_duration"]["data"]["contains"], "time");
    assert_eq!(declared["http_req_failed"]["data"]["type"], "rate");
}

#[test]
fn execution_segments_split_shared_iterations_like_k6() {
    let t = Target::start();
    let segments = ["0:1/3", "1/3:2/3", "2/3:1"];
    // The three instances run at the same time, as they would on three agents.
    let handles: Vec<_> = segments
        .iter()
        .map(|seg| {
            let url = t.url.clone();
            let seg = seg.to_string();
            std::thread::spawn(move || {
                let dir = temp_dir("segment");
                let json = dir.join("out.json");
                let out = format!("json={}", json.display());
                let summary = dir.join("summary.json");
                let args = [
                    "-q".to_string(),
                    "-e".into(),
                    format!("BASE_URL={url}"),
                    "-e".into(),
                    format!("OUT={}", summary.display()),
                    "-e".into(),
                    "VUS=10".into(),
                    "-e".into(),
                    "ITERATIONS=30".into(),
                    "--execution-segment".into(),
                    seg,
                    "--execution-segment-sequence".into(),
                    "0,1/3,2/3,1".into(),
                    "--out".into(),
                    out,
                    "examples/executors.js".into(),
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let started = Instant::now();
                let output = volley_run(&args, &[]);
                let run = finish(output, started.elapsed(), &summary);
                let lines = read_ndjson(&json);
                (run, lines)
            })
        })
        .collect();
    let results: Vec<(Run, Vec<Value>)> = handles
        .into_iter()
        .map(|h| h.join().expect("segment thread"))
        .collect();

    let expected_iters = [12.0, 9.0, 9.0];
    // docs/k6-compatibility.md#execution-segments, measured with k6: striped VU ids and iteration numbers.
    let expected_vus: [&[u64]; 3] = [&[1, 4, 7, 10], &[2, 5, 8], &[3, 6, 9]];
    let expected_first: [&[u64]; 3] = [&[0, 3, 5, 8], &[1, 4, 7, 11], &[2, 6, 9, 12]];
    let mut all = Vec::new();
    for (i, (run, lines)) in results.iter().enumerate() {
        run.assert_code(0);
        assert_eq!(
            run.stat("iterations", "count"),
            expected_iters[i],
            "segment {}",
            segments[i]
        );
        assert_eq!(run.stat("http_reqs", "count"), expected_iters[i]);
        assert_eq!(
            run.stat("vus_max", "value"),
            expected_vus[i].len() as f64,
            "segment {}: its share of the 10 VUs",
            segments[i]
        );
        // Which of a segment's VUs take its shared iterations is a race (on a loaded machine
        // one VU may take them all, under k6 too); their ids are striped all the same.
        let vus: BTreeSet<u64> = numbers(&point_tags(lines, "iterations_ran", "vu"))
            .into_iter()
            .collect();
        assert!(
            !vus.is_empty() && vus.iter().all(|v| expected_vus[i].contains(v)),
            "segment {}: VUs {vus:?} are not among its striped ids {:?}",
            segments[i],
            expected_vus[i]
        );
        let iters = numbers(&point_tags(lines, "iterations_ran", "iter"));
        assert_eq!(&iters[..4], expected_first[i], "segment {}", segments[i]);
        all.extend(iters);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..30).collect::<Vec<_>>(),
        "the union covers every iteration once"
    );
}
