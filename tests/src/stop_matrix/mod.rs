//! The stop contract of docs/exit-codes.md, cell by cell: every stop method (Ctrl+C, SIGTERM, a
//! second Ctrl+C, REST API stop, `test.abort()`, an exception, an `abortOnFail` threshold, a
//! timeout) in every phase (first init, VU init, setup, the run, teardown, handleSummary,
//! `--linger`), plus `--paused`. `tests/tests/stop_matrix.rs` runs it locally;
//! `tests/tests/cluster_stop_matrix.rs` runs its own cells through a cluster with the same
//! methods, phases, labels and parallel runner.
//!
//! One script per phase (`tests/stop-scripts/`) prints `MARK:<phase>-start`/`-end` lines on
//! stderr and holds the phase under test for 5 s. The driver waits for the phase's start mark,
//! then acts (or lets the script act, with `-e METHOD=...`), and checks the exit code, whether
//! teardown ran to its end (TD✓), was cut (TD✗) or never started (TD–), which summary was
//! printed (handleSummary's `HS-OUTPUT`, the default text summary, or none), whether the phase
//! under test reached its end mark, the last stderr line, the REST API status in that phase, and
//! that every signal is acknowledged (a `Stopping` log line, or the exit) within 1 s.
//!
//! * [`cells`]: the methods, phases, expectations and the local matrix;
//! * [`driver`]: runs a cell's process and records what it showed;
//! * [`check`]: the judgement of one run against its cell;
//! * [`report`]: the table of every run.

pub mod cells;
pub mod check;
pub mod driver;
pub mod report;
