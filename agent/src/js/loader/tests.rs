//! The loader end to end: scripts written to a temporary folder go through a real first init
//! (disk, TypeScript, CommonJS, remote modules from a bundle), and report what they saw through
//! their exported `options`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::*;
use crate::metrics::Registry;
use crate::vu::{first_init, FirstInit};

#[test]
fn every_module_compiles() {
    for m in MODULES {
        assert!(builtin_bytecode(m.name).is_some(), "{}", m.name);
    }
}

/// A fresh folder with `files` in it.
fn folder(files: &[(&str, &str)]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "volley-loader-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, src) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, src).expect("write");
    }
    dir
}

fn init_with(
    files: &[(&str, &str)],
    entry: &str,
    remote: RemoteSource,
) -> Result<(FirstInit, PathBuf), JsError> {
    let dir = folder(files);
    let fi = first_init(
        &dir.join(entry),
        &BTreeMap::new(),
        Arc::new(Registry::new()),
        None,
        None,
        FileScope::Host,
        remote,
    )?;
    Ok((fi, dir))
}

/// Runs the first init of `entry` and returns its `options` export.
fn options_of(files: &[(&str, &str)], entry: &str) -> Value {
    let (fi, _) = init_with(files, entry, RemoteSource::default())
        .unwrap_or_else(|e| panic!("{}", e.with_stack()));
    serde_json::from_str(fi.options_json.as_deref().expect("options")).expect("json")
}

fn error_of(files: &[(&str, &str)], entry: &str, remote: RemoteSource) -> String {
    match init_with(files, entry, remote) {
        Ok(_) => panic!("{entry} should fail"),
        Err(e) => e.with_stack(),
    }
}

#[test]
fn es_modules_import_commonjs_default_and_by_name() {
    let got = options_of(
        &[
            (
                "main.js",
                "import lib, { add, name, missing } from './lib/cjs.js';\n\
                 import whole from './lib/whole.js';\nimport { mul } from './lib/whole.js';\n\
                 import * as ns from './lib/cjs.js';\nimport interop, { other } from './lib/esmodule.js';\n\
                 export const options = { r: [add(1, 2), name, typeof missing, Object.keys(lib), \
                 whole.tag, mul(2, 3), Object.keys(ns).sort(), interop, other] };\n\
                 export default function () {}\n",
            ),
            (
                "lib/cjs.js",
                "exports.add = function (a, b) { return a + b; };\nexports.name = 'cjs';\n",
            ),
            (
                "lib/whole.js",
                "module.exports = { mul: (a, b) => a * b, tag: 'whole' };\n",
            ),
            (
                "lib/esmodule.js",
                "Object.defineProperty(exports, '__esModule', { value: true });\n\
                 exports.default = 'D';\nexports.other = 'O';\n",
            ),
        ],
        "main.js",
    );
    assert_eq!(
        got["r"],
        json!([
            3,
            "cjs",
            "undefined",
            ["add", "name"],
            "whole",
            6,
            // As in k6: the keys of `module.exports`, with no `default`.
            ["add", "name"],
            "D",
            "O"
        ])
    );
}

#[test]
fn require_works_in_both_kinds_of_module() {
    let got = options_of(
        &[
            (
                "main.js",
                "const http = require('k6/http');\nconst esm = require('./esm.js');\n\
                 const c = require('./dir/c.js');\nimport { fromEsm } from './dir/esm_req.js';\n\
                 export const options = { r: [typeof http.get, esm.x, typeof esm.default, c.fromSibling, \
                 c.httpGet, c.self, require('./dir/c.js') === c, fromEsm] };\n\
                 export default function () {}\n",
            ),
            (
                "esm.js",
                "export const x = 42;\nexport default function hello() {}\n",
            ),
            (
                "dir/c.js",
                "const s = require('./sibling.js');\nexports.fromSibling = s.v;\n\
                 exports.httpGet = typeof require('k6/http').get;\nexports.self = this === exports;\n",
            ),
            ("dir/sibling.js", "module.exports = { v: 'sib' };\n"),
            // An ES module's `require` is relative to that module.
            (
                "dir/esm_req.js",
                "export const fromEsm = require('./sibling.js').v + '-esm';\n",
            ),
        ],
        "main.js",
    );
    assert_eq!(
        got["r"],
        json!(["function", 42, "function", "sib", "function", true, true, "sib-esm"])
    );
}

