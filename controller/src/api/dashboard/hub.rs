//! One run's live feed, shared by every page open on the run (`docs/dashboard.md`, "Live
//! updates"): what the pages need is read from the run and serialised once a second per run,
//! not once per page, so open pages never add to the work that competes with merging the
//! run's batches. The feed publishes a [`Frame`] through a `watch` channel; each page sends
//! what changed since the frame it saw last. A page that falls behind skips straight to the
//! newest frame (the run, totals and checks it missed are sent once, newest only; the points
//! and heartbeats of the frames it missed follow); one more than [`WINDOW`] frames behind is
//! closed, and the browser reconnects and starts over. A page holds one frame and a number.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::live::{send, sse, Out, RunFeed, Tx};
use crate::api::{no_query, parse_run_id, ApiError, AppState, CallerOf, ControllerService};
use crate::auth::Caller;

/// Frames whose points and heartbeats are kept for pages that fell behind (at one a second;
/// a page that takes no event for 30 s is dropped anyway).
pub(crate) const WINDOW: u64 = 32;
/// How often a run's feed looks for changes.
const TICK: Duration = Duration::from_secs(1);

/// The events that bring an open page up to date, as of one tick of its run's feed.
#[derive(Default)]
pub(crate) struct Frame {
    /// The tick's number, from 1.
    pub(crate) seq: u64,
    /// The newest `run`, `totals` and `checks` events and the frame each changed in.
    latest: Vec<(&'static str, u64, Out)>,
    /// The `points`, `metrics` and `agents` events of the newest [`WINDOW`] frames, oldest
    /// first.
    appends: VecDeque<(u64, Out)>,
    /// `summary`, `end` or `gone`: the feed's last events (then it is done).
    last: Vec<Out>,
}

impl Frame {
    /// Whether the feed is done (the run ended or is gone).
    pub(crate) fn done(&self) -> bool {
        !self.last.is_empty()
    }

    /// What a page that has seen frame `seen` is sent to be up to date, in the order a single
    /// tick sends them; `None` if it is more than [`WINDOW`] frames behind.
    pub(crate) fn since(&self, seen: u64) -> Option<Vec<Out>> {
        if seen >= self.seq {
            return Some(Vec::new());
        }
        if seen + WINDOW < self.seq {
            return None;
        }
        let latest = |name: &'static str| {
            self.latest
                .iter()
                .filter(move |(n, at, _)| *n == name && *at > seen)
                .map(|(_, _, e)| e.clone())
        };
        let appends = |name: &'static str| {
            self.appends
                .iter()
                .filter(move |(at, (n, _))| *n == name && *at > seen)
                .map(|(_, e)| e.clone())
        };
        let mut out: Vec<Out> = latest("run").collect();
        out.extend(appends("points"));
        out.extend(appends("metrics"));
        out.extend(latest("totals"));
        out.extend(latest("checks"));
        out.extend(appends("agents"));
        out.extend(self.last.iter().cloned());
        Some(out)
    }

    #[cfg(test)]
    pub(crate) fn next_for_test(&self, events: Vec<Out>) -> Frame {
        self.next(events)
    }

    /// The next frame: this one with one tick's events.
    fn next(&self, events: Vec<Out>) -> Frame {
        let seq = self.seq + 1;
        let mut latest = self.latest.clone();
        let mut appends = self.appends.clone();
        let mut last = Vec::new();
        for (name, data) in events {
            match name {
                "points" | "metrics" | "agents" => appends.push_back((seq, (name, data))),
                "summary" | "end" | "gone" => last.push((name, data)),
                _ => {
                    latest.retain(|(n, _, _)| *n != name);
                    latest.push((name, seq, (name, data)));
                }
            }
        }
        while appends.front().is_some_and(|(at, _)| at + WINDOW <= seq) {
            appends.pop_front();
        }
        Frame {
            seq,
            latest,
            appends,
            last,
        }
    }
}

/// A run's shared feed: its state and the channel its frames go out on.
pub(crate) struct Hub {
    id: u64,
    state: Mutex<HubState>,
    frames: watch::Sender<Arc<Frame>>,
}

#[derive(Default)]
struct HubState {
    feed: RunFeed,
    frame: Arc<Frame>,
    /// The opening events of the newest frame, once a page asked for them.
    opening: Option<(u64, Arc<Vec<Out>>)>,
}

