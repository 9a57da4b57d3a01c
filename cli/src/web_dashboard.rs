//! `volley run --web-dashboard` and k6's `K6_WEB_DASHBOARD*` variables (docs/dashboard.md#a-local-run):
//! the cluster dashboard's run page for a local run, served by a controller of its own inside
//! the process ([`volley_controller::local_dashboard`]) that the run streams into, and the
//! self-contained HTML report written at the end.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use volley_agent::output::cloud::CloudStream;
use volley_controller::local_dashboard::LocalDashboard;

/// k6's port for the dashboard.
pub const DEFAULT_PORT: u16 = 5665;
/// How long the end of the run waits so that open pages get the run's final figures (their
/// streams look for changes once a second).
const LAST_UPDATE: Duration = Duration::from_millis(1500);
/// How long the end of the run waits for the dashboard to record that the run ended.
const END_WITHIN: Duration = Duration::from_secs(5);

/// What the flags and `K6_WEB_DASHBOARD*` ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where to serve; `None` for `K6_WEB_DASHBOARD_PORT=-1` (no page, only the report).
    pub addr: Option<SocketAddr>,
    /// Open the page in a browser (`K6_WEB_DASHBOARD_OPEN=true`).
    pub open: bool,
    /// Write the HTML report here at the end.
    pub export: Option<PathBuf>,
}

/// k6's booleans: `true` or `false`, nothing else.
fn boolean(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("invalid {name}={other:?}: give true or false")),
    }
}

impl Settings {
    /// Reads `--web-dashboard` (or `--out web-dashboard`), `--web-dashboard-export` and the
    /// variables `get` returns (the process environment). `None`: no dashboard.
    pub fn read(
        flag: bool,
        export_flag: Option<PathBuf>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, String> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let enabled = match var("K6_WEB_DASHBOARD") {
            Some(v) => boolean("K6_WEB_DASHBOARD", &v)?,
            None => false,
        };
        let flag_export = export_flag.is_some();
        let export = export_flag.or_else(|| var("K6_WEB_DASHBOARD_EXPORT").map(PathBuf::from));
        if !(flag || enabled || flag_export) {
            if export.is_some() {
                volley_agent::console::log(
                    "warning",
                    "K6_WEB_DASHBOARD_EXPORT is set but the web dashboard is off, so no report is written; set K6_WEB_DASHBOARD=true or pass --web-dashboard",
                    &[],
                );
            }
            return Ok(None);
        }
        if let Some(period) = var("K6_WEB_DASHBOARD_PERIOD") {
            // Accepted for k6's scripts; the page is updated every second whatever it says.
            volley_common::duration::parse_duration(&period).map_err(|e| {
                format!(
                    "invalid K6_WEB_DASHBOARD_PERIOD={period:?}: {e}; give a duration such as 10s"
                )
            })?;
        }
        let open = match var("K6_WEB_DASHBOARD_OPEN") {
            Some(v) => boolean("K6_WEB_DASHBOARD_OPEN", &v)?,
            None => false,
        };
        let port: i64 = match var("K6_WEB_DASHBOARD_PORT") {
            Some(v) => v.parse().map_err(|_| {
                format!("invalid K6_WEB_DASHBOARD_PORT={v:?}: give a port number (5665 by default; -1 for no page, only the report)")
            })?,
            None => DEFAULT_PORT.into(),
        };
        let host = var("K6_WEB_DASHBOARD_HOST").unwrap_or_else(|| "127.0.0.1".into());
        let addr = match port {
            -1 => None,
            p if (0..=65535).contains(&p) => Some(resolve(&host, p as u16)?),
            p => {
                return Err(format!(
                    "invalid K6_WEB_DASHBOARD_PORT={p}: give a port from 0 to 65535 (or -1 for no page, only the report)"
                ))
            }
        };
        Ok(Some(Settings { addr, open, export }))
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            format!("invalid K6_WEB_DASHBOARD_HOST={host:?}: give an address such as 127.0.0.1 or 0.0.0.0, or a name this machine resolves")
        })
}

/// The dashboard of this run: its controller and the stream into it.
pub struct WebDashboard {
    local: LocalDashboard,
    stream: Arc<CloudStream>,
    /// Whether a page is served (not for `K6_WEB_DASHBOARD_PORT=-1`).
    shown: bool,
    open: bool,
    export: Option<PathBuf>,
}

