//! Module specifiers to module names, the same way for the first init, the VUs and `require()`.
//!
//! A module's name is what the loader keys it by: a k6 module's specifier (`k6/http`), a local
//! file's absolute path, or a remote module's URL. Relative specifiers resolve against the
//! importing module's name, so a remote module's own relative imports stay remote.

use std::path::Path;

use super::super::modules;
use crate::program::normalize;

/// Whether a module name is a remote module's URL.
pub fn is_remote(name: &str) -> bool {
    name.starts_with("https://") || name.starts_with("http://")
}

/// Resolves `name` as imported (or required) from the module `base`.
pub fn resolve_specifier(base: &str, name: &str) -> Result<String, String> {
    if let Some(found) = modules::find(name) {
        return found.map(|m| m.name.to_string());
    }
    if is_remote(name) {
        return url::Url::parse(name)
            .map(|u| u.to_string())
            .map_err(|e| format!("remote module \"{name}\" has an invalid URL: {e}"));
    }
    let relative = name.starts_with("./") || name.starts_with("../");
    if is_remote(base) && (relative || name.starts_with('/')) {
        let joined = url::Url::parse(base)
            .and_then(|b| b.join(name))
            .map_err(|e| format!("cannot resolve \"{name}\" against {base}: {e}"))?;
        return Ok(joined.to_string());
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
        "module \"{name}\" not found: Volley resolves the k6 modules, local files imported with a \
         relative path (./{name}.js) and remote modules by URL (https://…); node_modules and \
         bare package names are not supported — bundle the package into one file (esbuild, \
         webpack) and import that"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_builtins_locals_and_remotes() {
        assert_eq!(resolve_specifier("/a/b.js", "k6/http").unwrap(), "k6/http");
        assert_eq!(
            resolve_specifier("/a/b/main.js", "./lib/x.js").unwrap(),
            "/a/b/lib/x.js"
        );
        assert_eq!(
            resolve_specifier("/a/b/main.js", "../x.ts").unwrap(),
            "/a/x.ts"
        );
        assert_eq!(
            resolve_specifier("/a.js", "file:///b/c.js").unwrap(),
            "/b/c.js"
        );
        assert_eq!(
            resolve_specifier("/a.js", "https://jslib.k6.io/k6-utils/1.4.0/index.js").unwrap(),
            "https://jslib.k6.io/k6-utils/1.4.0/index.js"
        );
        // A remote module's relative imports are remote too.
        let base = "https://example.com/lib/v1/index.js";
        assert_eq!(
            resolve_specifier(base, "./util.js").unwrap(),
            "https://example.com/lib/v1/util.js"
        );
        assert_eq!(
            resolve_specifier(base, "../v2/x.js").unwrap(),
            "https://example.com/lib/v2/x.js"
        );
        assert_eq!(
            resolve_specifier(base, "/root.js").unwrap(),
            "https://example.com/root.js"
        );
        assert_eq!(
            resolve_specifier(base, "k6/http").unwrap(),
            "k6/http",
            "k6 modules stay k6 modules"
        );
    }

    #[test]
    fn refuses_the_rest_saying_why() {
        let e = resolve_specifier("/a.js", "k6/experimental/redis").unwrap_err();
        assert!(
            e.contains("k6/experimental/redis") && e.contains("does not support"),
            "{e}"
        );
        let e = resolve_specifier("/a.js", "k6/nope").unwrap_err();
        assert!(e.contains("k6/nope"), "{e}");
        let e = resolve_specifier("/a.js", "lodash").unwrap_err();
        assert!(e.contains("\"lodash\"") && e.contains("bundle"), "{e}");
        let e = resolve_specifier("/a.js", "https://exa mple.com/x.js").unwrap_err();
        assert!(e.contains("invalid URL"), "{e}");
    }
}
