//! Executors' configuration, one file per executor, in the shape of k6's `lib/executor/*.go`.
//!
//! An executor has exactly two files:
//! - `common/src/options/executors/<name>.rs` (here): its config struct (the fields a scenario
//!   sets, with k6's defaults), reading them with k6's error wording, validation, JSON export,
//!   the banner description and how an execution segment splits it. It lives in `common`
//!   because the CLI, the controller and the agent all read options, and `common` is the leaf
//!   crate they share.
//! - `agent/src/executor/<name>.rs`: its runtime (when which VU runs which iteration), an
//!   implementation of the agent's `Runtime` trait for the config struct. It lives in the agent
//!   because it drives VUs, and `common` cannot depend on the agent.
//!
//! Both halves hang off one list, [`for_each_executor!`](crate::for_each_executor): this module
//! builds [`ExecutorConfig`] and its dispatch from it, and the agent builds its dispatch to
//! `Runtime` from the same list, so an executor missing either half does not compile. Adding an
//! executor is those two files, one line in the list and one `mod` line in the agent.

use std::time::Duration;

use serde_json::{Map, Value};

use super::json::{nanos_to_duration, read_i64, read_signed_duration, NULL};
use super::stages::{read_stages, Stage, StagesError};
use super::{OptionsError, DEFAULT_EXEC, DEFAULT_TIME_UNIT, MIN_DURATION};
use crate::duration::{format_duration, format_signed_nanos};
use crate::segment::{ExecutionTuple, SegmentError};

/// Calls `$callback! { Variant => module, ... }` with every executor, in k6's order (names
/// sorted, as k6 lists them in error messages). This is the one list of executors; see the
/// [module documentation](crate::options::executors).
#[macro_export]
macro_rules! for_each_executor {
    ($callback:ident) => {
        $callback! {
            ConstantArrivalRate => constant_arrival_rate,
            ConstantVus => constant_vus,
            ExternallyControlled => externally_controlled,
            PerVuIterations => per_vu_iterations,
            RampingArrivalRate => ramping_arrival_rate,
            RampingVus => ramping_vus,
            SharedIterations => shared_iterations,
        }
    };
}

/// What each executor's config provides; [`ExecutorConfig`] dispatches to it.
pub(crate) trait Executor: Sized {
    /// k6's name, e.g. `"constant-vus"`.
    const NAME: &'static str;
    /// The scenario fields it reads besides the common ones, in k6's order (error messages
    /// list them).
    const FIELDS: &'static [&'static str];
    /// Whether a scenario may set `gracefulStop` (an externally-controlled one may not).
    const GRACEFUL_STOP: bool = true;

    /// Reads its fields; problems use k6's wording.
    fn from_json(f: &Fields<'_>) -> Result<Self, OptionsError>;
    /// Writes its fields as k6 names them (re-readable by [`Executor::from_json`]).
    fn write_json(&self, m: &mut Map<String, Value>);
    /// k6's checks that need the whole config, without the `scenario X has...` prefix.
    fn validate(&self, sc: &ScenarioBase<'_>, errors: &mut Vec<String>);
    /// Its own length, without `gracefulStop` or `startTime`.
    fn max_duration(&self) -> Duration;
    /// The most VUs it can use (before execution-segment scaling).
    fn max_vus(&self) -> u64;
    /// k6's one-line banner description, unscaled.
    fn description(&self, sc: &ScenarioBase<'_>) -> String;
    /// VUs this instance initializes before the test starts.
    fn initial_vus(&self, tuple: &ExecutionTuple) -> u64 {
        tuple.scale_u64(self.max_vus())
    }
    /// This instance's share: the tuple that numbers its iterations (`None` when the segment
    /// is too small to get any) and, for iteration-based executors, how many iterations it
    /// plans.
    fn split(&self, tuple: &ExecutionTuple) -> Result<Split, SegmentError> {
        Ok((Some(tuple.clone()), None))
    }
    /// k6's `HasWork`: whether this instance's segment gets any VUs (and, for the
    /// iteration-based executors, any iterations).
    fn has_work(&self, tuple: &ExecutionTuple) -> bool {
        tuple.scale_u64(self.max_vus()) > 0
    }
}

/// What an executor sees of its scenario: the common fields its checks and its description
/// use (the scenario itself holds the executor, so it is not passed whole).
pub(crate) struct ScenarioBase<'a> {
    pub exec: &'a str,
    pub start_time: Duration,
    pub graceful_stop: Duration,
}

impl ScenarioBase<'_> {
    /// The trailing `(a, b, exec: x, startTime: y, gracefulStop: z)` of k6's descriptions.
    pub(crate) fn base_info(&self, facts: &[String]) -> String {
        let mut parts: Vec<String> = facts.to_vec();
        if self.exec != DEFAULT_EXEC {
            parts.push(format!("exec: {}", self.exec));
        }
        if !self.start_time.is_zero() {
            parts.push(format!("startTime: {}", format_duration(self.start_time)));
        }
        parts.push(format!(
            "gracefulStop: {}",
            format_duration(self.graceful_stop)
        ));
        format!(" ({})", parts.join(", "))
    }
}

