//! The banner before a run and the progress lines during and after it, k6-style. A live block
//! is drawn only on a terminal; otherwise only the final state is printed.
//!
//! This is the one renderer of run progress: `volley run` feeds it the engine's [`Progress`],
//! and `submit --wait` / `status --follow` feed it a cluster run's progress built from the
//! controller's documents (`run_view/live.rs`), through the same [`LiveBlock`] and
//! [`progress_lines`].

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use volley_agent::engine::{Progress, RunObserver};
use volley_common::duration::format_duration;
use volley_common::options::ResolvedOptions;

pub struct ConsoleObserver {
    pub quiet: bool,
    pub out_desc: String,
    /// `--web-dashboard`: its address goes in the banner (and a browser is opened on it).
    pub dashboard: Option<std::sync::Arc<crate::web_dashboard::WebDashboard>>,
    block: Mutex<LiveBlock>,
    final_block: Mutex<Option<String>>,
}

impl ConsoleObserver {
    pub fn new(quiet: bool, out_desc: String) -> Self {
        ConsoleObserver {
            quiet,
            out_desc,
            dashboard: None,
            block: Mutex::new(LiveBlock::hidden()),
            final_block: Mutex::new(None),
        }
    }
}

/// The block of lines redrawn in place under a run's output while it goes, on a terminal
/// (indicatif draws it on stderr and clears it at the end); hidden elsewhere, where nothing is
/// drawn and lines printed through [`LiveBlock::above`] come out as they are.
///
/// The block on screen is also known process-wide, so that lines written from elsewhere (log
/// events, a signal's message) go above it through [`above`] instead of through it.
pub struct LiveBlock {
    bar: Option<indicatif::ProgressBar>,
    /// Which block this is in [`ON_SCREEN`].
    id: u64,
}

impl LiveBlock {
    /// A block that draws nothing.
    pub fn hidden() -> Self {
        LiveBlock { bar: None, id: 0 }
    }

    /// A live block when standard output is a terminal, else a hidden one.
    pub fn for_stdout() -> Self {
        if !std::io::stdout().is_terminal() {
            return Self::hidden();
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        *ON_SCREEN.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, bar.clone()));
        LiveBlock { bar: Some(bar), id }
    }

    pub fn is_live(&self) -> bool {
        self.bar.is_some()
    }

    /// Replaces the block's lines.
    pub fn draw(&self, lines: &[String]) {
        if let Some(bar) = &self.bar {
            bar.set_message(lines.join("\n"));
        }
    }

    /// Prints with `print` above the block (the block is lifted, then drawn again).
    pub fn above(&self, print: impl FnOnce()) {
        lift(self.bar.as_ref(), print);
    }

    /// Clears the block for good.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            let mut shown = ON_SCREEN.lock().unwrap_or_else(|e| e.into_inner());
            if shown.as_ref().is_some_and(|(id, _)| *id == self.id) {
                *shown = None;
            }
            drop(shown);
            bar.finish_and_clear();
        }
    }
}

/// The live block on screen, if any, with its id.
static ON_SCREEN: Mutex<Option<(u64, indicatif::ProgressBar)>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Prints with `print` above the live block on screen, if there is one (from any thread); else
/// just prints.
pub fn above(print: impl FnOnce()) {
    let shown = ON_SCREEN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    lift(shown.as_ref().map(|(_, bar)| bar), print);
}

/// [`above`] for `volley_agent::console`'s writes: every log line (`console.*` in a VU, the
/// CLI's own) goes above the live block instead of being overwritten by its next frame.
pub fn above_dyn(print: &mut dyn FnMut()) {
    above(print);
}

thread_local! {
    /// Whether this thread is printing above a block already (then a nested print just prints:
    /// the block is lifted, and lifting it again would wait on itself).
    static LIFTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn lift(bar: Option<&indicatif::ProgressBar>, print: impl FnOnce()) {
    match bar {
        Some(bar) if !LIFTED.get() => {
            LIFTED.set(true);
            bar.suspend(print);
            LIFTED.set(false);
        }
        _ => print(),
    }
}

impl Drop for LiveBlock {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The status line and one line per scenario, as the live block shows them (`done`: the final
/// state, with ✓ or ✗).
pub fn progress_lines(p: &Progress, done: bool) -> Vec<String> {
    let mut lines = vec![status_line(p)];
    lines.extend(scenario_lines(p, done));
    lines
}

fn secs(d: Duration) -> String {
    format!("{:04.1}s", d.as_secs_f64())
}

fn status_line(p: &Progress) -> String {
    format!(
        "running ({}), {}/{} VUs, {} complete and {} interrupted iterations",
        secs(p.elapsed),
        p.active_vus.max(0),
        p.max_vus,
        p.complete,
        p.interrupted
    )
}

fn scenario_lines(p: &Progress, done: bool) -> Vec<String> {
    let width = p
        .scenarios
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    p.scenarios
        .iter()
        .map(|s| {
            let mark = if !done {
                "  "
            } else if p.aborted {
                "✗ "
            } else {
                "✓ "
            };
            let pct = (s.progress * 100.0).floor();
            let time = if done {
                format_duration(Duration::from_secs(
                    s.elapsed
                        .as_secs()
                        .max(s.planned.as_secs().min(s.elapsed.as_secs())),
                ))
            } else {
                format!(
                    "{:.1}s/{}",
                    s.elapsed.as_secs_f64(),
                    format_duration(s.planned)
                )
            };
            format!(
                "{:<width$} {mark}[ {:>3}% ] {} VUs  {}",
                s.name, pct as u64, s.vus, time
            )
        })
        .collect()
}

impl RunObserver for ConsoleObserver {
    fn started(&self, opts: &ResolvedOptions, max_vus: u64, script: &str) {
        // The run exists on the dashboard by now (its stream started before the banner).
        if let Some(d) = &self.dashboard {
            d.open_browser();
        }
        if self.quiet {
            return;
        }
        let n = opts.scenarios.len();
        let max_dur = format_duration(opts.max_duration_incl_graceful_stop());
        let mut s = String::new();
        s.push_str("\n  volley — k6-compatible load testing\n\n");
        s.push_str("     execution: local\n");
        // The path as the user gave it, as k6 prints it.
        s.push_str(&format!("        script: {script}\n"));
        if let Some(url) = self.dashboard.as_ref().and_then(|d| d.url()) {
            s.push_str(&format!(" web dashboard: {url}\n"));
        }
        s.push_str(&format!("        output: {}\n\n", self.out_desc));
        s.push_str(&format!(
            "     scenarios: (100.00%) {n} scenario{}, {max_vus} max VUs, {max_dur} max duration (incl. graceful stop):\n",
            if n == 1 { "" } else { "s" }
        ));
        for sc in &opts.scenarios {
            s.push_str(&format!(
                "              * {}: {}\n",
                sc.name,
                sc.description()
            ));
        }
        s.push('\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
        *self.block.lock().unwrap_or_else(|e| e.into_inner()) = LiveBlock::for_stdout();
    }

    fn progress(&self, p: &Progress) {
        if self.quiet {
            return;
        }
        self.block
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .draw(&progress_lines(p, false));
    }

    fn finished(&self, p: &Progress) {
        self.block
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish();
        if self.quiet {
            return;
        }
        let mut s = progress_lines(p, true).join("\n");
        s.push('\n');
        *self.final_block.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }
}

impl ConsoleObserver {
    /// The final progress block (printed after the summary, as k6 does).
    pub fn take_final_block(&self) -> Option<String> {
        self.final_block
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
