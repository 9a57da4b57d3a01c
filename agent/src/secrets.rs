//! Secret sources: what `volley run --secret-source` configures and `k6/secrets` reads, as in
//! k6 v1.1.0 (docs/k6-compatibility.md#k6secrets).
//!
//! A source is `TYPE=PARAMS`, PARAMS a comma-separated list: `mock=a=1,b=2` (each `key=value`
//! a secret), `file=PATH` or `file=filename=PATH` (`key=value` lines). Either may add `name=N`
//! (the name `secrets.source(N)` finds) and `default` (the source `secrets.get` reads when
//! there are several). One source alone is the default. The errors are k6's words.
//!
//! The values come from the user's own command line and files, never from the script: a
//! cluster run takes none (docs/security.md#secrets).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A `--secret-source` that k6 would refuse, in k6's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretSourceError(pub String);

/// One configured source.
#[derive(Debug, Clone, Default)]
struct Source {
    /// `name=`; "" when none was given.
    name: String,
    values: HashMap<String, String>,
}

/// The run's secret sources (none by default).
#[derive(Debug, Clone, Default)]
pub struct SecretSources {
    sources: Vec<Source>,
    /// The source `secrets.get` reads: the only one, or the one marked `default`.
    default: Option<usize>,
}

impl SecretSources {
    /// Parses `--secret-source` values in order; `file=` sources are read now, from the path
    /// the user gave (relative to the working directory).
    pub fn parse(specs: &[String]) -> Result<Arc<SecretSources>, SecretSourceError> {
        let mut out = SecretSources::default();
        let mut marked = None;
        for spec in specs {
            let Some((kind, params)) = spec.split_once('=') else {
                return Err(err(format!(
                    "couldn't parse secret source configuration {spec:?}"
                )));
            };
            if kind != "mock" && kind != "file" {
                return Err(err(format!(
                    "no secret source for type {kind:?} for configuration {spec:?}"
                )));
            }
            let mut source = Source::default();
            let mut is_default = false;
            let mut rest = Vec::new();
            let mut path = None;
            for part in params.split(',') {
                if part == "default" {
                    is_default = true;
                    continue;
                }
                if let Some(name) = part.strip_prefix("name=") {
                    source.name = name.to_string();
                    continue;
                }
                rest.push(part);
                if kind == "mock" {
                    let (k, v) = key_value(part)?;
                    source.values.insert(k.to_string(), v.to_string());
                } else {
                    match part.split_once('=') {
                        Some(("filename", p)) => path = Some(p),
                        Some((key, _)) => {
                            return Err(err(format!(
                                "unknown configuration key for file secret source {key:?}"
                            )))
                        }
                        None => path = Some(part),
                    }
                }
            }
            if kind == "file" {
                source.values = read_file(Path::new(path.unwrap_or("")))?;
            }
            if out.sources.iter().any(|s| s.name == source.name) {
                return Err(err(format!(
                    "secret source for name {kind:?} already registered before configuration {spec:?}"
                )));
            }
            if is_default {
                if marked.is_some() {
                    return Err(err(format!(
                        "can't have two secret sources that are default ones, second one was {:?}",
                        rest.join(",")
                    )));
                }
                marked = Some(out.sources.len());
            }
            out.sources.push(source);
        }
        out.default = match out.sources.len() {
            1 => Some(0),
            _ => marked.or_else(|| out.sources.iter().position(|s| s.name == "default")),
        };
        Ok(Arc::new(out))
    }

    /// Whether no source is configured.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The value of secret `key` in source `source` (the default one when `None`), or the
    /// text k6 rejects the promise with.
    pub fn get(&self, source: Option<&str>, key: &str) -> Result<&str, String> {
        if self.sources.is_empty() {
            return Err("no secret sources are configured".into());
        }
        let found = match source {
            None | Some("default") => self.default.map(|i| &self.sources[i]),
            Some(name) => self.sources.iter().find(|s| s.name == name),
        };
        let Some(found) = found else {
            let name = source.unwrap_or("default");
            return Err(format!("no secret source with name {name:?} is configured"));
        };
        found
            .values
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| "no value".to_string())
    }
}

fn err(msg: String) -> SecretSourceError {
    SecretSourceError(msg)
}

/// A `key=value` secret (the value may hold `=`).
fn key_value(part: &str) -> Result<(&str, &str), SecretSourceError> {
    part.split_once('=')
        .ok_or_else(|| err(format!("parsing {part:?}, needs =")))
}

