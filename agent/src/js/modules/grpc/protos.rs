//! A client's service definitions: `.proto` files compiled in the process by protox (a Rust
//! protobuf compiler, so nothing like `protoc` has to be installed), protosets, or what server
//! reflection returned; all end up in one prost-reflect `DescriptorPool` per client, whose
//! methods `invoke` and streams look up by their full name.
//!
//! `.proto` files and protosets are read through the program's `open()`
//! ([`Program::open_file`]), so they obey the same sandbox (an agent reads only its archive)
//! and `volley submit` bundles every file the init stage read, imports included
//! ([docs/agent-sandbox.md](../../../../../docs/agent-sandbox.md)).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use prost_reflect::{DescriptorPool, MethodDescriptor};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::program::Program;

/// Why definitions could not be loaded; the text names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Compile(String),
    #[error("the definitions in {file} clash with ones loaded before: {detail}")]
    Clash { file: String, detail: String },
    #[error("{0}")]
    Read(String),
}

/// The definitions a client has loaded.
#[derive(Default, Clone)]
pub struct Definitions {
    pool: Option<DescriptorPool>,
    /// Methods by full name (`/pkg.Service/Method`).
    methods: BTreeMap<String, MethodDescriptor>,
}

/// What `load` and `loadProtoset` return for each method, as k6 lists them.
pub struct MethodInfo {
    pub package: String,
    pub service: String,
    pub name: String,
    pub client_streaming: bool,
    pub server_streaming: bool,
    pub full_method: String,
}

impl Definitions {
    /// The method called `name` (`pkg.Service/Method`, with or without the leading slash).
    pub fn method(&self, name: &str) -> Option<&MethodDescriptor> {
        self.methods.get(&with_slash(name))
    }

    /// Compiles `files` (found in `import_paths`, relative to the script's folder; the
    /// script's folder itself when there are none) and adds them; returns their methods.
    pub fn load_protos(
        &mut self,
        program: &Arc<Program>,
        import_paths: &[String],
        files: &[String],
    ) -> Result<Vec<MethodInfo>, LoadError> {
        let set = compiled(program, import_paths, files)?;
        let names: Vec<String> = files.iter().map(|f| file_name(f)).collect();
        self.add(set, &names, files.join(", "))
    }

    /// Adds the files of a protoset (a serialized `FileDescriptorSet`, as `protoc
    /// --descriptor_set_out` writes it).
    pub fn load_protoset(
        &mut self,
        path: &str,
        bytes: &[u8],
    ) -> Result<Vec<MethodInfo>, LoadError> {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(bytes).map_err(|e| {
            LoadError::Read(format!(
                "{path} is not a protoset (a serialized FileDescriptorSet, as `protoc \
                 --include_imports --descriptor_set_out` writes it): {e}"
            ))
        })?;
        let names: Vec<String> = set.file.iter().filter_map(|f| f.name.clone()).collect();
        self.add(set, &names, path.to_owned())
    }

    /// Adds descriptors that server reflection returned (every file of the server's services
    /// and their imports).
    pub fn add_reflected(
        &mut self,
        set: prost_types::FileDescriptorSet,
    ) -> Result<Vec<MethodInfo>, LoadError> {
        let names: Vec<String> = set.file.iter().filter_map(|f| f.name.clone()).collect();
        self.add(set, &names, "the server's reflection answer".into())
    }

    /// Adds `set` to the pool and lists the methods of the files named `names`.
    fn add(
        &mut self,
        set: prost_types::FileDescriptorSet,
        names: &[String],
        what: String,
    ) -> Result<Vec<MethodInfo>, LoadError> {
        let mut pool = self.pool.clone().unwrap_or_default();
        // Files already in the pool (a second load of the same file, or a shared import) are
        // skipped: the pool refuses a file twice, even an identical one.
        let fresh: Vec<_> = set
            .file
            .into_iter()
            .filter(|f| {
                f.name
                    .as_deref()
                    .is_none_or(|n| pool.get_file_by_name(n).is_none())
            })
            .collect();
        pool.add_file_descriptor_protos(fresh)
            .map_err(|e| LoadError::Clash {
                file: what,
                detail: e.to_string(),
            })?;
        let mut listed = Vec::new();
        for service in pool.services() {
            for m in service.methods() {
                let full = full_name(&m);
                if names.iter().any(|n| n == service.parent_file().name()) {
                    listed.push(MethodInfo {
                        package: service.parent_file().package_name().to_owned(),
                        service: service.name().to_owned(),
                        name: m.name().to_owned(),
                        client_streaming: m.is_client_streaming(),
                        server_streaming: m.is_server_streaming(),
                        full_method: full.clone(),
                    });
                }
                self.methods.insert(full, m);
            }
        }
        self.pool = Some(pool);
        Ok(listed)
    }
}

