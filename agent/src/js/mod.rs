//! The JavaScript side of a VU: the compiled test program, module resolution and the k6 modules.
//!
//! A test script is compiled **once** (during the first init, which also reads `options`): every
//! local module it imports becomes QuickJS bytecode in [`Program`], and every file it `open()`s is
//! captured there too, so that VUs never touch the disk and a later issue can bundle the program
//! into an archive. Each VU then gets its own context (in its worker's [`shared_runtime`]) and
//! loads the bytecode.
//!
//! The k6 modules (`k6`, `k6/http`, ...) are small JS modules (`builtins/*.js`) over native
//! functions that each VU installs as `globalThis.__volley` (see [`native`]).

pub mod http;
pub mod keys;
pub mod native;
pub mod shapes;
pub mod shared_runtime;

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::WriteOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Module, Runtime};

/// The k6 modules Volley provides, with their JS source.
const BUILTINS: &[(&str, &str)] = &[
    ("k6", include_str!("builtins/k6.js")),
    ("k6/http", include_str!("builtins/http.js")),
    ("k6/metrics", include_str!("builtins/metrics.js")),
    ("k6/execution", include_str!("builtins/execution.js")),
    ("k6/data", include_str!("builtins/data.js")),
    ("k6/encoding", include_str!("builtins/encoding.js")),
    ("k6/crypto", include_str!("builtins/crypto.js")),
];

/// Modules k6 has and Volley does not (yet): named in the error so users know it is not a typo.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "k6/ws",
    "k6/html",
    "k6/net/grpc",
    "k6/browser",
    "k6/timers",
    "k6/secrets",
    "k6/experimental/browser",
    "k6/experimental/websockets",
    "k6/experimental/grpc",
    "k6/experimental/redis",
    "k6/experimental/streams",
    "k6/experimental/fs",
    "k6/experimental/csv",
    "k6/experimental/tracing",
    "k6/experimental/webcrypto",
];

/// Bytecode of the builtin modules, compiled once per process.
fn builtin_bytecode(name: &str) -> Option<&'static [u8]> {
    static CODE: OnceLock<HashMap<&'static str, Vec<u8>>> = OnceLock::new();
    let code = CODE.get_or_init(|| {
        let rt = Runtime::new().expect("QuickJS runtime");
        let ctx = Context::full(&rt).expect("QuickJS context");
        ctx.with(|ctx| {
            BUILTINS
                .iter()
                .map(|(name, src)| {
                    let m = Module::declare(ctx.clone(), *name, *src)
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
                    (*name, bc)
                })
                .collect()
        })
    });
    code.get(name).map(|v| v.as_slice())
}

/// A compiled test: the entry module, every local module it imports (as bytecode and as source)
/// and every file it opened. Shared read-only by all VUs, except `files`, which can grow when a
/// VU opens a file the first init did not.
pub struct Program {
    /// Absolute path of the entry script.
    pub script_path: PathBuf,
    /// The entry module's name (its absolute path).
    pub entry: String,
    /// Module name (absolute path) → bytecode.
    bytecode: HashMap<String, Vec<u8>>,
    /// Module name → source, kept for archives.
    pub sources: BTreeMap<String, String>,
    /// Files read by `open()`, by absolute path.
    files: Mutex<BTreeMap<PathBuf, Arc<Vec<u8>>>>,
}

impl Program {
    /// Reads a file for `open()`: from the captured set, or from disk (then captured).
    pub fn open_file(&self, path: &Path) -> std::io::Result<Arc<Vec<u8>>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.get(path) {
            return Ok(f.clone());
        }
        const MAX_OPEN_BYTES: u64 = 512 * 1024 * 1024;
        let meta = std::fs::metadata(path)?;
        if meta.len() > MAX_OPEN_BYTES {
            return Err(std::io::Error::other(format!(
                "{} is {} bytes; open() reads at most {MAX_OPEN_BYTES} bytes",
                path.display(),
                meta.len()
            )));
        }
        let data = Arc::new(std::fs::read(path)?);
        files.insert(path.to_path_buf(), data.clone());
        Ok(data)
    }

    /// The files opened so far (for archives and reporting).
    pub fn opened_files(&self) -> Vec<PathBuf> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.keys().cloned().collect()
    }

    /// Resolves a path given to `open()`: relative paths are relative to the entry script's folder.
    pub fn resolve_open_path(&self, p: &str) -> PathBuf {
        let p = p.strip_prefix("file://").unwrap_or(p);
        let path = Path::new(p);
        if path.is_absolute() {
            normalize(path)
        } else {
            normalize(&self.script_dir().join(path))
        }
    }

    fn script_dir(&self) -> PathBuf {
        self.script_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"))
    }
}