/// An instance's share of a scenario (see [`ExecutorConfig::split`]).
pub type Split = (Option<ExecutionTuple>, Option<u64>);

/// The tuple re-cut by `value` (k6's `GetNewExecutionTupleFromValue`), for executors whose
/// VUs share one pool of work; `None` when this segment gets nothing of `value`.
pub(crate) fn resegment(
    tuple: &ExecutionTuple,
    value: u64,
) -> Result<Option<ExecutionTuple>, SegmentError> {
    match tuple.resegment_by_value(value as i64) {
        Ok(t) => Ok(Some(t)),
        Err(SegmentError::NotEnoughForSegment { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

macro_rules! declare_executors {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $( mod $module; pub use $module::$variant; )*

        /// An executor and its own settings, with k6's defaults already filled in.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ExecutorConfig {
            $( $variant($variant), )*
        }

        /// How many executors there are.
        pub const COUNT: usize = [$(stringify!($variant)),*].len();
        /// k6's executor names, in the order they are listed in error messages.
        pub const NAMES: [&str; COUNT] = [$(<$variant as Executor>::NAME),*];

        impl ExecutorConfig {
            /// Reads the executor named `name` (already checked against [`NAMES`]).
            pub(super) fn from_json(name: &str, f: &Fields<'_>) -> Option<Result<Self, OptionsError>> {
                $( if name == <$variant as Executor>::NAME {
                    return Some(<$variant as Executor>::from_json(f).map(ExecutorConfig::$variant));
                } )*
                None
            }

            /// The fields executor `name` reads besides the common ones.
            pub(super) fn fields_of(name: &str) -> &'static [&'static str] {
                $( if name == <$variant as Executor>::NAME {
                    return <$variant as Executor>::FIELDS;
                } )*
                &[]
            }

            /// Whether a scenario of executor `name` may set `gracefulStop`.
            pub(super) fn has_graceful_stop(name: &str) -> bool {
                $( if name == <$variant as Executor>::NAME {
                    return <$variant as Executor>::GRACEFUL_STOP;
                } )*
                true
            }

            /// The executor's k6 name, e.g. `"constant-vus"`.
            pub fn name(&self) -> &'static str {
                match self { $( ExecutorConfig::$variant(_) => <$variant as Executor>::NAME, )* }
            }

            pub(super) fn write_json(&self, m: &mut Map<String, Value>) {
                match self { $( ExecutorConfig::$variant(c) => c.write_json(m), )* }
            }

            pub(super) fn validate(&self, sc: &ScenarioBase<'_>, errors: &mut Vec<String>) {
                match self { $( ExecutorConfig::$variant(c) => c.validate(sc, errors), )* }
            }

            /// The executor's own length, without `gracefulStop` or `startTime`; zero for an
            /// externally-controlled scenario that runs until stopped.
            pub fn max_duration(&self) -> Duration {
                match self { $( ExecutorConfig::$variant(c) => c.max_duration(), )* }
            }

            /// The most VUs this executor can use (before execution-segment scaling).
            pub fn max_vus(&self) -> u64 {
                match self { $( ExecutorConfig::$variant(c) => c.max_vus(), )* }
            }

            pub(super) fn description(&self, sc: &ScenarioBase<'_>) -> String {
                match self { $( ExecutorConfig::$variant(c) => c.description(sc), )* }
            }

            /// VUs this instance initializes before the test starts (k6: the pre-allocated
            /// ones for the arrival-rate executors, the maximum for the others).
            pub fn initial_vus(&self, tuple: &ExecutionTuple) -> u64 {
                match self { $( ExecutorConfig::$variant(c) => c.initial_vus(tuple), )* }
            }

            /// This instance's share: the tuple that numbers its iterations (`None` when
            /// the segment is too small to get any) and, for iteration-based executors, how
            /// many iterations it plans.
            pub fn split(&self, tuple: &ExecutionTuple) -> Result<Split, SegmentError> {
                match self { $( ExecutorConfig::$variant(c) => c.split(tuple), )* }
            }

            /// k6's `HasWork`: whether this instance's segment gets any VUs (and, for the
            /// iteration-based executors, any iterations) of the scenario.
            pub fn has_work(&self, tuple: &ExecutionTuple) -> bool {
                match self { $( ExecutorConfig::$variant(c) => c.has_work(tuple), )* }
            }
        }
    };
}

