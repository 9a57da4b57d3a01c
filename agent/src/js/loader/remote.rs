//! Where remote modules (`https://…`, `http://…` imports) come from. The engine never downloads
//! anything itself: whoever starts a run says where remote sources come from. `volley run` and
//! `volley archive` pass a fetcher (the CLI's, which caches on disk); an agent passes the modules
//! its archive carries and nothing else, so an agent never touches the network for code.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A source of remote modules.
pub trait RemoteModules: Send + Sync {
    /// The source of the module at `url`, or a message that names the URL and says what to do.
    fn fetch(&self, url: &str) -> Result<String, String>;
}

/// The remote modules a run may load (cheap to clone). The default refuses every URL.
#[derive(Clone)]
pub struct RemoteSource(pub Arc<dyn RemoteModules>);

impl Default for RemoteSource {
    fn default() -> Self {
        RemoteSource(Arc::new(Bundled::default()))
    }
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteSource")
    }
}

impl RemoteSource {
    pub fn fetch(&self, url: &str) -> Result<String, String> {
        self.0.fetch(url)
    }

    /// Only these modules (an archive's), never the network.
    pub fn bundled(modules: BTreeMap<String, String>) -> Self {
        RemoteSource(Arc::new(Bundled(modules)))
    }
}

/// Remote modules carried by an archive; any other URL is refused.
#[derive(Default)]
pub struct Bundled(pub BTreeMap<String, String>);

impl RemoteModules for Bundled {
    fn fetch(&self, url: &str) -> Result<String, String> {
        self.0.get(url).cloned().ok_or_else(|| {
            format!(
                "remote module {url} is not in the test's archive, and this process does not \
                 download modules; build the archive with `volley archive` or `volley submit`, \
                 which fetch the remote modules a script imports and bundle them"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_serves_only_what_it_carries() {
        let src = RemoteSource::bundled(BTreeMap::from([(
            "https://a.example/x.js".to_string(),
            "export const x = 1;".to_string(),
        )]));
        assert_eq!(
            src.fetch("https://a.example/x.js").unwrap(),
            "export const x = 1;"
        );
        let e = src.fetch("https://a.example/y.js").unwrap_err();
        assert!(
            e.contains("https://a.example/y.js") && e.contains("does not download"),
            "{e}"
        );
        assert!(RemoteSource::default()
            .fetch("https://a.example/x.js")
            .is_err());
    }
}