#[test]
fn cyclic_requires_see_partial_exports() {
    let got = options_of(
        &[
            (
                "main.js",
                "const a = require('./a.js');\nexport const options = { r: a.fromB };\n\
                 export default function () {}\n",
            ),
            (
                "a.js",
                "exports.a = 1;\nconst b = require('./b.js');\nexports.fromB = b.b;\nexports.done = true;\n",
            ),
            (
                "b.js",
                "const a = require('./a.js');\nexports.b = 'a=' + a.a + ' done=' + a.done;\n",
            ),
        ],
        "main.js",
    );
    assert_eq!(got["r"], json!("a=1 done=undefined"));
}

#[test]
fn umd_and_bundler_shapes() {
    // A UMD wrapper as webpack's `libraryTarget: "umd"` emits it, and a browserify-style bundle:
    // a table of module functions with their own `require`, the entry's exports assigned to
    // `module.exports`.
    let umd = "(function (root, factory) {\n\
               if (typeof exports === 'object' && typeof module === 'object') module.exports = factory();\n\
               else if (typeof define === 'function' && define.amd) define([], factory);\n\
               else if (typeof exports === 'object') exports['umdLib'] = factory();\n\
               else root['umdLib'] = factory();\n\
               })(this, function () {\n\
               return { shout: function (s) { return s.toUpperCase(); }, summary: function (d) { return 'n=' + d.n; } };\n\
               });\n";
    let bundle = "(function (table, entry) {\n\
                  var done = {};\n\
                  function load(id) {\n\
                    if (done[id]) return done[id].exports;\n\
                    var m = done[id] = { exports: {} };\n\
                    table[id][0].call(m.exports, function (dep) { return load(table[id][1][dep]); }, m, m.exports);\n\
                    return m.exports;\n\
                  }\n\
                  module.exports = load(entry);\n\
                  })({\n\
                  1: [function (require, module, exports) { var two = require('./two'); exports.twice = function (x) { return two.k * x; }; }, { './two': 2 }],\n\
                  2: [function (require, module, exports) { module.exports = { k: 2 }; }, {}]\n\
                  }, 1);\n";
    let got = options_of(
        &[
            (
                "main.js",
                "import { shout, summary } from './umd.js';\nimport umd from './umd.js';\n\
                 import bundle from './bundle.js';\nimport { twice } from './bundle.js';\n\
                 export const options = { r: [shout('a'), summary({ n: 2 }), typeof umd.shout, bundle.twice(5), twice(4)] };\n\
                 export default function () {}\n",
            ),
            ("umd.js", umd),
            ("bundle.js", bundle),
        ],
        "main.js",
    );
    assert_eq!(got["r"], json!(["A", "n=2", "function", 10, 8]));
}

#[test]
fn a_namespace_import_of_commonjs_has_the_keys_its_exports_have_when_it_ran() {
    // Names a UMD bundle sets are not in its source; k6 gives them all to `import * as`.
    let umd = "(function (root, factory) { module.exports = factory(); })(this, function () {\n\
               var api = {}; ['parse', 'unparse'].forEach(function (k) { api[k] = k; });\n\
               return api; });\n";
    let got = options_of(
        &[
            (
                "main.js",
                "import * as papa from './umd.js';\nimport * as d from './d.js';\n\
                 export const options = { r: [Object.keys(papa), papa.parse, typeof papa.default, \
                 Object.prototype.toString.call(papa), Object.keys(d), d.default] };\n\
                 export default function () {}\n",
            ),
            ("umd.js", umd),
            (
                "d.js",
                "exports.b = 1;\nexports.default = 'D';\nexports.a = 2;\n",
            ),
        ],
        "main.js",
    );
    assert_eq!(
        got["r"],
        json!([
            ["parse", "unparse"],
            "parse",
            "undefined",
            "[object Module]",
            ["a", "b", "default"],
            "D"
        ])
    );
}

