//! `k6/execution`: what the VU, its scenario and this instance are doing (`exec.vu`,
//! `exec.scenario`, `exec.instance`), the VU's tags, and test control (`exec.test.abort()`,
//! `fail()`, `options`).

use std::rc::Rc;
use std::sync::atomic::Ordering;

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Value};
use volley_common::exit::AbortReason;

#[path = "execution_options.rs"]
mod options_shape;

use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::{throw_interrupted, Phase, VuCtx};

type R<T> = rquickjs::Result<T>;

/// `k6/execution`.
pub const MODULE: K6Module = K6Module {
    name: "k6/execution",
    js: include_str!("execution.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "info",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: String| -> R<Value<'js>> { info(&ctx, &vu1, &key) },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "testAbort",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  msg: Opt<Option<String>>,
                  code: Opt<Option<f64>>,
                  context: Opt<Option<String>>|
                  -> R<()> {
                let message = msg.0.flatten();
                let exit_code = code.0.flatten().map(|c| c as i32);
                if let Some(c) = exit_code {
                    if !(0..=255).contains(&c) {
                        return Err(Exception::throw_range(
                            &ctx,
                            "test.abort(): exitCode must be an integer from 0 to 255",
                        ));
                    }
                }
                let context = context
                    .0
                    .flatten()
                    .and_then(|s| serde_json::from_str(&s).ok());
                vu2.abort_test(AbortReason::ScriptAbort {
                    message,
                    exit_code,
                    context,
                });
                Err(throw_interrupted(&ctx))
            },
        )?,
    )?;
    let vu3 = vu.clone();
    v.set(
        "testFail",
        Function::new(ctx.clone(), move |msg: Opt<Option<String>>| {
            let m = msg.0.flatten();
            crate::console::log_error(
                &format!(
                    "test marked as failed{}",
                    m.as_deref().map(|x| format!(": {x}")).unwrap_or_default()
                ),
                &[],
            );
            if let Some(control) = &vu3.control {
                control.mark_failed(m);
            }
        })?,
    )?;
    let vu4 = vu.clone();
    v.set(
        "options",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| -> R<Value<'js>> {
            let json = vu4
                .run
                .as_ref()
                .map(|r| options_shape::k6_shape(&r.settings.options_json).to_string())
                .unwrap_or_else(|| "{}".into());
            let v = ctx.json_parse(json)?;
            // k6 hands out a frozen copy.
            let freeze: Function = ctx.eval("(o) => { const f = (x) => { if (x && typeof x === 'object') { Object.freeze(x); Object.values(x).forEach(f); } return x; }; return f(o); }")?;
            freeze.call((v,))
        })?,
    )?;
    let vu5 = vu.clone();
    v.set(
        "vuTagGet",
        Function::new(ctx.clone(), move |k: String| -> Option<String> {
            let base = vu5.base_tags();
            base.into_iter().find(|(bk, _)| *bk == k).map(|(_, v)| v)
        })?,
    )?;
    let vu6 = vu.clone();
    v.set(
        "vuTagSet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, k: String, val: String| -> R<()> {
                if k == "scenario" || k == "group" {
                    return Err(Exception::throw_type(
                        &ctx,
                        &format!("the '{k}' tag is set by Volley and cannot be changed"),
                    ));
                }
                vu6.state.borrow_mut().vu_tags.insert(k, val);
                vu6.invalidate_tags();
                Ok(())
            },
        )?,
    )?;
    let vu7 = vu.clone();
    v.set(
        "vuTagDelete",
        Function::new(ctx.clone(), move |k: String| {
            vu7.state.borrow_mut().vu_tags.remove(&k);
            vu7.invalidate_tags();
        })?,
    )?;
    let vu8 = vu.clone();
    v.set(
        "vuTagKeys",
        Function::new(ctx.clone(), move || -> Vec<String> {
            vu8.base_tags().into_iter().map(|(k, _)| k).collect()
        })?,
    )?;
    Ok(())
}

