//! The compiled test program: the entry module, every local module it imports (as QuickJS
//! bytecode and as source) and every file it `open()`s.
//!
//! A test script is compiled **once**, during the first init (which also reads `options`), so
//! that VUs never touch the disk and the program can be bundled into an archive. Each VU loads
//! the bytecode into its own context (see [`crate::js`]). This module is plain data: the run
//! state holds it, and the JS side fills and reads it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::sandbox::{FileScope, SandboxError};

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
    /// Which files `open()` and `import` may read.
    scope: FileScope,
}

impl Program {
    /// The bytecode of a local module, by name (absolute path).
    pub fn bytecode(&self, name: &str) -> Option<&[u8]> {
        self.bytecode.get(name).map(Vec::as_slice)
    }

    /// Which files `open()` and `import` may read.
    pub fn scope(&self) -> &FileScope {
        &self.scope
    }

    /// Reads a file for `open()` (a path from [`Program::resolve_open_path`]): from the
    /// captured set, or from disk (then captured), within the program's [`FileScope`].
    pub fn open_file(&self, path: &Path) -> std::io::Result<Arc<Vec<u8>>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = files.get(path) {
            return Ok(f.clone());
        }
        const MAX_OPEN_BYTES: u64 = 512 * 1024 * 1024;
        let real = self.scope.real_path(&path.to_string_lossy(), path)?;
        let meta = std::fs::metadata(&real)?;
        if meta.len() > MAX_OPEN_BYTES {
            return Err(std::io::Error::other(format!(
                "{} is {} bytes; open() reads at most {MAX_OPEN_BYTES} bytes",
                path.display(),
                meta.len()
            )));
        }
        let data = Arc::new(std::fs::read(&real)?);
        files.insert(path.to_path_buf(), data.clone());
        Ok(data)
    }

    /// The files opened so far (for archives and reporting).
    pub fn opened_files(&self) -> Vec<PathBuf> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.keys().cloned().collect()
    }

    /// Resolves a path given to `open()`: relative paths are relative to the entry script's
    /// folder. On an agent, a path outside the run's archive is refused.
    pub fn resolve_open_path(&self, spec: &str) -> Result<PathBuf, SandboxError> {
        let p = spec.strip_prefix("file://").unwrap_or(spec);
        let path = Path::new(p);
        let resolved = if path.is_absolute() {
            normalize(path)
        } else {
            normalize(&self.script_dir().join(path))
        };
        self.scope.check_spec(spec, &resolved)?;
        Ok(resolved)
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
    scope: FileScope,
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
            scope: FileScope::Host,
        })
    }

    /// Restricts the program's files to `scope` (an agent: the run's archive).
    pub fn scoped(mut self, scope: FileScope) -> Self {
        self.scope = scope;
        self
    }

    pub fn scope(&self) -> &FileScope {
        &self.scope
    }

    pub fn entry(&self) -> String {
        self.script_path.to_string_lossy().into_owned()
    }

    /// Records a local module the first init compiled.
    pub fn record(&mut self, name: &str, bytecode: Vec<u8>, source: String) {
        self.bytecode.insert(name.to_string(), bytecode);
        self.sources.insert(name.to_string(), source);
    }

    pub fn finish(self, files: BTreeMap<PathBuf, Arc<Vec<u8>>>) -> Program {
        Program {
            entry: self.script_path.to_string_lossy().into_owned(),
            script_path: self.script_path,
            bytecode: self.bytecode,
            sources: self.sources,
            files: Mutex::new(files),
            scope: self.scope,
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
