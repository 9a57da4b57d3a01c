use std::time::Duration;

use crate::js::modulestest::TestVu;

#[test]
fn the_module_exports_the_globals_and_ids_count_up_per_vu() {
    let vu = TestVu::new();
    vu.run(
        "import timers, { setTimeout as st, clearInterval as ci } from 'k6/timers';
         globalThis.r = [st === setTimeout, ci === clearInterval, timers.setInterval === setInterval,
                         setTimeout(() => {}, 1), setInterval(() => {}, 1), setTimeout(() => {})];
         clearInterval(r[4]);",
    )
    .unwrap();
    assert_eq!(vu.json("r"), serde_json::json!([true, true, true, 1, 2, 3]));
    vu.run("globalThis.r = setTimeout(() => {}, 0);").unwrap();
    assert_eq!(vu.json("r"), serde_json::json!(4));
}

#[test]
fn jobs_run_before_timers_and_after_each_timer_and_timers_go_by_due_time() {
    let vu = TestVu::new();
    vu.run(
        "globalThis.log = [];
         setTimeout((a, b) => log.push('t10 ' + a + b), 10, 'x', 'y');
         setTimeout(() => log.push('t0'), 0);
         const c = setTimeout(() => log.push('cancelled'), 5);
         clearTimeout(c);
         Promise.resolve().then(() => log.push('micro'));
         (async () => { log.push('async'); await null; log.push('after await'); })();
         let n = 0;
         const iv = setInterval(() => { log.push('iv' + n); if (++n == 3) clearInterval(iv); }, 20);
         setTimeout(() => { log.push('t30'); Promise.resolve().then(() => log.push('micro t30')); }, 30);
         setTimeout(() => log.push('t30b'), 30);
         log.push('sync end');",
    )
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "async",
            "sync end",
            "micro",
            "after await",
            "t0",
            "t10 xy",
            "iv0",
            "t30",
            "micro t30",
            "t30b",
            "iv1",
            "iv2"
        ])
    );
    // The VU waited for the timers by sleeping (suspending), not by spinning: 60 ms in all,
    // up to the interval's third turn.
    let slept: Duration = vu.slept().iter().sum();
    assert!(
        slept > Duration::from_millis(50) && slept <= Duration::from_millis(60),
        "{slept:?}"
    );
}

#[test]
fn an_awaited_timer_resolves_the_module_and_a_never_settling_promise_ends_with_the_loop() {
    let vu = TestVu::new();
    vu.run(
        "globalThis.r = [];
         await new Promise((res) => setTimeout(res, 50));
         r.push('awaited');",
    )
    .unwrap();
    assert_eq!(vu.json("r"), serde_json::json!(["awaited"]));
    vu.run(
        "setTimeout(() => r.push('timer'), 30);
         await new Promise(() => {});
         r.push('never');",
    )
    .unwrap();
    assert_eq!(vu.json("r"), serde_json::json!(["awaited", "timer"]));
}

#[test]
fn a_throwing_callback_fails_and_drops_the_pending_timers() {
    let vu = TestVu::new();
    let e = vu
        .run(
            "globalThis.ran = [];
             setTimeout(() => { throw new Error('in timer'); }, 10);
             setTimeout(() => ran.push('later'), 50);
             setInterval(() => ran.push('iv'), 40);",
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "in timer");
    assert_eq!(vu.json("ran"), serde_json::json!([]));
    assert!(vu.vu.timers.is_empty());
    vu.run("setTimeout(() => ran.push('next'), 1);").unwrap();
    assert_eq!(vu.json("ran"), serde_json::json!(["next"]));
}

#[test]
fn callbacks_must_be_functions_and_clearing_anything_else_is_ignored() {
    let vu = TestVu::new();
    for (call, name) in [
        ("setTimeout()", "setTimeout"),
        ("setTimeout(5, 1)", "setTimeout"),
        ("setInterval(null)", "setInterval"),
    ] {
        let e = vu.run(call).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("TypeError: {name}'s callback isn't a callable function"),
            "{call}"
        );
    }
    vu.run("clearTimeout(); clearTimeout('x'); clearInterval(99); clearTimeout(1.5);")
        .unwrap();
}
