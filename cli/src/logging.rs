//! One `tracing` subscriber for every subcommand, writing k6-style lines on stderr
//! (`time="…" level=warning msg="…" key=value`, the format `console.*` and the CLI's own errors
//! use), so the library crates' `tracing` events reach the user: an agent's reconnect warnings,
//! the controller's agent registrations, k6's "Stopped after N redirects" warning in a local run.
//!
//! Levels by default: `info` for the long-running processes (controller, agent, cluster up,
//! target), `warn` for `volley run` and the client commands. `VOLLEY_LOG` overrides it with a
//! `tracing` filter (e.g. `VOLLEY_LOG=debug`, `VOLLEY_LOG=volley_controller=debug,info`).
//! The HTTP and gRPC libraries stay at `warn` unless `VOLLEY_LOG` names them.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The libraries whose own events are noise at `info`.
const QUIET: [&str; 5] = ["hyper", "h2", "tonic", "tower", "rustls"];

/// Installs the subscriber; `default_level` applies when `VOLLEY_LOG` is unset.
pub fn init(default_level: Level) {
    let filter = match std::env::var("VOLLEY_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            volley_agent::console::log(
                "warning",
                &format!("invalid VOLLEY_LOG {spec:?}: {e}; using the default level"),
                &[],
            );
            default_filter(default_level)
        }),
        _ => default_filter(default_level),
    };
    let _ = tracing_subscriber::registry()
        .with(K6Lines.with_filter(filter))
        .try_init();
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
