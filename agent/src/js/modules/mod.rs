//! The k6 modules Volley provides, registered in one table ([`MODULES`]).
//!
//! A module is a file (or a folder, for `k6/http`) here: its JS (`<name>.js`, what scripts
//! import) and the native functions that JS calls through `globalThis.__volley`, which a VU
//! installs when it first loads the module ([`need`]). Natives capture the VU's shared state ([`VuCtx`]) and keep any state of their own
//! (the cookie jars of `k6/http`, say) in their closures. To add a module: write its file with
//! a `pub const MODULE: K6Module`, add that line to [`MODULES`] and, if it was listed in
//! [`NOT_YET`], take it out there. `js::modulestest` runs a snippet of JS against the
//! modules in one VU, without a run, for unit tests.

pub mod convert;
pub mod crypto;
pub mod csv;
pub mod data;
pub mod encoding;
pub mod execution;
pub mod fs;
pub mod grpc;
pub mod html;
pub mod http;
pub mod k6;
pub mod metrics;
pub mod natives;
pub mod secrets;
pub mod streams;
pub mod timers;
pub mod websockets;
pub mod ws;

use std::cell::Cell;
use std::rc::Rc;

use rquickjs::{Ctx, Function, Object};

use super::vu_ctx::VuCtx;
use natives::Natives;

/// Adds a module's natives to `__volley` for one VU.
pub type Install = for<'js> fn(&Ctx<'js>, &Natives<'js>, &Rc<VuCtx>) -> rquickjs::Result<()>;

/// A k6 module Volley provides.
pub struct K6Module {
    /// The import specifier (`k6/http`).
    pub name: &'static str,
    /// The module's JS: compiled once per process and evaluated by every VU that imports it.
    pub js: &'static str,
    /// Installs the natives its JS calls.
    pub install: Install,
}

/// Every k6 module Volley provides, in the order the import error lists them.
pub const MODULES: &[K6Module] = &[
    k6::MODULE,
    http::MODULE,
    metrics::MODULE,
    execution::MODULE,
    data::MODULE,
    encoding::MODULE,
    crypto::MODULE,
    timers::MODULE,
    html::MODULE,
    fs::MODULE,
    csv::MODULE,
    streams::MODULE,
    ws::MODULE,
    websockets::MODULE,
    websockets::EXPERIMENTAL,
    grpc::MODULE,
    secrets::MODULE,
];

/// Modules k6 has and Volley does not (yet): named in the error so users know it is not a typo.
pub const NOT_YET: &[&str] = &[
    "k6/browser",
    "k6/experimental/browser",
    "k6/experimental/grpc",
    "k6/experimental/redis",
    "k6/experimental/tracing",
];

/// k6's browser modules: a browser per VU is not what a load generator of Volley's kind runs,
/// so their error says that rather than "not yet".
const BROWSER: &[&str] = &["k6/browser", "k6/experimental/browser"];

/// Modules k6 moved into globals: importing one is an error that says what to do instead.
const GRADUATED: &[(&str, &str)] = &[(
    "k6/experimental/webcrypto",
    "WebCrypto's `crypto` is a global, as in k6 v1.1.0: remove the import",
)];

/// Looks up a `k6` or `k6/...` specifier: the module, or the error that names the modules
/// there are. `None` for specifiers that are not k6's.
pub fn find(name: &str) -> Option<Result<&'static K6Module, String>> {
    if let Some(m) = MODULES.iter().find(|m| m.name == name) {
        return Some(Ok(m));
    }
    if name != "k6" && !name.starts_with("k6/") {
        return None;
    }
    if let Some((_, instead)) = GRADUATED.iter().find(|(m, _)| *m == name) {
        return Some(Err(format!(
            "module \"{name}\" is no module any more; {instead}"
        )));
    }
    if BROWSER.contains(&name) {
        return Some(Err(format!(
            "module \"{name}\" drives a Chromium browser in every VU, and Volley runs no \
             browsers (k6/browser is outside what it does); run browser tests with k6"
        )));
    }
    let supported: Vec<&str> = MODULES.iter().map(|m| m.name).collect();
    let known = if NOT_YET.contains(&name) {
        "is a k6 module that Volley does not support yet"
    } else {
        "is not a k6 module Volley knows"
    };
    Some(Err(format!(
        "module \"{name}\" {known}; supported modules: {}",
        supported.join(", ")
    )))
}

