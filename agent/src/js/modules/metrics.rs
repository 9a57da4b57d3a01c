//! `k6/metrics`: custom metrics (`Counter`, `Gauge`, `Rate`, `Trend`), declared in the init
//! context and added to in VU code.

use std::rc::Rc;
use std::time::SystemTime;

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Value};
use volley_common::metrics::{MetricType, ValueType};

use super::convert::tags_from_js;
use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::{Phase, VuCtx};

type R<T> = rquickjs::Result<T>;

/// `k6/metrics`.
pub const MODULE: K6Module = K6Module {
    name: "k6/metrics",
    js: include_str!("metrics.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "metricRegister",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, kind: String, is_time: bool| -> R<usize> {
                if vu1.phase.get() != Phase::Init {
                    return Err(Exception::throw_message(
                        &ctx,
                        "metrics must be declared in the init context",
                    ));
                }
                let mtype = match kind.as_str() {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "rate" => MetricType::Rate,
                    _ => MetricType::Trend,
                };
                let contains = if is_time && mtype == MetricType::Trend {
                    ValueType::Time
                } else {
                    ValueType::Default
                };
                vu1.registry
                    .register(&name, mtype, contains)
                    .map_err(|e| Exception::throw_message(&ctx, &e.to_string()))
            },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "metricAdd",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  id: usize,
                  value: f64,
                  tags: Opt<Value<'js>>,
                  invalid: Opt<Option<String>>|
                  -> R<bool> {
                if vu2.phase.get() == Phase::Init {
                    return Err(Exception::throw_message(
                        &ctx,
                        "adding to metrics in the init context is not supported",
                    ));
                }
                if !value.is_finite() {
                    // `invalid`: k6's words for a value that is not a number (from metrics.js).
                    let msg = match invalid.0.flatten() {
                        Some(m) => m,
                        None => {
                            let name = vu2.registry.get(id).map(|d| d.name).unwrap_or_default();
                            format!(
                                "cannot add {value} to metric '{name}': the value must be a \
                                 finite number"
                            )
                        }
                    };
                    if vu2.run.as_ref().is_some_and(|r| r.settings.throw) {
                        return Err(Exception::throw_type(&ctx, &msg));
                    }
                    crate::console::log("warning", &msg, &[]);
                    return Ok(false);
                }
                let extra = tags_from_js(tags.0.as_ref())?;
                let refs: Vec<(&str, &str)> = extra
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let ts = vu2.tags_with(&refs);
                vu2.emit(id, &ts, value, SystemTime::now());
                Ok(true)
            },
        )?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use crate::js::vu_ctx::Phase;
    use crate::run::VuSettings;

    #[test]
    fn custom_metrics_are_declared_in_init_and_added_to_with_tags() {
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run(
            "import { Counter, Trend } from 'k6/metrics';
             globalThis.c = new Counter('my_counter');
             globalThis.t = new Trend('my_trend', true);",
        )
        .unwrap();
        vu.set_phase(Phase::Iteration);
        vu.run("globalThis.added = [c.add(2, { k: 'v' }), t.add(true)];")
            .unwrap();
        assert_eq!(vu.json("added"), serde_json::json!([true, true]));
        let s = vu.take_samples();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].metric.as_str(), s[0].value), ("my_counter", 2.0));
        assert_eq!(s[0].tags.get("k").map(String::as_str), Some("v"));
        assert_eq!((s[1].metric.as_str(), s[1].value), ("my_trend", 1.0));
        let e = vu
            .run("import { Gauge } from 'k6/metrics'; new Gauge('late');")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "metrics must be declared in the init context"
        );
    }

    #[test]
    fn values_and_tags_k6_refuses_are_refused_in_its_words() {
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run("import { Counter } from 'k6/metrics'; globalThis.c = new Counter('cc');")
            .unwrap();
        vu.set_phase(Phase::Iteration);
        vu.run(
            "globalThis.r = [c.add(null), c.add('abc'), c.add('2'), c.add([3])];
             try { c.add(1, { t: { x: 1 } }); } catch (e) { r.push(String(e)); }",
        )
        .unwrap();
        assert_eq!(
            vu.json("r"),
            serde_json::json!([false, false, true, true,
                "GoError: cannot add tags for the 'cc' custom metric: invalid value for metric \
                 tag 't': only String, Boolean and Number types are accepted as a metric tag values"])
        );
        let values: Vec<f64> = vu.take_samples().iter().map(|s| s.value).collect();
        assert_eq!(values, [2.0, 3.0]);
    }

    #[test]
    fn a_value_that_is_not_finite_is_skipped_or_thrown_with_the_throw_option() {
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run("import { Counter } from 'k6/metrics'; globalThis.c = new Counter('cc');")
            .unwrap();
        vu.set_phase(Phase::Iteration);
        vu.run("globalThis.r = c.add(NaN);").unwrap();
        assert_eq!(vu.json("r"), serde_json::json!(false));
        assert!(vu.take_samples().is_empty());

        let vu = TestVu::with_settings(VuSettings {
            throw: true,
            ..VuSettings::default()
        });
        vu.set_phase(Phase::Init);
        vu.run("import { Counter } from 'k6/metrics'; globalThis.c = new Counter('cc');")
            .unwrap();
        vu.set_phase(Phase::Iteration);
        let e = vu.run("c.add(Infinity);").unwrap_err();
        assert_eq!(
            e.to_string(),
            "TypeError: cannot add inf to metric 'cc': the value must be a finite number"
        );
    }
}
