//! CommonJS modules next to ES modules, as k6 runs them: `require()`, `module.exports` and
//! `exports`, UMD and browserify/webpack bundles.
//!
//! QuickJS only knows ES modules, so a CommonJS file is loaded as an ES module of its own (a
//! *facade*) that wraps the file's code in a function and runs it once per VU through
//! `__volley_cjs.run` (which caches `module` objects by name, so cyclic `require()`s see the
//! partial exports, as in Node and k6). The facade exports `module.exports` as `default` (or
//! `exports.default` when the module sets `__esModule`, as bundlers do) and, by name, every
//! export an importer asks for or the file visibly assigns (`exports.x = …`): ES imports are
//! linked before any code runs, so names must be known up front, and a name the module does not
//! set is `undefined`, as in k6. An importer's `import * as ns` of it is rewritten to build
//! `ns` from `module.exports` once it ran ([`namespace_imports`]), as k6's namespace has the
//! keys the exports have then.
//!
//! `require()` resolves like `import`; a CommonJS module runs when first required, an ES module
//! is imported (and evaluated) on the spot and its namespace returned, and a k6 module gives its
//! namespace. As in k6 it works only in the init context. The wrapper starts on the file's
//! first line, so line numbers in errors are the file's own.

use std::collections::BTreeSet;
use std::rc::Rc;

use rquickjs::object::{Accessor, Property};
use rquickjs::{qjs, Ctx, Exception, Function, Module, Object, Value};

use super::super::jobs::finish_promise;
use super::super::vu_ctx::{Phase, VuCtx};
use super::analyze::NamespaceImport;
use super::resolve::{is_remote, resolve_specifier};

type R<T> = rquickjs::Result<T>;

/// The facade ES module for a CommonJS file: its code runs as a function of `exports`,
/// `require` and `module`, with `this` set to `exports`.
pub fn facade(name: &str, source: &str, names: &BTreeSet<String>) -> String {
    let quoted = serde_json::to_string(name).expect("a string serializes");
    let mut out = format!(
        "const __volley_x = __volley_cjs.run({quoted}, function (exports, require, module) {{{source}\n}}).exports;\n\
         export default (__volley_x != null && __volley_x.__esModule ? __volley_x.default : __volley_x);\n"
    );
    if names.contains(EXPORTS_NAME) {
        out.push_str(&format!("export {{ __volley_x as {EXPORTS_NAME} }};\n"));
    }
    let by_name = names
        .iter()
        .filter(|n| is_export_name(n) && *n != EXPORTS_NAME);
    for (i, n) in by_name.enumerate() {
        out.push_str(&format!(
            "const __volley_n{i} = __volley_x == null ? undefined : __volley_x[\"{n}\"];\n\
             export {{ __volley_n{i} as {n} }};\n"
        ));
    }
    out
}

/// The facade export that gives `module.exports` itself to an importer that asked for its
/// namespace (see [`namespace_imports`]).
pub const EXPORTS_NAME: &str = "__volley_exports";

/// `js` with the given `import * as ns from …` declarations (of CommonJS modules) rewritten to
/// give `ns` as k6 does: the keys of `module.exports` when the import runs, sorted, with no
/// `default` unless the module sets one, rather than names fixed before the module ran. The
/// star becomes a named import of the facade's [`EXPORTS_NAME`], and `ns` a namespace object
/// made from it right after the declaration, on the same line, so that positions stay.
pub fn namespace_imports(js: &str, imports: &[&NamespaceImport]) -> String {
    let mut sorted = imports.to_vec();
    sorted.sort_by_key(|n| n.star.0);
    let mut out = String::with_capacity(js.len() + 96 * sorted.len());
    let mut at = 0;
    for (i, ns) in sorted.iter().enumerate() {
        let pieces = (js.get(at..ns.star.0), js.get(ns.star.1..ns.end));
        let (Some(before), Some(rest)) = pieces else {
            // Offsets from the parser of this very text always fit; never cut a character.
            return js.to_string();
        };
        out.push_str(before);
        out.push_str(&format!("{{ {EXPORTS_NAME} as __volley_ns{i} }}"));
        out.push_str(rest);
        out.push_str(&format!(
            ";const {} = __volley_cjs.namespace(__volley_ns{i});",
            ns.local
        ));
        at = ns.end;
    }
    out.push_str(js.get(at..).unwrap_or_default());
    out
}

