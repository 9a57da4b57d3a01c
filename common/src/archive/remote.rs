//! Remote modules in an archive: the `https://…` and `http://…` modules a test imports, fetched
//! once by the CLI that builds the archive, so that agents never download anything.
//!
//! Each source is a file under `files/.volley-remote/` named by a digest of its URL (URLs can hold
//! anything a path cannot), and `metadata.json`'s `remote_modules` maps every URL to its file.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use super::{Archive, ArchiveError, MAX_ARCHIVE_BYTES, MAX_FILES};

/// The folder (inside `files/`) that holds remote modules' sources.
pub const REMOTE_DIR: &str = ".volley-remote";

/// The archive path of the remote module at `url`.
pub fn path_for(url: &str) -> String {
    let digest = Md5::digest(url.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{REMOTE_DIR}/{hex}.js")
}

impl Archive {
    /// Adds remote modules (URL → source) to the archive, checking the archive's limits again.
    pub fn add_remote_modules(
        &mut self,
        modules: &BTreeMap<String, String>,
    ) -> Result<(), ArchiveError> {
        for (url, source) in modules {
            let path = path_for(url);
            if let Some(existing) = self.files.get(&path) {
                if existing != source.as_bytes() {
                    return Err(ArchiveError::Conflict { path });
                }
            }
            self.files.insert(path.clone(), source.as_bytes().to_vec());
            self.metadata.remote_modules.insert(url.clone(), path);
        }
        if self.files.len() > MAX_FILES {
            return Err(ArchiveError::TooManyFiles {
                count: self.files.len(),
            });
        }
        let total: u64 = self.files.values().map(|d| d.len() as u64).sum();
        if total > MAX_ARCHIVE_BYTES {
            return Err(ArchiveError::TooLarge {
                size: total,
                largest: super::largest_files(
                    self.files.iter().map(|(p, d)| (p.as_str(), d.len())),
                ),
            });
        }
        self.validate()
    }

    /// The remote modules the archive carries, by URL.
    pub fn remote_sources(&self) -> BTreeMap<String, String> {
        self.metadata
            .remote_modules
            .iter()
            .filter_map(|(url, path)| Some((url.clone(), self.source(path)?.to_string())))
            .collect()
    }
}

/// Every `remote_modules` entry is an http(s) URL whose file is in the archive as UTF-8 text.
pub(super) fn validate(archive: &Archive) -> Result<(), ArchiveError> {
    for (url, path) in &archive.metadata.remote_modules {
        let invalid = |reason| ArchiveError::InvalidRemoteModule {
            url: url.clone(),
            reason,
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(invalid("it is not an https:// or http:// URL"));
        }
        if *path != path_for(url) {
            return Err(invalid("its file is not where this Volley puts it"));
        }
        match archive.files.get(path) {
            None => return Err(invalid("its file is not in the archive")),
            Some(data) if std::str::from_utf8(data).is_err() => {
                return Err(invalid("its source is not UTF-8 text"))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;

    fn archive() -> Archive {
        Archive::from_paths(
            &PathBuf::from("/t/script.js"),
            &[(PathBuf::from("/t/script.js"), "export default 1".into())],
            &[],
            json!({}),
            BTreeMap::new(),
        )
        .expect("archive")
    }

    #[test]
    fn remote_modules_round_trip_and_are_found_by_url() {
        let mut a = archive();
        let url = "https://jslib.example/lib/1.0.0/index.js?x=1".to_string();
        let remote = BTreeMap::from([(url.clone(), "export const x = 1;".to_string())]);
        a.add_remote_modules(&remote).expect("add");
        let back = Archive::from_tar(&a.to_tar().expect("tar")).expect("read");
        assert_eq!(back.remote_sources(), remote);
        let path = &back.metadata.remote_modules[&url];
        assert!(
            path.starts_with(".volley-remote/") && path.ends_with(".js"),
            "{path}"
        );
        // Archives without remote modules keep metadata.json as it was.
        let plain = String::from_utf8(archive().to_tar().expect("tar")).unwrap_or_default();
        assert!(!plain.contains("remote_modules"));
    }

    #[test]
    fn bad_remote_entries_are_refused() {
        let mut a = archive();
        a.metadata
            .remote_modules
            .insert("ftp://x/y.js".into(), path_for("ftp://x/y.js"));
        let e = a.validate().unwrap_err().to_string();
        assert!(
            e.contains("ftp://x/y.js") && e.contains("not an https://"),
            "{e}"
        );

        let mut a = archive();
        let url = "https://x/y.js";
        a.metadata.remote_modules.insert(url.into(), path_for(url));
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("not in the archive"), "{e}");

        let mut a = archive();
        a.metadata
            .remote_modules
            .insert(url.into(), "script.js".into());
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("not where"), "{e}");
    }
}