fn info<'js>(ctx: &Ctx<'js>, vu: &VuCtx, key: &str) -> R<Value<'js>> {
    let st = vu.state.borrow();
    let num = |n: f64| Value::new_number(ctx.clone(), n);
    let in_iteration = vu.phase.get() == Phase::Iteration;
    let need_iteration = || {
        Exception::throw_message(
            ctx,
            &format!("exec.{key} is only available in the VU code (default function or scenario exec function)"),
        )
    };
    let control = vu.run.as_ref().map(|r| r.control.clone());
    Ok(match key {
        "vu.idInInstance" => num(vu.id as f64),
        "vu.idInTest" => num(vu.id_in_test as f64),
        "vu.iterationInInstance" => num(st.iteration_in_instance as f64),
        "vu.iterationInScenario" => num(st.iteration_in_scenario as f64),
        "scenario.name"
        | "scenario.executor"
        | "scenario.startTime"
        | "scenario.progress"
        | "scenario.iterationInInstance"
        | "scenario.iterationInTest" => {
            if !in_iteration {
                return Err(need_iteration());
            }
            let Some(job) = st.job.as_ref() else {
                return Err(need_iteration());
            };
            let s = &job.scenario;
            match key {
                "scenario.name" => rquickjs::String::from_str(ctx.clone(), &s.name)?.into_value(),
                "scenario.executor" => {
                    rquickjs::String::from_str(ctx.clone(), s.executor)?.into_value()
                }
                // k6 gives whole milliseconds since the epoch.
                "scenario.startTime" => num(s.start_unix_ms().floor()),
                "scenario.progress" => num(s.progress()),
                "scenario.iterationInInstance" => num(st.scenario_iteration_local as f64),
                _ => num(st.scenario_iteration_global as f64),
            }
        }
        "instance.iterationsInterrupted" => num(control
            .map(|c| c.interrupted_iterations.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.iterationsCompleted" => num(control
            .map(|c| c.complete_iterations.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.vusActive" => num(control
            .map(|c| c.active_vus.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.vusInitialized" => num(control
            .map(|c| c.initialized_vus.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.currentTestRunDuration" => num(control
            .map(|c| c.started.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or(0.0)),
        _ => Value::new_undefined(ctx.clone()),
    })
}

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use crate::js::vu_ctx::Phase;
    use volley_common::exit::AbortReason;

    #[test]
    fn vu_ids_and_tags_are_the_vus_and_scenario_info_needs_an_iteration() {
        let vu = TestVu::new();
        vu.run(
            "import exec from 'k6/execution';
             exec.vu.tags.mytag = 5;
             globalThis.out = [exec.vu.idInInstance, exec.vu.idInTest, exec.vu.tags.mytag,
                               Object.keys(exec.vu.tags)];",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([1, 1, "5", ["group", "mytag"]])
        );
        let e = vu
            .run("import exec from 'k6/execution'; exec.vu.tags.scenario = 'x';")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "TypeError: the 'scenario' tag is set by Volley and cannot be changed"
        );
        vu.set_phase(Phase::Init);
        let e = vu
            .run("import exec from 'k6/execution'; exec.scenario.name;")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec.scenario.name is only available in the VU code (default function or scenario exec function)"
        );
    }

    #[test]
    fn test_abort_stops_the_run_with_the_scripts_reason() {
        let vu = TestVu::new();
        let e = vu
            .run("import exec from 'k6/execution'; try { exec.test.abort('enough'); } catch (e) {}")
            .unwrap_err();
        assert!(matches!(e, crate::js::JsError::Interrupted), "{e:?}");
        let control = vu.vu.control.as_ref().unwrap();
        match control.abort_reason() {
            Some(AbortReason::ScriptAbort { message, .. }) => {
                assert_eq!(message.as_deref(), Some("enough"))
            }
            other => panic!("{other:?}"),
        }
    }
}
