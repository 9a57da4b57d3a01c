//! `k6/secrets`: `secrets.get(name)` and `secrets.source(name).get(name)`, promises of the
//! values of the run's secret sources (`crate::secrets`); a value read is hidden in every log
//! line from then on (`crate::console::redact`), as in k6 v1.1.0
//! (docs/k6-compatibility.md#k6secrets).

use std::rc::Rc;

use rquickjs::{Array, Ctx, Function};

use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::VuCtx;

type R<T> = rquickjs::Result<T>;

/// `k6/secrets`.
pub const MODULE: K6Module = K6Module {
    name: "k6/secrets",
    js: include_str!("secrets.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu = vu.clone();
    v.set(
        "secretGet",
        Function::new(
            ctx.clone(),
            // `[null, value]`, or `[error text, undefined]`.
            move |ctx: Ctx<'js>, source: Option<String>, name: String| -> R<Array<'js>> {
                let out = Array::new(ctx.clone())?;
                let sources = vu.run.as_ref().map(|r| r.settings.secrets.clone());
                let found = match &sources {
                    Some(s) => s.get(source.as_deref(), &name),
                    None => Err("no secret sources are configured".to_string()),
                };
                match found {
                    Ok(value) => {
                        crate::console::redact(value);
                        out.set(0, rquickjs::Value::new_null(ctx.clone()))?;
                        out.set(1, value)?;
                    }
                    Err(e) => out.set(0, e)?,
                }
                Ok(out)
            },
        )?,
    )
}

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use crate::run::VuSettings;
    use crate::secrets::SecretSources;

    /// Settles the promise `js` evaluates to and gives `"ok:VALUE"` or `"err:TEXT"`.
    const SETTLE: &str = "(p) => p.then((v) => { globalThis.out = 'ok:' + v; }, \
                          (e) => { globalThis.out = 'err:' + e + ':' + Object.keys(e).join(); })";

    fn settle(vu: &TestVu, js: &str) -> String {
        vu.run(&format!(
            "import secrets from 'k6/secrets'; ({SETTLE})({js});"
        ))
        .unwrap();
        vu.json("out").as_str().unwrap_or_default().to_string()
    }

    #[test]
    fn get_and_source_get_resolve_values_and_reject_with_gos_error() {
        let none = TestVu::new();
        assert_eq!(
            settle(&none, "secrets.get('a')"),
            "err:no secret sources are configured:error"
        );
        let specs = vec![
            "mock=name=one,default,a=volley-secret-1".to_string(),
            "mock=name=two,a=volley-secret-2".to_string(),
        ];
        let vu = TestVu::with_settings(VuSettings {
            secrets: SecretSources::parse(&specs).unwrap(),
            ..VuSettings::default()
        });
        assert_eq!(settle(&vu, "secrets.get('a')"), "ok:volley-secret-1");
        assert_eq!(
            settle(&vu, "secrets.source('two').get('a')"),
            "ok:volley-secret-2"
        );
        assert_eq!(settle(&vu, "secrets.get('b')"), "err:no value:error");
        assert_eq!(
            settle(&vu, "secrets.source('three').get('a')"),
            "err:no secret source with name \"three\" is configured:error"
        );
        assert!(crate::console::redacting());
    }
}
