//! `k6`: `check`, `group`, `sleep`, `fail` and `randomSeed`. Checks and groups are recorded
//! natively (`checks`, `group_duration` and the VU's `group` tag).

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Value};

use super::convert::tags_from_js;
use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::{throw_interrupted, Phase, VuCtx};
use crate::metrics::builtin;

type R<T> = rquickjs::Result<T>;

/// `k6`.
pub const MODULE: K6Module = K6Module {
    name: "k6",
    js: include_str!("k6.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "recordCheck",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, ok: bool, tags: Opt<Value<'js>>| -> R<()> {
                if vu1.phase.get() == Phase::Init {
                    return Err(Exception::throw_message(
                        &ctx,
                        "check() is not supported in the init context",
                    ));
                }
                let mut extra = tags_from_js(tags.0.as_ref())?;
                extra.push(("check".into(), name));
                let refs: Vec<(&str, &str)> = extra
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let ts = vu1.tags_with(&refs);
                vu1.emit(
                    builtin::CHECKS,
                    &ts,
                    if ok { 1.0 } else { 0.0 },
                    SystemTime::now(),
                );
                Ok(())
            },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "groupEnter",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| -> R<()> {
            if vu2.phase.get() == Phase::Init {
                return Err(Exception::throw_message(
                    &ctx,
                    "group() is not supported in the init context",
                ));
            }
            if name.contains("::") {
                return Err(Exception::throw_message(
                    &ctx,
                    "group and check names may not contain '::'",
                ));
            }
            let mut st = vu2.state.borrow_mut();
            let prev = st.group.clone();
            st.group = format!("{prev}::{name}");
            st.base_tags = None;
            st.group_starts.push(std::time::Instant::now());
            Ok(())
        })?,
    )?;
    let vu3 = vu.clone();
    v.set(
        "groupExit",
        Function::new(ctx.clone(), move || {
            let start = vu3.state.borrow_mut().group_starts.pop();
            if let Some(start) = start {
                let tags = vu3.tags_with(&[]);
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                vu3.emit(builtin::GROUP_DURATION, &tags, ms, SystemTime::now());
            }
            let mut st = vu3.state.borrow_mut();
            if let Some(i) = st.group.rfind("::") {
                st.group.truncate(i);
            }
            st.base_tags = None;
        })?,
    )?;
    let vu4 = vu.clone();
    v.set(
        "sleep",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, secs: f64| -> R<()> {
            if !secs.is_finite() || secs <= 0.0 {
                return Ok(());
            }
            let d = Duration::from_secs_f64(secs.min(1e9));
            vu4.sleep(d).map_err(|_| throw_interrupted(&ctx))
        })?,
    )?;
    v.set(
        "randomSeed",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, seed: f64| -> R<()> {
            // Replace Math.random with a seeded xorshift generator, as k6's randomSeed does.
            let src = format!(
                "(() => {{ let s = BigInt.asUintN(64, BigInt({seed}) ^ 0x9E3779B97F4A7C15n) || 1n; \
                 Math.random = function() {{ s ^= BigInt.asUintN(64, s << 13n); s ^= s >> 7n; \
                 s ^= BigInt.asUintN(64, s << 17n); return Number(s >> 11n) / 9007199254740992; }}; }})()",
                seed = seed.trunc() as i64
            );
            ctx.eval::<(), _>(src)
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use crate::js::vu_ctx::Phase;

    #[test]
    fn check_records_one_sample_per_named_check_with_the_group_and_returns_all_passed() {
        let vu = TestVu::new();
        vu.run(
            "import { check, group } from 'k6';
             globalThis.r = group('g', () => [
               check(200, { 'is 200': (s) => s === 200, 'is 404': (s) => s === 404 }, { t: 1 }),
               check(1, { ok: true }),
             ]);",
        )
        .unwrap();
        assert_eq!(vu.json("r"), serde_json::json!([false, true]));
        let checks: Vec<_> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "checks")
            .map(|s| (s.tags["check"].clone(), s.tags["group"].clone(), s.value))
            .collect();
        assert_eq!(
            checks,
            [
                ("is 200".to_string(), "::g".to_string(), 1.0),
                ("is 404".to_string(), "::g".to_string(), 0.0),
                ("ok".to_string(), "::g".to_string(), 1.0),
            ]
        );
    }

    #[test]
    fn a_check_that_throws_counts_as_failed_and_stops_its_set() {
        // k6 v1.1.0: {before, throws, after} records before=1 and throws=0, never after.
        let vu = TestVu::new();
        let e = vu
            .run(
                "import { check } from 'k6';
                 check(1, { before: () => true, throws: () => { throw new Error('x'); },
                            after: () => true });",
            )
            .unwrap_err();
        assert_eq!(e.to_string(), "x");
        let checks: Vec<_> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "checks")
            .map(|s| (s.tags["check"].clone(), s.value))
            .collect();
        assert_eq!(
            checks,
            [("before".to_string(), 1.0), ("throws".to_string(), 0.0)]
        );
    }

    #[test]
    fn check_takes_any_value_as_its_checks_as_k6_does() {
        // k6 v1.1.0: no second argument is a GoError, null a TypeError, and anything else is
        // converted to an object (a string's characters are checks; a number has none).
        let vu = TestVu::new();
        vu.run(
            "import { check } from 'k6';
             const threw = (f) => { try { f(); return null; } catch (e) { return String(e); } };
             globalThis.out = [threw(() => check(1)), threw(() => check(1, null)),
                               check(1, 5), check(1, 'x')];",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                "GoError: no checks provided to `check`",
                "TypeError: Cannot convert undefined or null to object",
                true,
                true
            ])
        );
        let names: Vec<_> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "checks")
            .map(|s| s.tags["check"].clone())
            .collect();
        assert_eq!(names, ["0"]);
    }

    #[test]
    fn groups_nest_and_record_their_duration_once_left() {
        let vu = TestVu::new();
        vu.run("import { group } from 'k6'; group('a', () => group('b', () => 1));")
            .unwrap();
        let groups: Vec<String> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "group_duration")
            .map(|s| s.tags["group"].clone())
            .collect();
        assert_eq!(groups, ["::a::b", "::a"]);
        assert_eq!(vu.vu.state.borrow().group, "");
        let e = vu
            .run("import { group } from 'k6'; group('x::y', () => 1);")
            .unwrap_err();
        assert_eq!(e.to_string(), "group and check names may not contain '::'");
    }

    #[test]
    fn check_and_group_are_refused_in_the_init_context_and_sleep_yields() {
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        let e = vu
            .run("import { check } from 'k6'; check(1, { a: true });")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "check() is not supported in the init context"
        );
        vu.set_phase(Phase::Iteration);
        vu.run("import { sleep } from 'k6'; sleep(0.25); sleep(0); sleep(-1);")
            .unwrap();
        assert_eq!(vu.slept(), [std::time::Duration::from_millis(250)]);
    }
}
