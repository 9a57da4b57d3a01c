//! Module resolution and loading: the k6 modules by name (their JS compiled once per process),
//! local files by path relative to the importing module, remote modules by URL ([`remote`]);
//! ES modules, CommonJS ([`commonjs`]) and TypeScript ([`typescript`]) alike.
//!
//! The first init reads every module once (local ones from disk, remote ones from the run's
//! [`RemoteSource`]), first following the static imports from the entry ([`analyze`](mod@analyze)) so that
//! a CommonJS module knows every name it is imported by, then compiling what QuickJS asks for
//! and recording its bytecode and source in the [`ProgramBuilder`]. VUs load everything from the
//! finished [`Program`] and never read a file or the network.

pub mod analyze;
pub mod commonjs;
pub mod remote;
pub mod resolve;
pub mod typescript;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::WriteOptions;
use rquickjs::{CatchResultExt, Context, Ctx, Module, Runtime};

use super::error::JsError;
use super::jobs::finish_promise;
use super::modules::MODULES;
use crate::program::{Program, ProgramBuilder};
use crate::sandbox::FileScope;
use analyze::{analyze, Analysis, NamespaceImport};
pub use remote::{RemoteModules, RemoteSource};
use resolve::{is_remote, resolve_specifier};

/// Bytecode of the k6 modules' JS, compiled once per process.
fn builtin_bytecode(name: &str) -> Option<&'static [u8]> {
    static CODE: OnceLock<HashMap<&'static str, Vec<u8>>> = OnceLock::new();
    let code = CODE.get_or_init(|| {
        let rt = Runtime::new().expect("QuickJS runtime");
        let ctx = Context::full(&rt).expect("QuickJS context");
        ctx.with(|ctx| {
            MODULES
                .iter()
                .map(|m| {
                    let (name, src) = (m.name, m.js);
                    let m = Module::declare(ctx.clone(), name, src)
                        .unwrap_or_else(|e| panic!("builtin module {name} does not compile: {e}"));
                    // Without their source: k6's modules are native code too, and
                    // `String(http.get)` shows no source there either. Every VU holds a copy
                    // of what is loaded, so this is memory per VU.
                    let bc = m
                        .write(WriteOptions {
                            strip_source: true,
                            ..WriteOptions::default()
                        })
                        .unwrap_or_else(|e| panic!("builtin module {name}: {e}"));
                    (name, bc)
                })
                .collect()
        })
    });
    code.get(name).map(|v| v.as_slice())
}

/// Loads a k6 module, installing its natives into the context first ([`super::modules::need`]).
fn load_builtin<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    bc: &'static [u8],
) -> rquickjs::Result<Module<'js>> {
    super::modules::need(ctx, name)?;
    // SAFETY: the bytecode was produced by this QuickJS build and lives for the process.
    unsafe { Module::load(ctx.clone(), bc) }
}

/// Module resolution shared by the first init, the VUs and `require()` (see [`resolve`]).
pub struct VolleyResolver;

impl Resolver for VolleyResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        resolve_specifier(base, name)
            .map_err(|msg| rquickjs::Error::new_resolving_message(base, name, msg))
    }
}

/// The largest module source Volley compiles.
const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

/// A module's source as read, and the JavaScript QuickJS compiles for it.
struct Prepared {
    /// The source as read (kept for archives: agents prepare it again).
    original: String,
    /// After stripping TypeScript types.
    js: String,
    /// `None` when it does not parse (QuickJS reports the syntax error).
    analysis: Option<Analysis>,
}

/// What the first init knows about the test's modules before QuickJS asks for them.
#[derive(Default)]
struct Graph {
    remote: RemoteSource,
    /// Which local files may be read (on an agent, only the run's archive).
    scope: FileScope,
    prepared: HashMap<String, Result<Rc<Prepared>, String>>,
    /// Names that importers ask of each module (a CommonJS facade exports them).
    wanted: HashMap<String, BTreeSet<String>>,
    /// The full text of every load error: QuickJS cuts an exception's message at 255 bytes,
    /// and a remote module's error (URL, reason, cache file) is often longer.
    load_errors: Vec<String>,
}