impl Hub {
    fn state(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One tick: reads the run, publishes the frame; whether the feed is done.
    fn advance(&self, svc: &dyn ControllerService) -> bool {
        let mut st = self.state();
        if st.frame.done() {
            return true;
        }
        // The hub reads for every page; each page's right to the run was checked when it
        // opened (a run never changes project).
        let (events, _) = st.feed.tick(svc, &Caller::open(), self.id);
        let frame = Arc::new(st.frame.next(events));
        st.frame = frame.clone();
        let done = frame.done();
        self.frames.send_replace(frame);
        done
    }

    /// What a page that opens now is sent first, and the frame it brings the page to. Pages
    /// opening at the same tick share one.
    fn opening(&self, svc: &dyn ControllerService) -> (u64, Arc<Vec<Out>>) {
        if self.state().frame.seq == 0 {
            self.advance(svc);
        }
        let mut st = self.state();
        let seq = st.frame.seq;
        if let Some((at, events)) = &st.opening {
            if *at == seq {
                return (seq, events.clone());
            }
        }
        let events = Arc::new(st.feed.opening(svc, self.id));
        st.opening = Some((seq, events.clone()));
        (seq, events)
    }
}

/// The runs' shared feeds, one per run with a page open.
#[derive(Default)]
pub(crate) struct Hubs {
    runs: Mutex<HashMap<u64, Arc<Hub>>>,
}

impl Hubs {
    fn runs(&self) -> MutexGuard<'_, HashMap<u64, Arc<Hub>>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run's feed (started if no page had it open) and a place among its pages.
    fn join(
        self: &Arc<Self>,
        svc: &Arc<dyn ControllerService>,
        id: u64,
    ) -> (Arc<Hub>, watch::Receiver<Arc<Frame>>) {
        let mut runs = self.runs();
        if let Some(hub) = runs.get(&id) {
            return (hub.clone(), hub.frames.subscribe());
        }
        let (frames, rx) = watch::channel(Arc::new(Frame::default()));
        let hub = Arc::new(Hub {
            id,
            state: Mutex::new(HubState::default()),
            frames,
        });
        runs.insert(id, hub.clone());
        tokio::spawn(drive(self.clone(), hub.clone(), svc.clone()));
        (hub, rx)
    }

    /// Forgets `hub` (if it is still the run's), when no page follows it any more or
    /// `done`; whether it was forgotten. Under the same lock as [`Hubs::join`], so no page
    /// joins a feed that is going away.
    fn leave(&self, hub: &Arc<Hub>, done: bool) -> bool {
        let mut runs = self.runs();
        if !done && hub.frames.receiver_count() > 0 {
            return false;
        }
        if runs.get(&hub.id).is_some_and(|h| Arc::ptr_eq(h, hub)) {
            runs.remove(&hub.id);
        }
        true
    }

    /// How many runs have a shared feed now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.runs().len()
    }
}

/// A run's feed: one tick a second while any page follows it and the run goes on.
async fn drive(hubs: Arc<Hubs>, hub: Arc<Hub>, svc: Arc<dyn ControllerService>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if hubs.leave(&hub, false) {
            return;
        }
        if hub.advance(&*svc) {
            hubs.leave(&hub, true);
            return;
        }
    }
}

/// One page of run `id`: everything so far, then what each new frame brings, until the run
/// ends, the browser goes away or falls more than [`WINDOW`] frames behind.
pub(crate) async fn follow(hubs: Arc<Hubs>, svc: Arc<dyn ControllerService>, id: u64, tx: Tx) {
    let (hub, mut frames) = hubs.join(&svc, id);
    let (mut seen, opening) = hub.opening(&*svc);
    drop(hub);
    let ended = opening
        .iter()
        .any(|(name, _)| matches!(*name, "end" | "gone"));
    if !send(&tx, &opening).await || ended {
        return;
    }
    drop(opening);
    loop {
        tokio::select! {
            changed = frames.changed() => if changed.is_err() {
                return;
            },
            _ = tx.closed() => return,
        }
        let frame = frames.borrow_and_update().clone();
        let Some(events) = frame.since(seen) else {
            tracing::debug!(
                "a live dashboard stream of run {id} fell more than {WINDOW} updates behind: closed (the page reconnects)"
            );
            return;
        };
        if !send(&tx, &events).await || frame.done() {
            return;
        }
        seen = frame.seq;
    }
}

/// `GET /v1/live/runs/{id}`: one run's stream, until the run has ended. Every page of a run
/// follows the run's one shared feed, so more pages cost the run nothing more.
pub(super) async fn run(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    Path(raw_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    no_query(raw.as_deref())?;
    let id = parse_run_id(&raw_id)?;
    if app
        .svc
        .get_run(id)
        .filter(|r| caller.sees(r.project_id))
        .is_none()
    {
        return Err(ApiError::not_found(
            "run_not_found",
            format!("no run with id {id}; GET /loadtests/v2/runs lists them"),
        ));
    }
    Ok(sse(&caller, move |tx| {
        follow(app.hubs.clone(), app.svc.clone(), id, tx)
    }))
}