/// Names a facade can export under: identifiers other than `default` (which is always there).
fn is_export_name(n: &str) -> bool {
    let mut chars = n.chars();
    n != "default"
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Export names a CommonJS file visibly assigns: `exports.x =`, `module.exports.x =` and
/// `Object.defineProperty(exports, "x", …)`. Used for `import * as ns` of it; named imports
/// add their own names.
pub fn assigned_names(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = source.as_bytes();
    for (at, _) in source.match_indices("exports") {
        if at > 0 {
            let before = bytes[at - 1];
            if before.is_ascii_alphanumeric() || before == b'_' || before == b'$' {
                continue;
            }
        }
        let rest = &source[at + "exports".len()..];
        if let Some(after_dot) = rest.strip_prefix('.') {
            let ident: String = after_dot
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
                .collect();
            let tail = after_dot[ident.len()..].trim_start();
            if !ident.is_empty() && tail.starts_with('=') && !tail.starts_with("==") {
                names.insert(ident);
            }
        } else if let Some(args) = rest.trim_start().strip_prefix(',') {
            // Object.defineProperty(exports, "x", …)
            if !source[..at].trim_end().ends_with("defineProperty(") {
                continue;
            }
            let args = args.trim_start();
            if let Some(q) = args.chars().next().filter(|c| *c == '"' || *c == '\'') {
                if let Some(end) = args[1..].find(q) {
                    names.insert(args[1..1 + end].to_string());
                }
            }
        }
    }
    names.remove("__esModule");
    names
}

/// k6's message for `require()` after the init context.
const REQUIRE_OUTSIDE_INIT: &str = "the \"require\" function is only available in the init stage \
     (i.e. the global scope), see https://grafana.com/docs/k6/latest/using-k6/test-lifecycle/ \
     for more information";

/// How many stack frames the global `require` looks through for the module calling it.
const CALLER_FRAMES: isize = 4;

/// The module registry and `require` factory; `native` resolves, imports and checks the phase.
const RUNTIME_JS: &str = r#"(function (native) {
  const cache = new Map();
  function makeRequire(base) {
    return function require(specifier) {
      if (!native.inInit()) throw new Error(native.outsideInit);
      const name = native.resolve(base, String(specifier));
      const cached = cache.get(name);
      if (cached) return cached.exports;
      const ns = native.importSync(name);
      const ran = cache.get(name);
      return ran ? ran.exports : ns;
    };
  }
  function run(name, fn) {
    let m = cache.get(name);
    if (m) return m;
    m = { exports: {}, id: name, loaded: false };
    cache.set(name, m);
    fn.call(m.exports, m.exports, makeRequire(name), m);
    m.loaded = true;
    return m;
  }
  // What `import * as ns` of a CommonJS module gives, as in k6: the keys of its exports.
  function namespace(x) {
    const ns = Object.create(null);
    if (x !== null && (typeof x === "object" || typeof x === "function")) {
      for (const k of Object.keys(x).sort()) ns[k] = x[k];
    }
    Object.defineProperty(ns, Symbol.toStringTag, { value: "Module" });
    return Object.freeze(ns);
  }
  function exportsOf(name) {
    const m = cache.get(name);
    return m ? m.exports : undefined;
  }
  return { run, exportsOf, namespace, makeRequire };
})"#;

/// The hidden global the facades call.
const REGISTRY: &str = "__volley_cjs";

