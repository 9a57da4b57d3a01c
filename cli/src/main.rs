//! `volley`: one binary for running k6 scripts locally (`volley run`), serving a local test
//! target (`volley target`), and the cluster: `controller`, `agent`, `submit`, `runs`, `status`,
//! `stop`, `agents`, `tokens`, `cluster up`, `cluster down`. See ARCHITECTURE.md for the map of
//! the crates.

mod allocator;
mod certs;
mod cluster;
mod cluster_down;
mod cluster_group;
mod cluster_up;
mod config_file;
mod controllers;
mod follow;
mod logging;
mod option_flags;
mod progress;
mod remote_modules;
mod run;
mod run_view;
mod runs;
mod signals;
mod submit;
mod target;
mod tokens;
mod web_dashboard;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// mimalloc instead of glibc's malloc: request buffers are allocated on a JS worker and freed on
/// an IO thread (and back), which glibc serves through its slow cross-arena paths. Measured
/// (callgrind, `http.get` + `check`): 12 % fewer instructions per iteration. QuickJS keeps its
/// own allocator. `.cargo/config.toml` builds it with arenas committed as used, not up front
/// (eager commit cost 1,000 mostly idle VUs 21 KiB of peak RSS each); `allocator.rs` sets the
/// rest of its options that Volley changes.
/// `volley version` and `volley --version`: the version, the commit it was built from, the
/// QuickJS it embeds and the platform (set by build.rs).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit/",
    env!("VOLLEY_COMMIT"),
    ", quickjs-ng ",
    env!("VOLLEY_QUICKJS_VERSION"),
    ", ",
    env!("VOLLEY_TARGET"),
    ")"
);

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "volley",
    version = LONG_VERSION,
    arg_required_else_help = true,
    about = "k6-compatible load testing: run k6 scripts locally or across a cluster"
)]
struct Cli {
    #[command(flatten)]
    log: logging::LogFlags,
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    tls: TlsArgs,
}

/// TLS to a controller, for every command that talks to one (docs/security.md#tls).
#[derive(clap::Args)]
struct TlsArgs {
    /// CA certificate (PEM) to trust for an https:// controller, besides the Mozilla roots
    /// (`volley certs init` writes ca.crt).
    #[arg(long, global = true, env = "VOLLEY_CA", value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Client certificate (PEM) to present to an https:// controller: an agent's identity
    /// under mTLS (agent.crt), optional for the other commands (client.crt).
    #[arg(long, global = true, env = "VOLLEY_CERT", value_name = "FILE")]
    cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, global = true, env = "VOLLEY_KEY", value_name = "FILE")]
    key: Option<std::path::PathBuf>,
}

static CLIENT_TLS: std::sync::OnceLock<Result<volley_api::tls::ClientTls, String>> =
    std::sync::OnceLock::new();