impl Graph {
    fn prepared(&mut self, name: &str) -> Result<Rc<Prepared>, String> {
        if let Some(p) = self.prepared.get(name) {
            return p.clone();
        }
        let p = self.read(name).and_then(|original| {
            let js = if typescript::is_typescript(name) {
                typescript::strip(name, &original)?
            } else {
                original.clone()
            };
            let analysis = analyze(&js);
            Ok(Rc::new(Prepared {
                original,
                js,
                analysis,
            }))
        });
        self.prepared.insert(name.to_string(), p.clone());
        p
    }

    fn read(&self, name: &str) -> Result<String, String> {
        if !is_remote(name) {
            return read_module_source(&self.scope, name);
        }
        let source = self.remote.fetch(name)?;
        if source.len() as u64 > MAX_MODULE_BYTES {
            return Err(format!(
                "remote module {name} is {} bytes; modules may be at most {MAX_MODULE_BYTES} bytes",
                source.len()
            ));
        }
        Ok(source)
    }

    /// Follows the static imports (and literal `require()`s) from `entry`, reading every module
    /// once and noting the names each one is imported by. Errors are kept for when QuickJS
    /// asks for the module, so a module that is never loaded never fails the test.
    fn scan(&mut self, entry: &str) {
        let mut queue = vec![entry.to_string()];
        let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
        // (module, the modules it `export * from`s)
        let mut stars: Vec<(String, Vec<String>)> = Vec::new();
        while let Some(name) = queue.pop() {
            let Ok(p) = self.prepared(&name) else {
                continue;
            };
            let Some(a) = &p.analysis else {
                continue;
            };
            let deps = a
                .imports
                .iter()
                .map(|i| (&i.specifier, i.names.as_slice()))
                .chain(a.requires.iter().map(|r| (r, &[][..])));
            let namespaces = a.imports.iter().map(|i| i.namespace.is_some());
            for ((spec, names), namespace) in deps.zip(namespaces.chain(std::iter::repeat(false))) {
                let Ok(target) = resolve_specifier(&name, spec) else {
                    continue;
                };
                if builtin_bytecode(&target).is_some() {
                    continue;
                }
                let wanted = self.wanted.entry(target.clone()).or_default();
                wanted.extend(names.iter().cloned());
                if namespace {
                    wanted.insert(commonjs::EXPORTS_NAME.to_string());
                }
                if seen.insert(target.clone()) {
                    queue.push(target);
                }
            }
            let star_targets: Vec<String> = a
                .imports
                .iter()
                .filter(|i| i.star)
                .filter_map(|i| resolve_specifier(&name, &i.specifier).ok())
                .filter(|t| builtin_bytecode(t).is_none())
                .collect();
            if !star_targets.is_empty() {
                stars.push((name, star_targets));
            }
        }
        self.pass_names_through_star_exports(&stars);
    }

