//! The banner before a run and the progress lines during and after it, k6-style. A live line
//! is drawn only on a terminal; otherwise only the final state is printed.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use volley_agent::engine::{Progress, RunObserver};
use volley_common::duration::format_duration;
use volley_common::options::ResolvedOptions;

pub struct ConsoleObserver {
    pub quiet: bool,
    pub out_desc: String,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    final_block: Mutex<Option<String>>,
}

impl ConsoleObserver {
    pub fn new(quiet: bool, out_desc: String) -> Self {
        ConsoleObserver {
            quiet,
            out_desc,
            bar: Mutex::new(None),
            final_block: Mutex::new(None),
        }
    }
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
        if self.quiet {
            return;
        }
        let n = opts.scenarios.len();
        let max_dur = format_duration(opts.max_duration_incl_graceful_stop());
        let mut s = String::new();
        s.push_str("\n  volley — k6-compatible load testing\n\n");
        s.push_str("     execution: local\n");
        s.push_str(&format!(
            "        script: {}\n",
            std::path::Path::new(script)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| script.to_string())
        ));
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
        if std::io::stdout().is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        }
    }

    fn progress(&self, p: &Progress) {
        if self.quiet {
            return;
        }
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let mut msg = status_line(p);
            for l in scenario_lines(p, false) {
                msg.push('\n');
                msg.push_str(&l);
            }
            bar.set_message(msg);
        }
    }

    fn finished(&self, p: &Progress) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let mut s = status_line(p);
        for l in scenario_lines(p, true) {
            s.push('\n');
            s.push_str(&l);
        }
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
