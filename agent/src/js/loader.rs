//! Module resolution and loading: the k6 modules by name (their JS compiled once per process),
//! local files by path relative to the importing module, and nothing else (remote and bare
//! specifiers are refused with a message that says what to do instead).
//!
//! The first init reads local modules from disk and records their bytecode in the
//! [`ProgramBuilder`]; VUs load everything from the finished [`Program`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::WriteOptions;
use rquickjs::{CatchResultExt, Context, Ctx, Module, Runtime};

use super::error::JsError;
use super::jobs::finish_promise;
use super::modules::{self, MODULES};
use crate::program::{normalize, Program, ProgramBuilder};
use crate::sandbox::FileScope;

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

/// Module resolution shared by the first init and the VUs: k6 modules by name, local files by
/// path relative to the importing module. Remote and bare specifiers are refused clearly. (On
/// an agent, the loader refuses a module outside the run's archive: QuickJS cuts error
/// messages at 256 bytes, and a loading error names one path where a resolving one names two.)
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
    if let Some(found) = modules::find(name) {
        return found.map(|m| m.name.to_string());
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
        let scope = self.builder.borrow().scope().clone();
        let source = read_module_source(&scope, name)
            .map_err(|e| rquickjs::Error::new_loading_message(name, e))?;
        let module = Module::declare(ctx.clone(), name, source.clone())?;
        let bc = module.write(WriteOptions::default())?;
        self.builder.borrow_mut().record(name, bc, source);
        Ok(module)
    }
}

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
            // SAFETY: see DiskLoader.
            return unsafe { Module::load(ctx.clone(), bc) };
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
        let scope = loader.builder.borrow().scope().clone();
        let source = read_module_source(&scope, name).map_err(JsError::Load)?;
        let m = Module::declare(ctx.clone(), name, source.clone())
            .catch(ctx)
            .map_err(|e| JsError::from_caught(e, ctx))?;
        let bc = m
            .write(WriteOptions::default())
            .map_err(|e| JsError::Load(e.to_string()))?;
        loader.builder.borrow_mut().record(name, bc, source);
        m
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
    let (evaluated, promise) = module
        .eval()
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))?;
    finish_promise::<()>(ctx, &promise)
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))?;
    evaluated
        .namespace()
        .catch(ctx)
        .map_err(|e| JsError::from_caught(e, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_module_compiles() {
        for m in MODULES {
            assert!(builtin_bytecode(m.name).is_some(), "{}", m.name);
        }
    }
}