    /// A name imported from a module that does `export * from` a CommonJS module may be one of
    /// that module's exports (k6 re-exports them): the facade must export it. Only when one
    /// CommonJS module is star-exported, or every name would be exported twice (ambiguous).
    fn pass_names_through_star_exports(&mut self, stars: &[(String, Vec<String>)]) {
        let is_commonjs = |graph: &Graph, name: &str| {
            graph
                .prepared
                .get(name)
                .and_then(|p| p.as_ref().ok())
                .and_then(|p| p.analysis.as_ref())
                .is_some_and(|a| !a.esm)
        };
        let mut edges = Vec::new();
        for (from, targets) in stars {
            let mut cjs = targets.iter().filter(|t| is_commonjs(self, t));
            if let (Some(only), None) = (cjs.next(), cjs.next()) {
                edges.push((from.clone(), only.clone()));
            }
        }
        // Until nothing changes: chains of re-exports pass names on (names are finite).
        loop {
            let mut changed = false;
            for (from, to) in &edges {
                let names: Vec<String> = self
                    .wanted
                    .get(from)
                    .into_iter()
                    .flatten()
                    .filter(|n| *n != "default" && *n != commonjs::EXPORTS_NAME)
                    .cloned()
                    .collect();
                let target = self.wanted.entry(to.clone()).or_default();
                for n in names {
                    changed |= target.insert(n);
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// The `import * as` declarations of the ES module `name` (prepared as `p`) that import a
    /// CommonJS module whose facade exports its `module.exports` (the scan asked for it).
    fn commonjs_namespaces<'p>(&self, name: &str, p: &'p Prepared) -> Vec<&'p NamespaceImport> {
        let imports = p.analysis.iter().flat_map(|a| &a.imports);
        imports
            .filter_map(|i| {
                let ns = i.namespace.as_ref()?;
                let target = resolve_specifier(name, &i.specifier).ok()?;
                if !self.wanted.get(&target)?.contains(commonjs::EXPORTS_NAME) {
                    return None;
                }
                let t = self.prepared.get(&target)?.as_ref().ok()?;
                t.analysis.as_ref().is_some_and(|a| !a.esm).then_some(ns)
            })
            .collect()
    }

    /// The JavaScript to compile as module `name`: ES modules as they are (but for their
    /// namespace imports of CommonJS modules), CommonJS files wrapped in their facade.
    fn module_js(&mut self, name: &str) -> Result<(String, Rc<Prepared>), String> {
        let p = self.prepared(name)?;
        let esm = p.analysis.as_ref().is_none_or(|a| a.esm);
        if esm {
            let rewrites = self.commonjs_namespaces(name, &p);
            if rewrites.is_empty() {
                return Ok((p.js.clone(), p));
            }
            return Ok((commonjs::namespace_imports(&p.js, &rewrites), p));
        }
        let mut names = commonjs::assigned_names(&p.js);
        if let Some(w) = self.wanted.get(name) {
            names.extend(w.iter().cloned());
        }
        Ok((commonjs::facade(name, &p.js, &names), p))
    }
}

/// The first init's loader: reads modules from disk (and remote ones from its
/// [`RemoteSource`]), prepares them (TypeScript, CommonJS), compiles them and records their
/// bytecode and source in the [`ProgramBuilder`]. Clones share everything.
#[derive(Clone)]
pub struct DiskLoader {
    pub builder: Rc<RefCell<ProgramBuilder>>,
    graph: Rc<RefCell<Graph>>,
}

impl DiskLoader {
    pub fn new(builder: Rc<RefCell<ProgramBuilder>>, remote: RemoteSource) -> Self {
        let scope = builder.borrow().scope().clone();
        DiskLoader {
            builder,
            graph: Rc::new(RefCell::new(Graph {
                remote,
                scope,
                ..Graph::default()
            })),
        }
    }

    /// Compiles module `name` and records it in the program.
    fn compile<'js>(&self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js>> {
        let module_js = self.graph.borrow_mut().module_js(name);
        let (js, p) = module_js.map_err(|e| {
            let e = rquickjs::Error::new_loading_message(name, e);
            self.graph.borrow_mut().load_errors.push(e.to_string());
            e
        })?;
        let module = Module::declare(ctx.clone(), name, js)?;
        let bc = module.write(WriteOptions::default())?;
        self.builder
            .borrow_mut()
            .record(name, bc, p.original.clone());
        Ok(module)
    }
}

impl Loader for DiskLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js>> {
        if let Some(bc) = builtin_bytecode(name) {
            return load_builtin(ctx, name, bc);
        }
        self.compile(ctx, name)
    }
}

