//! Ctrl+C and SIGTERM for the commands that follow something (`submit --wait`, `cluster up`).
//! `volley run` has its own trap in `run.rs`, tied to the engine's stages.
//!
//! As in a local run (docs/exit-codes.md): the first signal asks the command to stop and is
//! acknowledged at once with a `Stopping` line; the second exits with 105 at once, saying what
//! was skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use volley_agent::run::RunControl;
use volley_common::exit::{code, AbortReason};

/// How long the second signal's last words (`before_exit`) may take before the process exits
/// anyway: the contract acknowledges every stop within 1 s.
const LAST_WORDS: Duration = Duration::from_millis(800);

/// What the trap does besides counting.
#[derive(Default)]
pub struct SignalHooks {
    /// Aborted with the signal as its reason on the first signal (this interrupts JS running
    /// under it, e.g. the script's first init in `submit`).
    pub control: Option<Arc<RunControl>>,
    /// Told at once of the first signal (a follow loop waits on it instead of sleeping).
    pub wake: Option<mpsc::Sender<()>>,
    /// Run (bounded by [`LAST_WORDS`]) before the second signal exits: e.g. telling the
    /// controller to stop the run, which the first signal may not have had time to do.
    pub before_exit: Option<Box<dyn Fn() + Send + Sync>>,
    /// No "Stopping" line at the first signal: the caller says what it does instead (e.g.
    /// `status --follow` detaches and stops nothing).
    pub silent: bool,
}

/// Installs the trap; returns once the handlers are in place. `count` counts the signals.
pub fn trap(count: Arc<AtomicU32>, hooks: SignalHooks) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let hooks = Arc::new(hooks);
    let _ = std::thread::Builder::new()
        .name("volley-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut i), Ok(mut t)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    let _ = ready_tx.send(());
                    return;
                };
                let _ = ready_tx.send(());
                loop {
                    let name = tokio::select! {
                        _ = i.recv() => "interrupt",
                        _ = t.recv() => "terminated",
                    };
                    if count.fetch_add(1, Ordering::SeqCst) == 0 {
                        first_signal(&hooks, name);
                    } else {
                        second_signal(&hooks, name);
                    }
                }
            });
        });
    let _ = ready_rx.recv_timeout(Duration::from_secs(2));
}

fn first_signal(hooks: &SignalHooks, name: &str) {
    let msg = match &hooks.control {
        Some(control) => {
            control.abort(AbortReason::Signal {
                signal: name.into(),
            });
            format!("Stopping: received a '{name}' signal (press Ctrl+C again to exit at once)")
        }
        None => "Stopping (press Ctrl+C again to exit at once)".to_string(),
    };
    if !hooks.silent {
        volley_agent::console::log("info", &msg, &[]);
    }
    if let Some(wake) = &hooks.wake {
        let _ = wake.send(());
    }
}

fn second_signal(hooks: &Arc<SignalHooks>, name: &str) -> ! {
    volley_agent::console::last_word(&format!(
        "Aborting in response to a second '{name}' signal: the rest was skipped"
    ));
    if hooks.before_exit.is_some() {
        // On a plain thread: the hook may block (a REST call), which this runtime forbids.
        let (done_tx, done_rx) = mpsc::channel();
        let h = hooks.clone();
        let _ = std::thread::Builder::new()
            .name("volley-last-words".into())
            .spawn(move || {
                if let Some(f) = &h.before_exit {
                    f();
                }
                let _ = done_tx.send(());
            });
        let _ = done_rx.recv_timeout(LAST_WORDS);
    }
    std::process::exit(code::EXTERNAL_ABORT);
}