/// Modules whose natives define globals (the timers): installed into every context.
const EAGER: &[&str] = &["k6/timers"];

/// Modules whose JS calls natives of other modules too: those are installed with them.
/// (`k6/http` asks for `k6/html`'s itself, on a response's first `html()`.)
const USES: &[(&str, &[&str])] = &[
    // The HTML API decodes bodies with `utf8Decode`.
    ("k6/html", &["k6/http"]),
    ("k6/websockets", &["k6/ws", "k6/http"]),
    ("k6/experimental/websockets", &["k6/ws", "k6/http"]),
];

/// Installs `__volley` into a fresh context: the natives of `EAGER` modules now, the others'
/// when a loader first loads their module (through `__volley.need`, see [`need`]). A script
/// imports two or three of the fifteen modules, and every native is a function object in each
/// VU's heap plus its Rust closure: installing all of them cost ~10 KiB per VU
/// (`docs/benchmarks.md`).
pub fn install<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>) -> rquickjs::Result<()> {
    let natives = Natives::new(ctx);
    let mut done = 0u32;
    for (i, m) in MODULES.iter().enumerate() {
        if EAGER.contains(&m.name) {
            (m.install)(ctx, &natives, vu)?;
            done |= 1 << i;
        }
    }
    let vu = vu.clone();
    let done = Cell::new(done);
    natives.set(
        NEED,
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| {
            install_module(&ctx, &vu, &done, &name)
        })?,
    )?;
    ctx.globals().set("__volley", natives.into_object()?)
}

// `install_module` keeps a bit per module.
const _: () = assert!(MODULES.len() <= 32);

/// The native of `__volley` that installs a module's natives.
const NEED: &str = "need";

/// Installs the natives of module `name` (and of the modules it `USES`) into this context's
/// `__volley`, unless they are there. The loaders call it for every k6 module they load; a
/// context without `__volley` (none of a VU's) is left alone.
pub fn need<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<()> {
    let Ok(v) = ctx.globals().get::<_, Object>("__volley") else {
        return Ok(());
    };
    match v.get::<_, Option<Function>>(NEED)? {
        Some(f) => f.call((name,)),
        None => Ok(()),
    }
}