/// The `--ca`, `--cert` and `--key` this process was given, read.
pub(crate) fn client_tls() -> Result<volley_api::tls::ClientTls, String> {
    CLIENT_TLS
        .get()
        .cloned()
        .unwrap_or_else(|| Ok(volley_api::tls::ClientTls::default()))
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Start a local controller (or a Raft group of 3 or 5) and N agent processes (for trying
    /// the cluster out).
    Up(cluster_up::ClusterUpArgs),
    /// Stop what `volley cluster up` started on a data directory (from another shell).
    Down(cluster_down::ClusterDownArgs),
}

#[derive(Subcommand)]
enum Command {
    /// Run a k6 test script on this machine.
    Run(Box<run::RunArgs>),
    /// Run the controller: REST API, run queue, agent registry, metric merge.
    Controller(Box<cluster::ControllerArgs>),
    /// Run a load-generator agent that dials the controller.
    Agent(cluster::AgentArgs),
    /// Bundle a test (script, imports, opened files, options) into an archive.
    Archive(submit::ArchiveArgs),
    /// Submit a test to the controller; with --wait, follow it and exit with its code.
    Submit(Box<submit::SubmitArgs>),
    /// List runs (--json for the API's document).
    Runs(runs::RunsArgs),
    /// Show one run: status and reason, agents, figures, thresholds, events; --follow watches it.
    Status(runs::StatusArgs),
    /// Stop a run.
    Stop(cluster::RunIdArgs),
    /// Show the agents and their utilization.
    Agents(cluster::AgentsArgs),
    /// Show the controllers of a Raft group: node, role, term, commit index, lag.
    Controllers(controllers::ControllersArgs),
    /// Manage the controller's API tokens (admin).
    Tokens(tokens::TokensArgs),
    /// Local cluster commands.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Print the version, commit, QuickJS version, platform and agent protocol version.
    Version,
    /// Serve a local httpbin-like target for examples, tests and benchmarks.
    Target(target::TargetConfig),
    /// Make the certificates of a TLS cluster (a CA, the controller's, an agent's, a client's).
    #[command(subcommand)]
    Certs(certs::CertsCommand),
}

fn main() {
    allocator::tune();
    // clap reads the variables as it builds the command: build it again once empty ones are gone.
    let mut cmd = Cli::command();
    cmd.build();
    config_file::drop_empty_variables(&cmd);
    let mut cmd = Cli::command();
    let matches = match cmd.try_get_matches_from_mut(std::env::args_os()) {
        Ok(m) => m,
        Err(e) => {
            let code = match e.kind() {
                // A bare `volley` prints the help and exits 0, as a bare `k6` does.
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => volley_common::exit::code::UNKNOWN,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // `volley controller` and `volley agent`: their --config file under variables and flags.
    cmd.build();
    let (matches, effective) = match config_file::layer(&cmd, matches) {
        Ok(l) => l,
        Err(e) => {
            for line in e.lines().filter(|l| !l.trim().is_empty()) {
                volley_agent::console::log_error(line, &[]);
            }
            std::process::exit(volley_common::exit::code::INVALID_CONFIG);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(volley_common::exit::code::UNKNOWN);
        }
    };
    let default_level = match &cli.command {
        Command::Controller(_)
        | Command::Agent(_)
        | Command::Cluster(_)
        | Command::Target { .. } => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    if let Err(e) = logging::init(default_level, &cli.log) {
        volley_agent::console::log_error(&e, &[]);
        std::process::exit(volley_common::exit::code::INVALID_CONFIG);
    }
    // Read once: REST clients (and --out cloud) of this process trust and present them; the
    // agent checks them itself. Bad files fail the commands that use them, with the flag named.
    let tls = volley_api::tls::ClientTls::from_files(
        cli.tls.ca.as_deref(),
        cli.tls.cert.as_deref(),
        cli.tls.key.as_deref(),
    );
    match &tls {
        Ok(t) => {
            volley_api::tls::set_default(t.clone());
        }
        Err(e) => {
            if !matches!(
                cli.command,
                Command::Certs(_) | Command::Version | Command::Target(_)
            ) {
                cluster::log_error(e);
                std::process::exit(volley_common::exit::code::INVALID_CONFIG);
            }
        }
    }
    let _ = CLIENT_TLS.set(tls);
    let code = match cli.command {
        Command::Run(args) => run::main(*args),
        Command::Version => {
            println!(
                "volley v{LONG_VERSION}, agent protocol {}",
                volley_proto::PROTOCOL_VERSION
            );
            0
        }
        Command::Controller(a) => cluster::controller(*a, effective.as_ref()),
        Command::Agent(a) => cluster::agent(a, effective.as_ref()),
        Command::Archive(a) => submit::archive(a),
        Command::Submit(a) => submit::submit(*a),
        Command::Runs(a) => runs::runs(a),
        Command::Status(a) => runs::status(a),
        Command::Stop(a) => cluster::stop(a),
        Command::Agents(a) => cluster::agents(a),
        Command::Controllers(a) => controllers::controllers(a),
        Command::Cluster(ClusterCommand::Up(a)) => cluster_up::cluster_up(a),
        Command::Cluster(ClusterCommand::Down(a)) => cluster_down::cluster_down(a),
        Command::Tokens(a) => tokens::tokens(a),
        Command::Certs(c) => certs::certs(c),
        Command::Target(cfg) => match target::run_blocking(cfg) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
    };
    // A web dashboard still held by a thread is not dropped by the exit: its folder goes now.
    volley_controller::local_dashboard::remove_folders();
    std::process::exit(code);
}
