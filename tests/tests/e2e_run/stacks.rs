//! Stack safety: deep recursion, VUs blocking inside JS, natives printed as native code.

use super::*;

#[test]
fn deep_recursion_is_a_catchable_range_error() {
    let t = Target::start();
    let r = run_example(&t, "recursion.js", &[]);
    r.assert_code(0);
    assert_eq!(
        checks_of(&r.data()["root_group"]),
        [
            ("RangeError caught".to_string(), 4, 0),
            ("stack still usable".to_string(), 4, 0)
        ]
    );
}

#[test]
fn vus_blocking_inside_js_keep_their_own_stacks_jobs_and_traces() {
    // 20 VUs on one JS worker (one shared QuickJS runtime) block deep in recursion, inside
    // promise jobs and between frames that throw, while the others run.
    let t = Target::start();
    let r = run_example(&t, "interleaved_vus.js", &["--workers", "1"]);
    r.assert_code(0);
    let checks = checks_of(&r.data()["root_group"]);
    assert_eq!(checks.len(), 5, "{checks:?}");
    for (name, passes, fails) in checks {
        assert_eq!((passes, fails), (100, 0), "check {name}");
    }
    assert_eq!(r.stat("http_reqs", "count"), 400.0);
    assert_eq!(r.stat("iterations", "count"), 100.0);
}

#[test]
fn k6_module_functions_print_as_native_code() {
    // As in k6, whose modules are Go: no module source is shown (nor kept in every VU).
    let r = run_inline(
        "native_code",
        "import http from 'k6/http';\n\
         export const options = { vus: 1, iterations: 1 };\n\
         export default function () { console.log(String(http.get)); }\n",
        &[],
    );
    r.assert_code(0);
    assert!(r.stderr.contains("[native code]"), "{}", r.stderr);
    assert!(!r.stderr.contains("send("), "{}", r.stderr);
}
