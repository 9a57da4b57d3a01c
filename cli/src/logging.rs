//! One `tracing` subscriber for every subcommand, writing k6-style lines on stderr through
//! `volley_agent::console` (the writer `console.*` and the CLI's own errors use too), so the
//! library crates' `tracing` events reach the user: an agent's reconnect warnings, the
//! controller's agent registrations, k6's "Stopped after N redirects" warning in a local run.
//!
//! `--log-format` (every subcommand): `text` is k6's `time="…" level=warning msg="…" key=value`,
//! in k6's coloured terminal form (`WARN[0002] msg…  key=value`) when stderr is a terminal and
//! neither `NO_COLOR` nor `K6_NO_COLOR` is set, as `k6 run` prints it; `json` one JSON object a
//! line (logrus's keys: `level`, `msg`, the fields, `time`); `raw` the message alone.
//!
//! Levels by default: `info` for the long-running processes (controller, agent, cluster up,
//! target), `warn` for `volley run` and the client commands. `--log-level`, else `VOLLEY_LOG`,
//! else `RUST_LOG` overrides it with a level or a `tracing` filter (e.g. `debug`,
//! `volley_controller=debug,info`). The HTTP and gRPC libraries stay at `warn` unless the
//! filter names them.

use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use volley_agent::console::LogFormat;

/// The libraries whose own events are noise at `info`.
const QUIET: [&str; 5] = ["hyper", "h2", "tonic", "tower", "rustls"];

/// The log flags every subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct LogFlags {
    /// Log lines on stderr: text (k6's `time=… level=… msg=…`; k6's coloured `INFO[0001] …`
    /// lines on a terminal), json (one object a line) or raw (the message alone).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "VOLLEY_LOG_FORMAT"
    )]
    pub log_format: FormatFlag,
    /// The least severe level logged: error, warn, info, debug or trace, or a tracing filter
    /// such as `volley_controller=debug,info`. Beats VOLLEY_LOG and RUST_LOG.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatFlag {
    Text,
    Json,
    Raw,
}

/// Installs the subscriber; `default_level` applies when neither `--log-level`, `VOLLEY_LOG`
/// nor `RUST_LOG` says otherwise. `Err`: an invalid `--log-level`, in words naming the fix.
pub fn init(default_level: Level, flags: &LogFlags) -> Result<(), String> {
    let format = match flags.log_format {
        FormatFlag::Text => LogFormat::Text,
        FormatFlag::Json => LogFormat::Json,
        FormatFlag::Raw => LogFormat::Raw,
    };
    let human = std::io::stderr().is_terminal() && !crate::run_view::no_color_env();
    volley_agent::console::set_format(format, human);
    // Log lines go above a live progress block, never through it.
    volley_agent::console::set_around_write(crate::progress::above_dyn);
    let filter = match flags.log_level.as_deref() {
        Some(spec) => filter_of(spec).map_err(|e| {
            format!(
                "invalid --log-level {spec:?}: {e}; use error, warn, info, debug or trace, or a tracing filter such as volley_controller=debug,info"
            )
        })?,
        None => from_env(default_level),
    };
    let _ = tracing_subscriber::registry()
        .with(K6Lines.with_filter(filter))
        .try_init();
    Ok(())
}

/// `VOLLEY_LOG`, else `RUST_LOG`, else the default; an invalid variable is warned about.
fn from_env(default_level: Level) -> EnvFilter {
    for var in ["VOLLEY_LOG", "RUST_LOG"] {
        match std::env::var(var) {
            Ok(spec) if !spec.trim().is_empty() => match filter_of(&spec) {
                Ok(f) => return f,
                Err(e) => {
                    volley_agent::console::log(
                        "warning",
                        &format!("invalid {var} {spec:?}: {e}; using the default level"),
                        &[],
                    );
                    return default_filter(default_level);
                }
            },
            _ => {}
        }
    }
    default_filter(default_level)
}

/// A filter from a level (`warn`, with the noisy libraries kept at `warn`) or a full
/// `tracing` filter spec (which says for itself what it wants of them).
fn filter_of(spec: &str) -> Result<EnvFilter, String> {
    let spec = spec.trim();
    let level = match spec.to_ascii_lowercase().as_str() {
        "warning" => Some(Level::WARN),
        other => other.parse::<Level>().ok(),
    };
    match level {
        Some(level) => Ok(default_filter(level)),
        None if spec.contains('=') || spec.contains(',') => {
            EnvFilter::try_new(spec).map_err(|e| e.to_string())
        }
        None => Err("not a level".into()),
    }
}

fn default_filter(level: Level) -> EnvFilter {
    let mut spec = level.as_str().to_ascii_lowercase();
    for lib in QUIET {
        spec.push_str(&format!(",{lib}=warn"));
    }
    EnvFilter::new(spec)
}

/// Writes each event as one k6-style line.
struct K6Lines;

impl<S: Subscriber> Layer<S> for K6Lines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let pairs: Vec<(&str, &str)> = fields.rest.iter().map(|(k, v)| (*k, v.as_str())).collect();
        volley_agent::console::log(level, &fields.message, &pairs);
    }
}

/// An event's `message` and its other fields, as text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest.push((field.name(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push((field.name(), format!("{value:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_filters_are_read_and_nonsense_is_refused() {
        for spec in ["debug", "WARN", "warning", " error ", "trace"] {
            assert!(filter_of(spec).is_ok(), "{spec}");
        }
        assert!(filter_of("volley_controller=debug,info").is_ok());
        assert_eq!(filter_of("loud").unwrap_err(), "not a level");
        assert!(filter_of("a=b=c").is_err());
    }
}