#[test]
fn names_imported_through_export_star_reach_the_commonjs_module() {
    let got = options_of(
        &[
            (
                "main.js",
                "import { parse, own } from './index.js';\n\
                 export const options = { r: [parse('x'), own] };\n\
                 export default function () {}\n",
            ),
            ("index.js", "export * from './umd.js';\nexport const own = 1;\n"),
            (
                "umd.js",
                "module.exports = (function () { return { parse: function (s) { return s + '!'; } }; })();\n",
            ),
        ],
        "main.js",
    );
    assert_eq!(got["r"], json!(["x!", 1]));
}

#[test]
fn bundles_find_the_global_object_as_global() {
    // Browserify's standalone wrapper and its modules look for the global object through
    // `window`, `global` and `self`; k6 defines `global` (as `globalThis`) and neither other.
    let bundle = "(function (f) { module.exports = f(); })(function () {\n\
                  var g = typeof window !== 'undefined' ? window : typeof global !== 'undefined' ? global : self;\n\
                  return { same: g === globalThis, window: typeof window, self: typeof self };\n\
                  });\n";
    let got = options_of(
        &[
            (
                "main.js",
                "import probe from './bundle.js';\n\
                 export const options = { probe, global: typeof global };\n\
                 export default function () {}\n",
            ),
            ("bundle.js", bundle),
        ],
        "main.js",
    );
    assert_eq!(
        got,
        json!({ "probe": { "same": true, "window": "undefined", "self": "undefined" }, "global": "object" })
    );
}