/// `__volley.need`: `done` has a bit per entry of [`MODULES`] already installed.
fn install_module<'js>(
    ctx: &Ctx<'js>,
    vu: &Rc<VuCtx>,
    done: &Cell<u32>,
    name: &str,
) -> rquickjs::Result<()> {
    let Some(i) = MODULES.iter().position(|m| m.name == name) else {
        return Ok(());
    };
    if done.get() & (1 << i) != 0 {
        return Ok(());
    }
    done.set(done.get() | 1 << i);
    let natives = Natives::new(ctx);
    (MODULES[i].install)(ctx, &natives, vu)?;
    natives.add_to(&ctx.globals().get("__volley")?)?;
    let uses = USES.iter().find(|(m, _)| *m == name).map(|(_, u)| *u);
    for dep in uses.unwrap_or_default() {
        install_module(ctx, vu, done, dep)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::js::modulestest::TestVu;

    /// The names after `V.` (or `__volley.`) in a module's JS, and the modules it `V.need`s.
    fn natives_called(js: &str) -> (BTreeSet<String>, Vec<String>) {
        let mut names = BTreeSet::new();
        let mut needs = Vec::new();
        for marker in ["V.", "__volley."] {
            for (at, _) in js.match_indices(marker) {
                let before = js[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                    continue;
                }
                let rest = &js[at + marker.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name == NEED {
                    let arg = rest[name.len()..].trim_start_matches("('");
                    needs.push(arg[..arg.find('\'').unwrap_or(0)].to_string());
                } else if !name.is_empty() {
                    names.insert(name);
                }
            }
        }
        (names, needs)
    }

    fn natives_of(vu: &TestVu) -> BTreeSet<String> {
        let keys: Vec<String> = vu.with_ctx(|ctx| ctx.eval("Object.keys(__volley)").unwrap());
        keys.into_iter().collect()
    }

    #[test]
    fn a_module_gets_every_native_its_js_calls_when_it_loads() {
        // What breaks when a module's JS starts calling another module's native without a
        // line in USES: the call would fail in scripts that import only that module.
        for m in MODULES {
            let vu = TestVu::new();
            let (mut called, needs) = natives_called(m.js);
            if m.name == "k6/html" {
                called.extend(natives_called(html::API_JS).0);
            }
            vu.with_ctx(|ctx| need(&ctx, m.name).unwrap());
            vu.with_ctx(|ctx| {
                for n in &needs {
                    need(&ctx, n).unwrap();
                }
            });
            let later = natives_of(&vu);
            let missing: Vec<&String> = called.difference(&later).collect();
            assert!(missing.is_empty(), "{} calls {missing:?}", m.name);
            assert!(needs.iter().all(|n| find(n).is_some()), "{}", m.name);
        }
    }

    #[test]
    fn natives_are_installed_when_their_module_is_imported() {
        let vu = TestVu::new();
        let at_start = natives_of(&vu);
        assert!(at_start.contains("setTimeout") && at_start.contains(NEED));
        assert!(!at_start.contains("request"), "{at_start:?}");
        vu.run("import http from 'k6/http'; globalThis.t = typeof http.get;")
            .unwrap();
        let with_http = natives_of(&vu);
        assert!(with_http.contains("request") && !with_http.contains("htmlParse"));
        vu.run("import { parseHTML } from 'k6/html'; globalThis.p = parseHTML('<b>x</b>').find('b').text();")
            .unwrap();
        assert_eq!(vu.json("p"), serde_json::json!("x"));
        assert!(natives_of(&vu).contains("htmlParse"));
    }

    #[test]
    fn names_are_unique_and_supported_ones_are_not_listed_as_missing() {
        let mut names: Vec<&str> = MODULES.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), MODULES.len());
        for m in MODULES {
            assert!(!NOT_YET.contains(&m.name), "{}", m.name);
        }
    }

    #[test]
    fn unknown_and_missing_modules_name_the_supported_ones() {
        assert!(find("./x.js").is_none());
        assert_eq!(find("k6/http").unwrap().unwrap().name, "k6/http");
        let e = find("k6/experimental/redis").unwrap().err().unwrap();
        assert_eq!(
            e,
            "module \"k6/experimental/redis\" is a k6 module that Volley does not support yet; \
             supported modules: k6, k6/http, k6/metrics, k6/execution, k6/data, k6/encoding, \
             k6/crypto, k6/timers, k6/html, k6/experimental/fs, k6/experimental/csv, \
             k6/experimental/streams, k6/ws, \
             k6/websockets, k6/experimental/websockets, k6/net/grpc, k6/secrets"
        );
        let e = find("k6/experimental/webcrypto").unwrap().err().unwrap();
        assert_eq!(
            e,
            "module \"k6/experimental/webcrypto\" is no module any more; WebCrypto's `crypto` is \
             a global, as in k6 v1.1.0: remove the import"
        );
        let e = find("k6/browser").unwrap().err().unwrap();
        assert!(
            e.starts_with("module \"k6/browser\" drives a Chromium browser in every VU"),
            "{e}"
        );
        let e = find("k6/nope").unwrap().err().unwrap();
        assert!(
            e.starts_with("module \"k6/nope\" is not a k6 module Volley knows;"),
            "{e}"
        );
    }
}