for_each_executor!(declare_executors);

/// A scenario's JSON object, for an executor to read its fields from with k6's wording.
pub(crate) struct Fields<'a> {
    name: &'a str,
    path: String,
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub(super) fn new(name: &'a str, path: String, obj: &'a Map<String, Value>) -> Self {
        Self { name, path, obj }
    }

    fn get(&self, key: &str) -> &'a Value {
        self.obj.get(key).unwrap_or(&NULL)
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// An integer field, signed so that k6's own "negative" wording can be used.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, OptionsError> {
        read_i64(self.get(key), &self.path(key))
    }

    /// A duration field in nanoseconds, signed for the same reason.
    pub(crate) fn dur(&self, key: &str) -> Result<Option<i128>, OptionsError> {
        read_signed_duration(self.get(key), &self.path(key))
    }

    /// A `stages` field (empty when unset).
    pub(crate) fn stages(&self, key: &str) -> Result<Vec<Stage>, OptionsError> {
        match read_stages(self.get(key), &self.path(key)) {
            Ok(s) => Ok(s.unwrap_or_default()),
            Err(StagesError::Type(e)) => Err(e),
            Err(StagesError::Problem(p)) => Err(self.problem(p)),
        }
    }

    /// A problem of this scenario, in k6's wording.
    pub(crate) fn problem(&self, msg: impl std::fmt::Display) -> OptionsError {
        OptionsError::scenario_problem(self.name, msg)
    }

    /// k6's "the X must be at least 1s, but is Y" for a negative duration.
    pub(crate) fn too_short(&self, what: &str, nanos: i128) -> OptionsError {
        self.problem(format!(
            "the {what} must be at least {}, but is {}",
            format_duration(MIN_DURATION),
            format_signed_nanos(nanos)
        ))
    }
}

/// A duration read by [`Fields::dur`], known not to be negative.
pub(crate) fn to_duration(nanos: i128) -> Duration {
    nanos_to_duration(nanos)
}

/// k6's "the X must be at least 1s, but is Y" for a duration that is too short.
pub(crate) fn too_short(what: &str, d: Duration) -> Option<String> {
    (d < MIN_DURATION).then(|| {
        format!(
            "the {what} must be at least {}, but is {}",
            format_duration(MIN_DURATION),
            format_duration(d)
        )
    })
}

/// `maxVUs: pre` or `maxVUs: pre-max`, as the arrival-rate descriptions show it.
pub(crate) fn max_vus_fact(pre: u64, max: u64) -> String {
    if max > pre {
        format!("maxVUs: {pre}-{max}")
    } else {
        format!("maxVUs: {pre}")
    }
}

/// `rate` per `time_unit` as iterations per second with two decimals, rounded half away from
/// zero like Go's `big.Rat.FloatString(2)` that k6 uses, so `"33.33"` matches to the digit.
pub(crate) fn rate_per_second(rate: u64, time_unit: Duration) -> String {
    let den = time_unit.as_nanos();
    if den == 0 {
        return "0.00".to_string();
    }
    let num = u128::from(rate) * 1_000_000_000 * 100;
    let mut hundredths = num / den;
    if (num % den) * 2 >= den {
        hundredths += 1;
    }
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// The fields both arrival-rate executors read first, in k6's order: `timeUnit`,
/// `preAllocatedVUs` and `maxVUs` (which defaults to `preAllocatedVUs`).
pub(crate) fn read_arrival_rate_vus(f: &Fields<'_>) -> Result<(Duration, u64, u64), OptionsError> {
    let time_unit = match f.dur("timeUnit")? {
        Some(n) if n <= 0 => return Err(f.problem("the timeUnit must be more than 0")),
        other => other.map(to_duration).unwrap_or(DEFAULT_TIME_UNIT),
    };
    let pre_allocated_vus = match f.int("preAllocatedVUs")? {
        None => return Err(f.problem("the number of preAllocatedVUs isn't specified")),
        Some(n) if n < 0 => {
            return Err(f.problem("the number of preAllocatedVUs shouldn't be negative"))
        }
        Some(n) => n as u64,
    };
    let max_vus = match f.int("maxVUs")? {
        None => pre_allocated_vus,
        Some(n) if n < 0 => return Err(f.problem("maxVUs shouldn't be less than preAllocatedVUs")),
        Some(n) => n as u64,
    };
    Ok((time_unit, pre_allocated_vus, max_vus))
}