/// Defines `__volley_cjs` and the global `require` (which resolves relative to the module
/// calling it, the entry `entry` when that cannot be told) as accessors that make them on first
/// use. Most scripts use neither: made eagerly, they were ~9 KiB of every VU's heap
/// (`docs/benchmarks.md`). Assigning `require` first replaces it without making anything.
pub fn install<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>, entry: &str) -> R<()> {
    let g = ctx.globals();
    let v = vu.clone();
    let entry = entry.to_string();
    let make = move |ctx: Ctx<'js>| -> R<Value<'js>> {
        let registry = registry(&ctx, &v, &entry)?;
        ctx.globals()
            .prop(REGISTRY, Property::from(registry.clone()))?;
        Ok(registry)
    };
    g.prop(REGISTRY, Accessor::new_get(make).configurable())?;
    let get = |ctx: Ctx<'js>| -> R<Value<'js>> {
        let registry: Object = ctx.globals().get(REGISTRY)?;
        let make: Function = registry.get("makeRequire")?;
        let require: Value = make.call((Value::new_null(ctx.clone()),))?;
        define_require(&ctx, require.clone())?;
        Ok(require)
    };
    let set = |ctx: Ctx<'js>, v: Value<'js>| define_require(&ctx, v);
    g.prop(
        "require",
        Accessor::new(get, set).configurable().enumerable(),
    )?;
    for name in ["module", "exports"] {
        if g.contains_key(name)? {
            continue;
        }
        let get = move |ctx: Ctx<'js>| -> R<Value<'js>> { Err(mixing_error(&ctx, name)) };
        let set = move |ctx: Ctx<'js>, _: Value<'js>| -> R<()> { Err(mixing_error(&ctx, name)) };
        g.prop(name, Accessor::new(get, set))?;
    }
    Ok(())
}

/// What k6 v1.1.0 throws when an ES module reads or writes `module` or `exports` (a CommonJS
/// file has its own, which hide these): its GoError, from accessors of `globalThis` that are
/// neither enumerable nor configurable, as k6's are.
fn mixing_error(ctx: &Ctx<'_>, name: &str) -> rquickjs::Error {
    let message = format!(
        "you are trying to access identifier \"{name}\", this likely is due to mixing \
         ECMAScript Modules (ESM) and CommonJS syntax. This isn't supported in the JavaScript \
         standard, please use only one or the other"
    );
    // Made by `Error` itself: its `message` is not enumerable, as in k6's.
    let made = (|| -> R<Object<'_>> {
        let error: rquickjs::function::Constructor = ctx.globals().get("Error")?;
        let e: Object = error.construct((message,))?;
        e.prop("name", Property::from("GoError").writable().configurable())?;
        e.set("value", Object::new(ctx.clone())?)?;
        Ok(e)
    })();
    match made {
        Ok(e) => ctx.throw(e.into_value()),
        Err(e) => e,
    }
}

/// Makes `globalThis.require` a plain data property holding `v` (as an assignment would).
fn define_require<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> R<()> {
    ctx.globals().prop(
        "require",
        Property::from(v).writable().enumerable().configurable(),
    )
}

/// The registry object (`run`, `exportsOf`, `namespace`, `makeRequire`) over this VU's natives.
fn registry<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>, entry: &str) -> R<Value<'js>> {
    let native = Object::new(ctx.clone())?;
    let entry_name = entry.to_string();
    let v = vu.clone();
    native.set(
        "inInit",
        Function::new(ctx.clone(), move || v.phase.get() == Phase::Init)?,
    )?;
    native.set("outsideInit", REQUIRE_OUTSIDE_INIT)?;
    native.set(
        "resolve",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, base: Option<String>, spec: String| -> R<String> {
                // The closest frame of a module file (natives have no frame, the JS `require`
                // above is not a file): the ES module that called `require`.
                let base = base
                    .or_else(|| {
                        (0..CALLER_FRAMES).find_map(|level| {
                            ctx.script_or_module_name(level)
                                .and_then(|a| a.to_string().ok())
                                .filter(|n| n.starts_with('/') || is_remote(n))
                        })
                    })
                    .unwrap_or_else(|| entry_name.clone());
                resolve_specifier(&base, &spec).map_err(|m| Exception::throw_message(&ctx, &m))
            },
        )?,
    )?;
    native.set(
        "importSync",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, name: String| -> R<Object<'js>> {
                let promise = Module::import(&ctx, name)?;
                finish_promise::<Object>(&ctx, &promise)
            },
        )?,
    )?;
    let setup: Function = ctx.eval(RUNTIME_JS)?;
    setup.call((native,))
}