/// Builds a [`Program`] while the first init evaluates the script from disk.
pub struct ProgramBuilder {
    script_path: PathBuf,
    bytecode: HashMap<String, Vec<u8>>,
    sources: BTreeMap<String, String>,
}

impl ProgramBuilder {
    pub fn new(script_path: &Path) -> std::io::Result<Self> {
        let abs = if script_path.is_absolute() {
            script_path.to_path_buf()
        } else {
            std::env::current_dir()?.join(script_path)
        };
        Ok(ProgramBuilder {
            script_path: normalize(&abs),
            bytecode: HashMap::new(),
            sources: BTreeMap::new(),
        })
    }

    pub fn entry(&self) -> String {
        self.script_path.to_string_lossy().into_owned()
    }

    pub fn finish(self, files: BTreeMap<PathBuf, Arc<Vec<u8>>>) -> Program {
        Program {
            entry: self.script_path.to_string_lossy().into_owned(),
            script_path: self.script_path,
            bytecode: self.bytecode,
            sources: self.sources,
            files: Mutex::new(files),
        }
    }
}

/// Lexically normalizes a path (`a/./b/../c` → `a/c`) without touching the disk.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Module resolution shared by the first init and the VUs: k6 modules by name, local files by
/// path relative to the importing module. Remote and bare specifiers are refused clearly.
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

fn resolve_specifier(base: &str, name: &str) -> Result<String, String> {
    if BUILTINS.iter().any(|(n, _)| *n == name) {
        return Ok(name.to_string());
    }
    if name == "k6" || name.starts_with("k6/") {
        let supported: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        let known = if KNOWN_UNSUPPORTED.contains(&name) {
            "is a k6 module that Volley does not support yet"
        } else {
            "is not a k6 module Volley knows"
        };
        return Err(format!(
            "module \"{name}\" {known}; supported modules: {}",
            supported.join(", ")
        ));
    }
    if name.starts_with("http://") || name.starts_with("https://") {
        return Err(format!(
            "remote module \"{name}\" cannot be loaded: Volley does not download modules; \
             save the file next to your script and import it with a relative path (./file.js)"
        ));
    }
    let local = name.strip_prefix("file://").unwrap_or(name);
    if local.starts_with("./") || local.starts_with("../") || local.starts_with('/') {
        let p = Path::new(local);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new(base)
                .parent()
                .unwrap_or_else(|| Path::new("/"))
                .join(p)
        };
        return Ok(normalize(&full).to_string_lossy().into_owned());
    }
    Err(format!(
        "module \"{name}\" not found: Volley resolves the k6 modules and local files imported with \
         a relative path (./{name}.js); node_modules and bare package names are not supported"
    ))
}

/// The first init's loader: reads local modules from disk, compiles them and records their
/// bytecode and source in the [`ProgramBuilder`].
pub struct DiskLoader {
    pub builder: std::rc::Rc<std::cell::RefCell<ProgramBuilder>>,
}

/// The largest module source Volley compiles.
const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

impl Loader for DiskLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js>> {
        if let Some(bc) = builtin_bytecode(name) {
            // SAFETY: the bytecode was produced by this QuickJS build and lives for the process.
            return unsafe { Module::load(ctx.clone(), bc) };
        }
        let source =
            read_module_source(name).map_err(|e| rquickjs::Error::new_loading_message(name, e))?;
        let module = Module::declare(ctx.clone(), name, source.clone())?;
        let bc = module.write(WriteOptions::default())?;
        let mut b = self.builder.borrow_mut();
        b.bytecode.insert(name.to_string(), bc);
        b.sources.insert(name.to_string(), source);
        Ok(module)
    }
}

