//! How an engine run takes part in a cluster run (the agent client, `crate::cluster::client`,
//! holds the other end). Instead of deciding on its own, the engine
//! reports where it is ([`ClusterEvent`]) and waits for the controller's decisions
//! ([`ClusterCommand`]): who runs `setup()` and with which data, when to start (a barrier across
//! agents), and who runs `teardown()`. Stops go straight to the run's `RunControl`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use volley_common::exit::AbortReason;

use crate::metrics::{MetricsStore, Registry};

/// Engine → agent client.
#[derive(Debug)]
pub enum ClusterEvent {
    /// VUs are initialized; waiting for setup data.
    Ready { vus: u64 },
    /// The result of `setup()` run here on the controller's request.
    SetupResult {
        data: Option<String>,
        abort: Option<AbortReason>,
    },
    /// Executors have ended; waiting for the teardown decision.
    ExecutionDone,
}

/// Agent client → engine.
#[derive(Debug)]
pub enum ClusterCommand {
    /// Run `setup()` here and answer with [`ClusterEvent::SetupResult`].
    RunSetup,
    /// setup()'s data for this run (JSON, None for undefined): setup is complete.
    SetupData(Option<String>),
    /// Start the executors at this instant.
    Start(SystemTime),
    /// Whether this agent runs `teardown()`.
    Teardown(bool),
}

/// The channels between an engine run and the agent client, plus the run's metrics once the
/// engine has created them (the client ships their interval deltas).
pub struct ClusterHooks {
    pub events: UnboundedSender<ClusterEvent>,
    pub commands: Mutex<Option<UnboundedReceiver<ClusterCommand>>>,
    pub metrics: OnceLock<(Arc<MetricsStore>, Arc<Registry>)>,
    /// Set by the client when the controller stops the run immediately: no teardown.
    pub skip_teardown: std::sync::atomic::AtomicBool,
}

impl ClusterHooks {
    pub fn new() -> (
        Arc<ClusterHooks>,
        UnboundedReceiver<ClusterEvent>,
        UnboundedSender<ClusterCommand>,
    ) {
        let (etx, erx) = tokio::sync::mpsc::unbounded_channel();
        let (ctx, crx) = tokio::sync::mpsc::unbounded_channel();
        (
            Arc::new(ClusterHooks {
                events: etx,
                commands: Mutex::new(Some(crx)),
                metrics: OnceLock::new(),
                skip_teardown: std::sync::atomic::AtomicBool::new(false),
            }),
            erx,
            ctx,
        )
    }

    pub fn send(&self, e: ClusterEvent) {
        let _ = self.events.send(e);
    }

    /// Takes the command receiver (the engine does, once).
    pub fn take_commands(&self) -> Option<UnboundedReceiver<ClusterCommand>> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