impl WebDashboard {
    /// Starts the dashboard's controller (an address in use is an error naming the variable to
    /// change) and the stream the run feeds it through.
    pub fn start(s: Settings) -> Result<Arc<WebDashboard>, String> {
        let asked = s
            .addr
            .unwrap_or(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0));
        let local = LocalDashboard::start(asked).map_err(|e| {
            format!("cannot start the web dashboard: {e}; set K6_WEB_DASHBOARD_PORT to a free port (or K6_WEB_DASHBOARD_HOST to another address)")
        })?;
        if let Some(addr) = s.addr.filter(|a| !a.ip().is_loopback()) {
            volley_agent::console::log(
                "warning",
                &format!("the web dashboard on {addr} is open to anyone who can reach it: they can read the run, its script, and stop it"),
                &[],
            );
        }
        let url = format!("http://{}", reachable(local.addr()));
        let stream = Arc::new(CloudStream::to_dashboard(&url)?);
        Ok(Arc::new(WebDashboard {
            local,
            stream,
            shown: s.addr.is_some(),
            open: s.open,
            export: s.export,
        }))
    }

    /// The stream the run sends its results through.
    pub fn stream(&self) -> Arc<CloudStream> {
        self.stream.clone()
    }

    /// The run's page (once the run exists there): what the banner shows and a browser opens.
    pub fn url(&self) -> Option<String> {
        if !self.shown {
            return None;
        }
        let base = format!("http://{}", reachable(self.local.addr()));
        Some(match self.stream.run_id() {
            Some(id) => format!("{base}/#/runs/{id}"),
            None => base,
        })
    }

    /// Opens the page in the desktop's browser when `K6_WEB_DASHBOARD_OPEN=true` (a warning if
    /// there is none).
    pub fn open_browser(&self) {
        let (true, Some(url)) = (self.open, self.url()) else {
            return;
        };
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let started = std::process::Command::new(opener)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = started {
            volley_agent::console::log(
                "warning",
                &format!("cannot open a browser ({opener}: {e}); open {url} yourself"),
                &[],
            );
        }
    }

    /// The end of the run: writes the report if one was asked for, and gives open pages a
    /// moment to show the final figures (unless the process lingers, which keeps them up).
    pub fn finish(&self, lingers: bool) {
        let run = self.stream.run_id();
        if let Some(id) = run {
            if !self.local.wait_ended(id, END_WITHIN) {
                volley_agent::console::log(
                    "warning",
                    &format!("the web dashboard did not record the end of the run within {END_WITHIN:?}; it shows the run as it was"),
                    &[],
                );
            }
        }
        if let Some(path) = &self.export {
            match run.and_then(|id| self.local.report(id)) {
                Some(html) => {
                    if let Err(e) = std::fs::write(path, html) {
                        volley_agent::console::log_error(
                            &format!(
                                "cannot write the web dashboard's report to {}: {e}",
                                path.display()
                            ),
                            &[],
                        );
                    }
                }
                None => volley_agent::console::log(
                    "warning",
                    &format!(
                        "no web dashboard report was written to {}: the run ended before it started",
                        path.display()
                    ),
                    &[],
                ),
            }
        }
        if self.shown && !lingers && self.local.open_pages() > 0 {
            std::thread::sleep(LAST_UPDATE);
        }
    }
}

/// An address a browser on this machine can reach the dashboard at (the loopback one when it
/// listens on every address, as k6 prints it).
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(
        flag: bool,
        export: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Result<Option<Settings>, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::read(flag, export.map(PathBuf::from), move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn off_unless_asked_and_k6s_defaults_otherwise() {
        assert_eq!(read(false, None, &[]), Ok(None));
        assert_eq!(
            read(false, None, &[("K6_WEB_DASHBOARD", "false")]),
            Ok(None)
        );
        assert_eq!(
            read(false, None, &[("K6_WEB_DASHBOARD_EXPORT", "r.html")]),
            Ok(None),
            "k6 writes no report without the dashboard"
        );
        let on = Settings {
            addr: Some("127.0.0.1:5665".parse().unwrap()),
            open: false,
            export: None,
        };
        assert_eq!(read(true, None, &[]), Ok(Some(on.clone())));
        assert_eq!(
            read(false, None, &[("K6_WEB_DASHBOARD", "true")]),
            Ok(Some(on.clone()))
        );
        let with_report = read(false, Some("r.html"), &[]).unwrap().unwrap();
        assert_eq!(
            with_report.export,
            Some(PathBuf::from("r.html")),
            "the flag turns it on"
        );
    }

    #[test]
    fn the_variables_set_address_opening_and_report() {
        let s = read(
            false,
            None,
            &[
                ("K6_WEB_DASHBOARD", "true"),
                ("K6_WEB_DASHBOARD_PORT", "7000"),
                ("K6_WEB_DASHBOARD_HOST", "0.0.0.0"),
                ("K6_WEB_DASHBOARD_OPEN", "true"),
                ("K6_WEB_DASHBOARD_PERIOD", "2s"),
                ("K6_WEB_DASHBOARD_EXPORT", "out/report.html"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.addr, Some("0.0.0.0:7000".parse().unwrap()));
        assert!(s.open);
        assert_eq!(s.export, Some(PathBuf::from("out/report.html")));
        let report_only = read(true, None, &[("K6_WEB_DASHBOARD_PORT", "-1")])
            .unwrap()
            .unwrap();
        assert_eq!(report_only.addr, None);
        assert_eq!(
            reachable("0.0.0.0:7000".parse().unwrap()),
            "127.0.0.1:7000".parse().unwrap()
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_the_fix() {
        for (var, value, hint) in [
            ("K6_WEB_DASHBOARD", "1", "true or false"),
            ("K6_WEB_DASHBOARD_PORT", "abc", "port number"),
            ("K6_WEB_DASHBOARD_PORT", "70000", "0 to 65535"),
            ("K6_WEB_DASHBOARD_OPEN", "yes", "true or false"),
            ("K6_WEB_DASHBOARD_PERIOD", "banana", "duration"),
            ("K6_WEB_DASHBOARD_HOST", "no such host.invalid", "address"),
        ] {
            let mut vars = vec![(var, value)];
            if var != "K6_WEB_DASHBOARD" {
                vars.push(("K6_WEB_DASHBOARD", "true"));
            }
            let e = read(false, None, &vars).unwrap_err();
            assert!(e.contains(var) && e.contains(hint), "{var}={value}: {e}");
        }
    }
}