#[test]
fn a_commonjs_entry_exports_options_and_functions() {
    let (fi, dir) = init_with(
        &[
            (
                "main.js",
                "const lib = require('./lib.js');\nexports.options = { iterations: lib.n };\n\
                 exports.default = function () {};\nmodule.exports.setup = function () {};\n",
            ),
            ("lib.js", "exports.n = 3;\n"),
        ],
        "main.js",
        RemoteSource::default(),
    )
    .unwrap_or_else(|e| panic!("{}", e.with_stack()));
    assert_eq!(fi.options_json.as_deref(), Some(r#"{"iterations":3}"#));
    let mut exports = fi.exports.clone();
    exports.sort();
    assert_eq!(exports, vec!["default", "setup"]);
    // The program keeps the sources as written, for archives.
    let main = dir.join("main.js").to_string_lossy().into_owned();
    assert!(fi.program.sources[&main].starts_with("const lib = require"));
}

#[test]
fn commonjs_errors_keep_their_line() {
    let e = error_of(
        &[
            (
                "main.js",
                "import './lib.js';\nexport default function () {}\n",
            ),
            ("lib.js", "exports.a = 1;\n\nundefinedThing.call();\n"),
        ],
        "main.js",
        RemoteSource::default(),
    );
    assert!(e.contains("undefinedThing is not defined"), "{e}");
    assert!(e.contains("lib.js:3:"), "{e}");
}

#[test]
fn typescript_modules_are_stripped_and_keep_positions() {
    let got = options_of(
        &[
            (
                "main.ts",
                "import { greet, type User } from './lib/user.ts';\nimport { Color } from './lib/color.ts';\n\
                 const u: User = { name: 'ts' };\n\
                 export const options = { r: [greet(u), Color.Green] as const };\n\
                 export default function (): void {}\n",
            ),
            (
                "lib/user.ts",
                "export interface User { name: string; age?: number }\n\
                 export function greet(u: User): string { return `hi ${u.name}` as string; }\n",
            ),
            ("lib/color.ts", "export enum Color { Red, Green }\n"),
        ],
        "main.ts",
    );
    assert_eq!(got["r"], json!(["hi ts", 1]));

    let e = error_of(
        &[(
            "bad.ts",
            "interface A { x: number }\nconst a: A = { x: 1 };\nexport default function (): void {}\n\
             function fail(msg: string): never {\n    throw new Error(msg);\n}\nfail('boom');\n",
        )],
        "bad.ts",
        RemoteSource::default(),
    );
    assert!(e.contains("boom") && e.contains("bad.ts:5:"), "{e}");

    let e = error_of(
        &[("syntax.ts", "const a: number = ;\n")],
        "syntax.ts",
        RemoteSource::default(),
    );
    assert!(
        e.contains("TypeScript error:") && e.contains("syntax.ts:1:"),
        "{e}"
    );
}

#[test]
fn remote_modules_come_from_the_source_given_and_import_relative_to_their_url() {
    let remote = RemoteSource::bundled(BTreeMap::from([
        (
            "https://mods.example/lib/1.0/index.js".to_string(),
            "import { k } from './k.js';\nexport function twice(x) { return k * x; }\n".to_string(),
        ),
        (
            "https://mods.example/lib/1.0/k.js".to_string(),
            "exports.k = 2;\n".to_string(),
        ),
    ]));
    let (fi, _) = init_with(
        &[(
            "main.js",
            "import { twice } from 'https://mods.example/lib/1.0/index.js';\n\
             export const options = { r: twice(21) };\nexport default function () {}\n",
        )],
        "main.js",
        remote,
    )
    .unwrap_or_else(|e| panic!("{}", e.with_stack()));
    assert_eq!(fi.options_json.as_deref(), Some(r#"{"r":42}"#));
    assert!(fi
        .program
        .sources
        .contains_key("https://mods.example/lib/1.0/k.js"));

    let e = error_of(
        &[(
            "main.js",
            "import { x } from 'https://mods.example/missing.js';\nexport default function () {}\n",
        )],
        "main.js",
        RemoteSource::default(),
    );
    assert!(
        e.contains("https://mods.example/missing.js") && e.contains("does not download"),
        "{e}"
    );
}

#[test]
fn on_an_agent_only_modules_inside_the_archive_load() {
    let dir = std::env::temp_dir().join(format!("volley-loader-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("run/t")).unwrap();
    std::fs::write(dir.join("run/t/lib.js"), "export const A = 1;").unwrap();
    std::fs::write(dir.join("outside.js"), "export const B = 2;").unwrap();
    let root = std::fs::canonicalize(dir.join("run")).unwrap();
    let scope = FileScope::Archive { root: root.clone() };
    let inside = root.join("t/lib.js");
    assert!(read_module_source(&scope, inside.to_str().unwrap()).is_ok());
    let outside = resolve_specifier(inside.to_str().unwrap(), "../../outside.js").unwrap();
    assert!(read_module_source(&FileScope::Host, &outside).is_ok());
    let e = read_module_source(&scope, &outside).unwrap_err();
    assert!(e.starts_with("outside the run's archive"), "{e}");
    let e = read_module_source(&scope, "/etc/passwd").unwrap_err();
    assert!(e.starts_with("outside the run's archive"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn long_load_errors_reach_the_user_whole() {
    // QuickJS cuts exception messages at 255 bytes; a remote module's error is often longer.
    struct Failing;
    impl RemoteModules for Failing {
        fn fetch(&self, url: &str) -> Result<String, String> {
            Err(format!(
                "cannot download remote module {url}: {}; END",
                "x".repeat(400)
            ))
        }
    }
    let remote = RemoteSource(Arc::new(Failing));
    for (entry, src) in [
        (
            "main.js",
            "import { a } from 'https://mods.example/a.js';\nexport default function () {}\n",
        ),
        (
            "lib.js",
            "import './dep.js';\nexport default function () {}\n",
        ),
    ] {
        let e = error_of(
            &[
                (entry, src),
                (
                    "dep.js",
                    "const a = require('https://mods.example/a.js');\n",
                ),
            ],
            entry,
            remote.clone(),
        );
        assert!(
            e.contains(
                "Error loading module 'https://mods.example/a.js': cannot download remote module"
            ) && e.contains("xxx; END"),
            "{e}"
        );
    }
}