/// Whether this context has made its registry (a CommonJS module ran, or `require` was read):
/// looked up without reading the property, which would make it.
fn registry_made(ctx: &Ctx<'_>) -> R<bool> {
    let raw = ctx.as_raw().as_ptr();
    let g = ctx.globals();
    // SAFETY: a live context; the atom and the descriptor's values are freed before returning.
    unsafe {
        let atom = qjs::JS_NewAtomLen(raw, REGISTRY.as_ptr().cast(), REGISTRY.len() as _);
        let mut desc = std::mem::MaybeUninit::<qjs::JSPropertyDescriptor>::zeroed();
        let found = qjs::JS_GetOwnProperty(raw, desc.as_mut_ptr(), g.as_raw(), atom);
        qjs::JS_FreeAtom(raw, atom);
        if found < 0 {
            return Err(rquickjs::Error::Exception);
        }
        if found == 0 {
            return Ok(false);
        }
        let desc = desc.assume_init();
        qjs::JS_FreeValue(raw, desc.value);
        qjs::JS_FreeValue(raw, desc.getter);
        qjs::JS_FreeValue(raw, desc.setter);
        Ok(desc.flags & qjs::JS_PROP_GETSET as std::ffi::c_int == 0)
    }
}

/// The `module.exports` of a CommonJS module that ran in this context (the entry's, say).
pub fn exports_of<'js>(ctx: &Ctx<'js>, name: &str) -> R<Option<Object<'js>>> {
    if !registry_made(ctx)? {
        return Ok(None);
    }
    let cjs: Object = ctx.globals().get(REGISTRY)?;
    let f: Function = cjs.get("exportsOf")?;
    f.call((name,))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::modulestest::TestVu;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_assigned_export_names() {
        let src = r#"
            exports.add = function () {};
            module.exports.mul = 1;
            exports.same == 2;
            myexports.not = 1;
            Object.defineProperty(exports, "__esModule", { value: true });
            Object.defineProperty(exports, 'viaDefine', { get: f });
            exports["computed"] = 3;
        "#;
        assert_eq!(assigned_names(src), set(&["add", "mul", "viaDefine"]));
    }

    /// The runtime's heap in bytes (QuickJS's own accounting).
    fn heap(ctx: &Ctx<'_>) -> i64 {
        // SAFETY: the runtime of a live context; a plain walk of its heap.
        unsafe {
            let mut u = std::mem::zeroed::<qjs::JSMemoryUsage>();
            qjs::JS_ComputeMemoryUsage(qjs::JS_GetRuntime(ctx.as_raw().as_ptr()), &mut u);
            u.malloc_size
        }
    }

    #[test]
    fn the_registry_and_require_are_made_on_first_use_only() {
        let vu = TestVu::new();
        // Installed (by TestVu) but not made: a VU of an ES-module script pays for two accessors.
        assert!(!vu.with_ctx(|ctx| registry_made(&ctx).unwrap()));
        let cost = vu.with_ctx(|ctx| {
            let before = heap(&ctx);
            install(&ctx, &vu.vu, "/test/script.js").unwrap();
            heap(&ctx) - before
        });
        assert!(cost < 2048, "a lazy install took {cost} B");
        let made = vu.with_ctx(|ctx| {
            let before = heap(&ctx);
            let _: Object = ctx.globals().get(REGISTRY).unwrap();
            heap(&ctx) - before
        });
        assert!(made > 4 * cost, "making the registry took {made} B");
        vu.set_phase(Phase::Init);
        vu.run(
            "const d = Object.getOwnPropertyDescriptor(globalThis, 'require');\n\
             globalThis.r = [typeof require, typeof require('k6').check, d.enumerable, \
             typeof Object.getOwnPropertyDescriptor(globalThis, 'require').value];",
        )
        .unwrap();
        assert_eq!(
            vu.json("r"),
            serde_json::json!(["function", "function", true, "function"])
        );
        assert!(vu.with_ctx(|ctx| registry_made(&ctx).unwrap()));

        // A script's own `require` replaces the lazy one without making the registry.
        let own = TestVu::new();
        own.run("require = (n) => 'own ' + n; globalThis.r = require('x');")
            .unwrap();
        assert_eq!(own.json("r"), serde_json::json!("own x"));
        assert!(!own.with_ctx(|ctx| registry_made(&ctx).unwrap()));
    }

    /// k6 v1.1.0: an ES module reading `module` or `exports` (even through `typeof`) gets this
    /// GoError; `'module' in globalThis` is true; a CommonJS file's own are untouched.
    #[test]
    fn module_and_exports_in_an_es_module_throw_k6s_error() {
        let vu = TestVu::new();
        vu.run(
            "const err = (f) => { try { return f(); } catch (e) { \
               return [String(e), e.name, e.message.length, Object.keys(e)]; } };\n\
             const d = Object.getOwnPropertyDescriptor(globalThis, 'exports');\n\
             globalThis.out = [err(() => typeof module), err(() => globalThis.exports), \
               err(() => { globalThis.module = 1; }), 'module' in globalThis, \
               d.enumerable, d.configurable, Object.keys(globalThis).includes('module')];",
        )
        .unwrap();
        let message = |name: &str| {
            format!(
                "GoError: you are trying to access identifier \"{name}\", this likely is due to \
                 mixing ECMAScript Modules (ESM) and CommonJS syntax. This isn't supported in \
                 the JavaScript standard, please use only one or the other"
            )
        };
        let thrown = |name: &str| {
            let m = message(name);
            serde_json::json!([m, "GoError", m.len() - "GoError: ".len(), ["value"]])
        };
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                thrown("module"),
                thrown("exports"),
                thrown("module"),
                true,
                false,
                false,
                false
            ])
        );
    }

    #[test]
    fn namespace_imports_become_objects_made_from_the_exports() {
        let src = "import d, * as ns from './c.js'\nimport * as o from './o.js'; f(ns, o);\n";
        let a = super::super::analyze::analyze(src).expect("parses");
        let all: Vec<&NamespaceImport> = a
            .imports
            .iter()
            .filter_map(|i| i.namespace.as_ref())
            .collect();
        assert_eq!(
            namespace_imports(src, &all),
            "import d, { __volley_exports as __volley_ns0 } from './c.js';const ns = \
             __volley_cjs.namespace(__volley_ns0);\nimport { __volley_exports as __volley_ns1 } \
             from './o.js';;const o = __volley_cjs.namespace(__volley_ns1); f(ns, o);\n"
        );
        let f = facade("/t/c.js", "", &set(&[EXPORTS_NAME, "a"]));
        assert!(
            f.contains("export { __volley_x as __volley_exports };"),
            "{f}"
        );
        assert_eq!(f.matches("__volley_exports").count(), 1, "{f}");
    }

    #[test]
    fn facade_keeps_the_first_line_and_exports_valid_names() {
        let f = facade(
            "/t/a.js",
            "exports.a = 1;",
            &set(&["a", "default", "not-ident"]),
        );
        assert!(
            f.starts_with(
                "const __volley_x = __volley_cjs.run(\"/t/a.js\", function (exports, require, module) {exports.a = 1;\n"
            ),
            "{f}"
        );
        assert!(f.contains("export { __volley_n0 as a };"), "{f}");
        assert!(!f.contains("not-ident") && !f.contains("as default"), "{f}");
    }
}