/// Reads a local module, within `scope`. (On an agent, the loader refuses a module outside the
/// run's archive rather than the resolver: a loading error names one path where a resolving one
/// names two, and QuickJS cuts messages at 256 bytes.)
fn read_module_source(scope: &FileScope, name: &str) -> Result<String, String> {
    scope
        .check_module(Path::new(name))
        .map_err(|e| e.to_string())?;
    let real = scope
        .real_path(name, Path::new(name))
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let meta = std::fs::metadata(&real).map_err(|e| format!("cannot read {name}: {e}"))?;
    if meta.len() > MAX_MODULE_BYTES {
        return Err(format!(
            "{name} is {} bytes; modules may be at most {MAX_MODULE_BYTES} bytes",
            meta.len()
        ));
    }
    std::fs::read_to_string(&real).map_err(|e| format!("cannot read {name}: {e}"))
}

/// The VUs' loader: every module comes from the compiled [`Program`].
pub struct ProgramLoader {
    pub program: Arc<Program>,
}

impl Loader for ProgramLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js>> {
        if let Some(bc) = builtin_bytecode(name) {
            return load_builtin(ctx, name, bc);
        }
        match self.program.bytecode(name) {
            // SAFETY: the bytecode was produced by this QuickJS build during the first init,
            // and the Program (held by this loader) outlives the runtime.
            Some(bc) => unsafe { Module::load(ctx.clone(), bc) },
            None => Err(rquickjs::Error::new_loading_message(
                name,
                "this module was not imported during the first init (dynamic imports are not supported)",
            )),
        }
    }
}

/// Loads (or, for the entry from disk, compiles) the entry module and evaluates it, running
/// pending jobs until its evaluation promise settles. Returns the module namespace.
pub fn eval_entry<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    from_disk: Option<&DiskLoader>,
    program: Option<&Program>,
) -> Result<rquickjs::Object<'js>, JsError> {
    let module = if let Some(loader) = from_disk {
        loader.graph.borrow_mut().scan(name);
        loader
            .compile(ctx, name)
            .catch(ctx)
            .map_err(|e| loader.untruncated(JsError::from_caught(e, ctx)))?
    } else {
        let program = program.ok_or_else(|| JsError::Load("no program".into()))?;
        let bc = program
            .bytecode(name)
            .ok_or_else(|| JsError::Load(format!("module {name} was not compiled")))?;
        // SAFETY: bytecode from this build; Program outlives the runtime.
        unsafe { Module::load(ctx.clone(), bc) }
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx))?
    };
    let r = evaluate(ctx, name, module);
    match from_disk {
        Some(loader) => r.map_err(|e| loader.untruncated(e)),
        None => r,
    }
}

impl DiskLoader {
    /// `e` with the full text of a load error that QuickJS cut short, if it is one.
    fn untruncated(&self, e: JsError) -> JsError {
        let JsError::Exception { message, stack, .. } = &e else {
            return e;
        };
        let Some(cut) = message.strip_prefix("ReferenceError: ") else {
            return e;
        };
        // A cut inside a UTF-8 sequence ends in a replacement character.
        let cut = cut.trim_end_matches(char::REPLACEMENT_CHARACTER);
        let graph = self.graph.borrow();
        let full = graph
            .load_errors
            .iter()
            .find(|full| full.len() > cut.len() && full.starts_with(cut));
        match full {
            Some(full) => JsError::Exception {
                message: format!("ReferenceError: {full}"),
                stack: stack.clone(),
                rejected: false,
            },
            None => e,
        }
    }
}

/// Evaluates the entry module, running pending jobs until its evaluation promise settles, and
/// returns its exports.
fn evaluate<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    module: Module<'js>,
) -> Result<rquickjs::Object<'js>, JsError> {
    let (evaluated, promise) = module
        .eval()
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))?;
    finish_promise::<()>(ctx, &promise)
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))?;
    // A CommonJS entry's exports are its `module.exports` (`exports.options`, `exports.default`).
    if let Some(exports) = commonjs::exports_of(ctx, name)
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))?
    {
        return Ok(exports);
    }
    evaluated
        .namespace()
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))
}

#[cfg(test)]
mod tests;
