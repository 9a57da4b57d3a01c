//! `volley target`: a local httpbin-like HTTP/1.1 server.
//!
//! Examples, tests and benchmarks point at this server so that nothing needs the internet. The
//! endpoints are an axum router, one module per family under [`routes`]; [`server`] is the
//! accept loop (hyper's HTTP/1.1 connections, `TCP_NODELAY`, pipelined flushes) that feeds it.
//! It is also the benchmark target for wrk/k6 comparisons, so the hot `/` answer is a static
//! body with one header and the worker count is configurable.
//!
//! Everything read from the network is bounded: request bodies are capped at
//! [`MAX_REQUEST_BODY`] (413 beyond), header size and count use hyper's limits, `/delay` is capped
//! at [`MAX_DELAY`] and `/bytes` at [`MAX_BYTES`].

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

mod body;
mod routes;
mod server;

#[cfg(test)]
mod tests;

pub use server::serve;

/// Largest request body the server reads; larger bodies get 413 so a client cannot exhaust memory.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
/// Longest `/delay/{ms}` wait; longer requests are clamped (like httpbin) so a typo cannot park a
/// connection for hours.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Largest `/bytes/{n}` response; larger requests get 400 rather than a silently shorter body,
/// which would skew data-received metrics without anyone noticing.
pub const MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Per-connection facts the handlers need (httpbin's `origin`, fallback host for `url`): the
/// server puts them in each request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// How to run the target server: `volley target`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct TargetConfig {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    // `1` runs a current-thread runtime: the lowest overhead for single-core benchmarks.
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Builds the runtime, binds `cfg.listen`, prints `volley target listening on http://ADDR` to
/// stdout (flushed, so a parent process can wait for it) and serves until SIGINT or SIGTERM.
pub fn run_blocking(cfg: TargetConfig) -> anyhow::Result<()> {
    run_until(&cfg, &mut io::stdout(), shutdown_signal())
}

/// [`run_blocking`] with the output sink and the shutdown trigger injected, so it can be tested.
/// `shutdown` is only polled inside the runtime (signal handlers need one); an error from it
/// stops the server and is returned.
fn run_until<W, F>(cfg: &TargetConfig, out: &mut W, shutdown: F) -> anyhow::Result<()>
where
    W: Write + ?Sized,
    F: Future<Output = io::Result<()>>,
{
    let runtime = build_runtime(cfg.threads)?;
    runtime.block_on(async {
        let listener = TcpListener::bind(cfg.listen).await.with_context(|| {
            format!(
                "cannot bind target --listen {}; pick a free address or port 0",
                cfg.listen
            )
        })?;
        let addr = listener
            .local_addr()
            .context("cannot read the target's bound address")?;
        writeln!(out, "volley target listening on http://{addr}")
            .and_then(|()| out.flush())
            .context("cannot write the target's listening line to stdout")?;
        tokio::select! {
            res = serve(listener) => res.context("target server stopped accepting connections"),
            res = shutdown => res.context("cannot install the target's SIGINT/SIGTERM handlers"),
        }
    })
}

/// A current-thread runtime for one worker (no cross-thread wake-ups), multi-thread otherwise.
fn build_runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    builder
        .enable_all()
        .thread_name("volley-target")
        .build()
        .with_context(|| format!("cannot start the target runtime with {threads} worker threads; try a smaller --threads"))
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() -> io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            res = tokio::signal::ctrl_c() => res,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