/// `pkg.Service/Method` with its leading slash, as k6 names methods in errors.
pub fn with_slash(method: &str) -> String {
    if method.starts_with('/') {
        method.to_owned()
    } else {
        format!("/{method}")
    }
}

/// A method's full name, `/pkg.Service/Method`.
pub fn full_name(m: &MethodDescriptor) -> String {
    format!("/{}/{}", m.parent_service().full_name(), m.name())
}

/// Programs' compiled `.proto` files: every VU of a run loads the same files in its init
/// context, and compiling them once per process is enough (the files are the program's, read
/// once). An entry is valid while its program lives.
struct Compiled {
    program: Weak<Program>,
    import_paths: Vec<String>,
    files: Vec<String>,
    set: prost_types::FileDescriptorSet,
}

/// At most this many compilations are remembered (a process runs one program at a time).
const COMPILED_KEPT: usize = 32;

static COMPILED: Mutex<Vec<Compiled>> = Mutex::new(Vec::new());

/// The descriptors of `files` and their imports, compiled or remembered.
fn compiled(
    program: &Arc<Program>,
    import_paths: &[String],
    files: &[String],
) -> Result<prost_types::FileDescriptorSet, LoadError> {
    {
        let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|c| c.program.strong_count() > 0);
        let hit = cache.iter().find(|c| {
            c.import_paths == import_paths
                && c.files == files
                && c.program
                    .upgrade()
                    .is_some_and(|p| Arc::ptr_eq(&p, program))
        });
        if let Some(c) = hit {
            return Ok(c.set.clone());
        }
    }
    let mut chain = ChainFileResolver::new();
    chain.add(SandboxResolver {
        program: program.clone(),
        import_paths: import_paths.to_vec(),
    });
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true);
    for f in files {
        compiler
            .open_file(f)
            .map_err(|e| LoadError::Compile(compile_error_text(f, &e)))?;
    }
    let set = compiler.file_descriptor_set();
    let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= COMPILED_KEPT {
        cache.remove(0);
    }
    cache.push(Compiled {
        program: Arc::downgrade(program),
        import_paths: import_paths.to_vec(),
        files: files.to_vec(),
        set: set.clone(),
    });
    Ok(set)
}

/// The name protox gives a file opened by the path `f` (`./a/b.proto` → `a/b.proto`).
fn file_name(f: &str) -> String {
    let p = Path::new(f);
    if p.is_absolute() {
        return f.to_owned();
    }
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A protox error in one line, as k6 words them: `file:line:col: message` where the error has
/// a place, else naming the file the script asked for.
fn compile_error_text(file: &str, e: &protox::Error) -> String {
    use miette::Diagnostic;
    let text = e.to_string();
    let name = e.file().unwrap_or(file);
    let place = e.labels().and_then(|mut l| l.next()).and_then(|label| {
        let contents = e.source_code()?.read_span(label.inner(), 0, 0).ok()?;
        Some((contents.line() + 1, contents.column() + 1))
    });
    match place {
        Some((line, col)) => format!("{name}:{line}:{col}: {text}"),
        None if text.contains(name) => text,
        None => format!("{name}: {text}"),
    }
}

/// Finds `.proto` files in the import paths through the program's sandboxed `open()`.
struct SandboxResolver {
    program: Arc<Program>,
    import_paths: Vec<String>,
}

impl FileResolver for SandboxResolver {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        // An absolute path is its own name (on an agent, `open_file` refuses it).
        path.is_absolute()
            .then(|| path.to_string_lossy().into_owned())
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let candidates: Vec<String> =
            if Path::new(name).is_absolute() || self.import_paths.is_empty() {
                vec![name.to_owned()]
            } else {
                self.import_paths
                    .iter()
                    .map(|dir| {
                        if dir.is_empty() || dir == "." {
                            name.to_owned()
                        } else {
                            format!("{}/{name}", dir.trim_end_matches('/'))
                        }
                    })
                    .collect()
            };
        let mut first_missing = None;
        for spec in candidates {
            let path = self
                .program
                .resolve_open_path(&spec)
                .map_err(protox::Error::new)?;
            match self.program.open_file(&path) {
                Ok(data) => {
                    let source = std::str::from_utf8(&data).map_err(|_| {
                        protox::Error::new(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("{} is not UTF-8 text", path.display()),
                        ))
                    })?;
                    return File::from_source(name, source);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
                    ) =>
                {
                    first_missing.get_or_insert(path);
                }
                Err(e) => {
                    return Err(protox::Error::new(std::io::Error::new(
                        e.kind(),
                        format!("open {}: {e}", path.display()),
                    )))
                }
            }
        }
        // Go's words, as k6 says it: the first place looked at.
        Err(match first_missing {
            // Well-known types not found here come from protox's own copies, next.
            Some(_) if name.starts_with("google/protobuf/") => protox::Error::file_not_found(name),
            Some(p) => protox::Error::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("stat {}: no such file or directory", p.display()),
            )),
            None => protox::Error::file_not_found(name),
        })
    }
}