fn read_module_source(name: &str) -> Result<String, String> {
    let meta = std::fs::metadata(name).map_err(|e| format!("cannot read {name}: {e}"))?;
    if meta.len() > MAX_MODULE_BYTES {
        return Err(format!(
            "{name} is {} bytes; modules may be at most {MAX_MODULE_BYTES} bytes",
            meta.len()
        ));
    }
    std::fs::read_to_string(name).map_err(|e| format!("cannot read {name}: {e}"))
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
            // SAFETY: see DiskLoader.
            return unsafe { Module::load(ctx.clone(), bc) };
        }
        match self.program.bytecode.get(name) {
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
        let source = read_module_source(name).map_err(JsError::Load)?;
        let m = Module::declare(ctx.clone(), name, source.clone())
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx))?;
        let bc = m
            .write(WriteOptions::default())
            .map_err(|e| JsError::Load(e.to_string()))?;
        let mut b = loader.builder.borrow_mut();
        b.bytecode.insert(name.to_string(), bc);
        b.sources.insert(name.to_string(), source);
        m
    } else {
        let program = program.ok_or_else(|| JsError::Load("no program".into()))?;
        let bc = program
            .bytecode
            .get(name)
            .ok_or_else(|| JsError::Load(format!("module {name} was not compiled")))?;
        // SAFETY: bytecode from this build; Program outlives the runtime.
        unsafe { Module::load(ctx.clone(), bc) }
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx))?
    };
    let (evaluated, promise) = module
        .eval()
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))?;
    shared_runtime::finish_promise::<()>(ctx, &promise)
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))?;
    evaluated
        .namespace()
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))
}

/// A JavaScript failure, formatted for users.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JsError {
    /// An exception thrown by the script (message and JS stack).
    #[error("{message}")]
    Exception { message: String, stack: String },
    /// The VU was interrupted (stop, gracefulStop expired, test.abort()).
    #[error("interrupted")]
    Interrupted,
    /// A module could not be found or read.
    #[error("{0}")]
    Load(String),
}

impl JsError {
    pub fn from_caught(e: CaughtError<'_>, _ctx: &Ctx<'_>) -> JsError {
        match e {
            CaughtError::Exception(ex) => {
                let msg = ex.message().unwrap_or_default();
                let name = ex
                    .get::<_, Option<String>>("name")
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "Error".into());
                if name == "InternalError" && msg == "interrupted" {
                    return JsError::Interrupted;
                }
                let message = if msg.is_empty() {
                    name
                } else if name == "Error" {
                    msg
                } else {
                    format!("{name}: {msg}")
                };
                JsError::Exception {
                    message,
                    stack: ex.stack().unwrap_or_default(),
                }
            }
            CaughtError::Value(v) => {
                let s = v
                    .as_string()
                    .and_then(|s| s.to_string().ok())
                    .or_else(|| v.as_number().map(|n| n.to_string()))
                    .unwrap_or_else(|| format!("{:?}", v.type_of()));
                JsError::Exception {
                    message: s,
                    stack: String::new(),
                }
            }
            CaughtError::Error(e) => {
                let s = e.to_string();
                if e.is_resolving() || e.is_loading() {
                    JsError::Load(s)
                } else {
                    JsError::Exception {
                        message: s,
                        stack: String::new(),
                    }
                }
            }
        }
    }

    /// Message plus the JS stack ("at ..." lines), as k6 prints exceptions.
    pub fn with_stack(&self) -> String {
        match self {
            JsError::Exception { message, stack } if !stack.trim().is_empty() => {
                format!("{message}\n{}", stack.trim_end())
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_builtins_locals_and_refuses_the_rest() {
        assert_eq!(resolve_specifier("/a/b.js", "k6/http").unwrap(), "k6/http");
        assert_eq!(
            resolve_specifier("/a/b/main.js", "./lib/x.js").unwrap(),
            "/a/b/lib/x.js"
        );
        assert_eq!(
            resolve_specifier("/a/b/main.js", "../x.js").unwrap(),
            "/a/x.js"
        );
        let e = resolve_specifier("/a.js", "k6/ws").unwrap_err();
        assert!(e.contains("k6/ws") && e.contains("does not support"), "{e}");
        let e = resolve_specifier("/a.js", "k6/nope").unwrap_err();
        assert!(e.contains("k6/nope"), "{e}");
        let e = resolve_specifier("/a.js", "https://jslib.k6.io/x.js").unwrap_err();
        assert!(e.contains("relative path"), "{e}");
        let e = resolve_specifier("/a.js", "lodash").unwrap_err();
        assert!(e.contains("lodash"), "{e}");
    }

    #[test]
    fn builtins_compile() {
        for (name, _) in BUILTINS {
            assert!(builtin_bytecode(name).is_some(), "{name}");
        }
    }
}
