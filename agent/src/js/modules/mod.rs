//! The k6 modules Volley provides, registered in one table ([`MODULES`]).
//!
//! A module is a file (or a folder, for `k6/http`) here: its JS (`<name>.js`, what scripts
//! import) and the native functions that JS calls through `globalThis.__volley`, which every VU
//! installs. Natives capture the VU's shared state ([`VuCtx`]) and keep any state of their own
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
pub mod timers;
pub mod websockets;
pub mod ws;

use std::rc::Rc;

use rquickjs::Ctx;

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
    ws::MODULE,
    websockets::MODULE,
    websockets::EXPERIMENTAL,
    grpc::MODULE,
];

/// Modules k6 has and Volley does not (yet): named in the error so users know it is not a typo.
pub const NOT_YET: &[&str] = &[
    "k6/browser",
    "k6/secrets",
    "k6/experimental/browser",
    "k6/experimental/grpc",
    "k6/experimental/redis",
    "k6/experimental/streams",
    "k6/experimental/tracing",
];

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

/// Installs `__volley` with the natives of every module into a fresh context.
pub fn install<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>) -> rquickjs::Result<()> {
    install_some(ctx, vu, MODULES)
}

/// Installs `__volley` with the natives of `modules` only.
pub fn install_some<'js>(
    ctx: &Ctx<'js>,
    vu: &Rc<VuCtx>,
    modules: &[K6Module],
) -> rquickjs::Result<()> {
    let natives = Natives::new(ctx);
    for m in modules {
        (m.install)(ctx, &natives, vu)?;
    }
    ctx.globals().set("__volley", natives.into_object()?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
             k6/crypto, k6/timers, k6/html, k6/experimental/fs, k6/experimental/csv, k6/ws, \
             k6/websockets, k6/experimental/websockets, k6/net/grpc"
        );
        let e = find("k6/experimental/webcrypto").unwrap().err().unwrap();
        assert_eq!(
            e,
            "module \"k6/experimental/webcrypto\" is no module any more; WebCrypto's `crypto` is \
             a global, as in k6 v1.1.0: remove the import"
        );
        let e = find("k6/nope").unwrap().err().unwrap();
        assert!(
            e.starts_with("module \"k6/nope\" is not a k6 module Volley knows;"),
            "{e}"
        );
    }
}