/// A file source's secrets: one `key=value` a line (a `\r` before the newline dropped, the
/// last of a repeated key kept). An empty line is an error, as in k6.
fn read_file(path: &Path) -> Result<HashMap<String, String>, SecretSourceError> {
    let shown = path.display();
    if path.is_dir() {
        // k6 v1.1.0 opens a folder and finds no secrets in it.
        return Ok(HashMap::new());
    }
    let text = std::fs::read(path).map_err(|e| err(format!("open {shown}: {}", go_io(&e))))?;
    let text = String::from_utf8_lossy(&text);
    let mut values = HashMap::new();
    for line in text.split_terminator('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (k, v) = key_value(line)?;
        values.insert(k.to_string(), v.to_string());
    }
    Ok(values)
}

/// An IO error as Go's `os` package words it.
fn go_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(specs: &[&str]) -> Result<Arc<SecretSources>, String> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        SecretSources::parse(&specs).map_err(|e| e.0)
    }

    /// k6 v1.1.0's answers for each spec (docs/k6-compatibility.md#k6secrets).
    #[test]
    fn specs_and_lookups_behave_as_in_k6() {
        let none = parse(&[]).unwrap();
        assert_eq!(
            none.get(None, "a").unwrap_err(),
            "no secret sources are configured"
        );
        assert_eq!(
            none.get(Some("x"), "a").unwrap_err(),
            "no secret sources are configured"
        );

        let one = parse(&["mock=a=1,b=x=y,a=3"]).unwrap();
        assert_eq!(one.get(None, "a"), Ok("3"));
        assert_eq!(one.get(Some("default"), "b"), Ok("x=y"));
        assert_eq!(one.get(None, "c").unwrap_err(), "no value");
        assert_eq!(
            one.get(Some("mock"), "a").unwrap_err(),
            "no secret source with name \"mock\" is configured"
        );

        let named = parse(&["mock=name=s1,a=1", "mock=name=s2,a=2"]).unwrap();
        assert_eq!(named.get(Some("s2"), "a"), Ok("2"));
        assert_eq!(
            named.get(None, "a").unwrap_err(),
            "no secret source with name \"default\" is configured"
        );
        let marked = parse(&["mock=name=s1,a=1", "mock=name=s2,default,a=2"]).unwrap();
        assert_eq!(marked.get(None, "a"), Ok("2"));
        assert_eq!(marked.get(Some("s1"), "a"), Ok("1"));
        let by_name = parse(&["mock=name=x,a=1", "mock=name=default,a=2"]).unwrap();
        assert_eq!(by_name.get(None, "a"), Ok("2"));

        for (specs, want) in [
            (
                &["mock"][..],
                "couldn't parse secret source configuration \"mock\"",
            ),
            (
                &["bogus=a=1"][..],
                "no secret source for type \"bogus\" for configuration \"bogus=a=1\"",
            ),
            (&["mock="][..], "parsing \"\", needs ="),
            (&["mock=a=1,zz"][..], "parsing \"zz\", needs ="),
            (&["file="][..], "open : no such file or directory"),
            (
                &["file=name=s1,path=x"][..],
                "unknown configuration key for file secret source \"path\"",
            ),
            (
                &["mock=a=1", "file=/dev/null"][..],
                "secret source for name \"file\" already registered before configuration \
                 \"file=/dev/null\"",
            ),
            (
                &["mock=default,a=1", "mock=default,name=s2,a=2"][..],
                "can't have two secret sources that are default ones, second one was \"a=2\"",
            ),
        ] {
            assert_eq!(parse(specs).unwrap_err(), want, "{specs:?}");
        }
    }

    #[test]
    fn a_file_source_reads_key_value_lines() {
        let dir = std::env::temp_dir().join(format!("volley-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s.txt");
        std::fs::write(&f, "a=hello\r\nb=x=y\n# c=z\na=again\n").unwrap();
        let plain = format!("file={}", f.display());
        let s = parse(&[plain.as_str()]).unwrap();
        assert_eq!(s.get(None, "a"), Ok("again"));
        assert_eq!(s.get(None, "b"), Ok("x=y"));
        assert_eq!(s.get(None, "# c"), Ok("z"));
        let named = format!("file=filename={},name=f", f.display());
        let s = parse(&[named.as_str(), "mock=name=m,a=1,default"]).unwrap();
        assert_eq!(s.get(Some("f"), "a"), Ok("again"));
        assert_eq!(s.get(None, "a"), Ok("1"));
        std::fs::write(&f, "a=1\n\n").unwrap();
        assert_eq!(
            parse(&[plain.as_str()]).unwrap_err(),
            "parsing \"\", needs ="
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
