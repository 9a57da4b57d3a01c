//! The statuses of a test run as the k6 cloud's legacy test-runs API numbers them: the run's
//! lifecycle ([`RunStatus`]), the processing of its results ([`ProcessingStatus`]) and its
//! outcome ([`ResultStatus`]). The numbers are part of the REST API and of the controller's
//! stored data, so each enum serializes as its number, and a status is added here only: its
//! number, name and place in [`RunStatus::successors`].

use serde_repr::{Deserialize_repr, Serialize_repr};

/// Where a run is in its lifecycle. A run moves forward only and never leaves a terminal status;
/// [`RunStatus::successors`] is the one table of the moves allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(i32)]
pub enum RunStatus {
    /// Accepted; not checked yet.
    Created = -2,
    /// Its options were checked.
    Validated = -1,
    /// Waiting for enough idle agents.
    Queued = 0,
    /// Placed on agents, which initialize their VUs (and run `setup()`).
    Initializing = 1,
    /// The executors run.
    Running = 2,
    /// Ended normally (thresholds may still have failed: see [`ResultStatus`]).
    Finished = 3,
    /// No data came from the run's generators for too long.
    TimedOut = 4,
    /// Stopped by a user (API stop, `volley stop`, a signal).
    AbortedByUser = 5,
    /// An agent was lost or overloaded, or the controller failed.
    AbortedBySystem = 6,
    /// `exec.test.abort()` or an uncaught exception outside the iterations.
    AbortedByScriptError = 7,
    /// A threshold with `abortOnFail` failed.
    AbortedByThreshold = 8,
    /// A limit was exceeded (groups, metric series, duration, a setup/teardown timeout).
    AbortedByLimit = 9,
}

use RunStatus::*;

impl RunStatus {
    /// Every status, in lifecycle (and number) order.
    pub const ALL: [RunStatus; 12] = [
        Created,
        Validated,
        Queued,
        Initializing,
        Running,
        Finished,
        TimedOut,
        AbortedByUser,
        AbortedBySystem,
        AbortedByScriptError,
        AbortedByThreshold,
        AbortedByLimit,
    ];

    /// The statuses a run in this status may move to. Skipping ahead is allowed (a run stopped
    /// while QUEUED goes straight to ABORTED_BY_USER); going back or staying is not, and a
    /// terminal status is final.
    pub const fn successors(self) -> &'static [RunStatus] {
        match self {
            Created => &[
                Validated,
                Queued,
                Initializing,
                Running,
                Finished,
                TimedOut,
                AbortedByUser,
                AbortedBySystem,
                AbortedByScriptError,
                AbortedByThreshold,
                AbortedByLimit,
            ],
            Validated => &[
                Queued,
                Initializing,
                Running,
                Finished,
                TimedOut,
                AbortedByUser,
                AbortedBySystem,
                AbortedByScriptError,
                AbortedByThreshold,
                AbortedByLimit,
            ],
            Queued => &[
                Initializing,
                Running,
                Finished,
                TimedOut,
                AbortedByUser,
                AbortedBySystem,
                AbortedByScriptError,
                AbortedByThreshold,
                AbortedByLimit,
            ],
            Initializing => &[
                Running,
                Finished,
                TimedOut,
                AbortedByUser,
                AbortedBySystem,
                AbortedByScriptError,
                AbortedByThreshold,
                AbortedByLimit,
            ],
            Running => &[
                Finished,
                TimedOut,
                AbortedByUser,
                AbortedBySystem,
                AbortedByScriptError,
                AbortedByThreshold,
                AbortedByLimit,
            ],
            Finished | TimedOut | AbortedByUser | AbortedBySystem | AbortedByScriptError
            | AbortedByThreshold | AbortedByLimit => &[],
        }
    }

    /// Whether a run in this status may move to `to` (see [`RunStatus::successors`]).
    pub fn can_move_to(self, to: RunStatus) -> bool {
        self.successors().contains(&to)
    }

    /// Terminal statuses never change again.
    pub const fn is_terminal(self) -> bool {
        self.successors().is_empty()
    }

    /// The number the API and the stored data use.
    pub const fn number(self) -> i32 {
        self as i32
    }

    /// The status with this number, if there is one.
    pub fn from_number(n: i32) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.number() == n)
    }

    /// The API's name: `FINISHED`, `ABORTED_BY_USER`...
    pub const fn name(self) -> &'static str {
        match self {
            Created => "CREATED",
            Validated => "VALIDATED",
            Queued => "QUEUED",
            Initializing => "INITIALIZING",
            Running => "RUNNING",
            Finished => "FINISHED",
            TimedOut => "TIMED_OUT",
            AbortedByUser => "ABORTED_BY_USER",
            AbortedBySystem => "ABORTED_BY_SYSTEM",
            AbortedByScriptError => "ABORTED_BY_SCRIPT_ERROR",
            AbortedByThreshold => "ABORTED_BY_THRESHOLD",
            AbortedByLimit => "ABORTED_BY_LIMIT",
        }
    }
}

/// How far the processing of a run's results got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(i32)]
pub enum ProcessingStatus {
    NotStarted = 0,
    Processing = 1,
    Finished = 2,
    Error = 3,
}

impl ProcessingStatus {
    /// Every processing status, in number order.
    pub const ALL: [ProcessingStatus; 4] = [
        ProcessingStatus::NotStarted,
        ProcessingStatus::Processing,
        ProcessingStatus::Finished,
        ProcessingStatus::Error,
    ];

    /// The number the API and the stored data use.
    pub const fn number(self) -> i32 {
        self as i32
    }

    /// The API's name: `NOT_STARTED`, `PROCESSING`, `FINISHED`, `ERROR`.
    pub const fn name(self) -> &'static str {
        match self {
            ProcessingStatus::NotStarted => "NOT_STARTED",
            ProcessingStatus::Processing => "PROCESSING",
            ProcessingStatus::Finished => "FINISHED",
            ProcessingStatus::Error => "ERROR",
        }
    }
}

/// Whether a run passed: its thresholds held and nothing marked it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(i32)]
pub enum ResultStatus {
    Passed = 0,
    Failed = 1,
}

impl ResultStatus {
    /// Both result statuses, in number order.
    pub const ALL: [ResultStatus; 2] = [ResultStatus::Passed, ResultStatus::Failed];

    /// The number the API and the stored data use.
    pub const fn number(self) -> i32 {
        self as i32
    }

    /// The API's name: `PASSED` or `FAILED`.
    pub const fn name(self) -> &'static str {
        match self {
            ResultStatus::Passed => "PASSED",
            ResultStatus::Failed => "FAILED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are the k6 cloud's and are stored on disk: they must never change.
    #[test]
    fn numbers_and_names_are_fixed() {
        let want = [
            (-2, "CREATED"),
            (-1, "VALIDATED"),
            (0, "QUEUED"),
            (1, "INITIALIZING"),
            (2, "RUNNING"),
            (3, "FINISHED"),
            (4, "TIMED_OUT"),
            (5, "ABORTED_BY_USER"),
            (6, "ABORTED_BY_SYSTEM"),
            (7, "ABORTED_BY_SCRIPT_ERROR"),
            (8, "ABORTED_BY_THRESHOLD"),
            (9, "ABORTED_BY_LIMIT"),
        ];
        let got: Vec<_> = RunStatus::ALL
            .iter()
            .map(|s| (s.number(), s.name()))
            .collect();
        assert_eq!(got, want);
        for (n, _) in want {
            let s = RunStatus::from_number(n).map(RunStatus::number);
            assert_eq!(s, Some(n));
        }
        assert_eq!(RunStatus::from_number(99), None);
        assert_eq!(RunStatus::from_number(-3), None);
        let p: Vec<_> = ProcessingStatus::ALL
            .iter()
            .map(|s| (s.number(), s.name()))
            .collect();
        assert_eq!(
            p,
            [
                (0, "NOT_STARTED"),
                (1, "PROCESSING"),
                (2, "FINISHED"),
                (3, "ERROR")
            ]
        );
        let r: Vec<_> = ResultStatus::ALL
            .iter()
            .map(|s| (s.number(), s.name()))
            .collect();
        assert_eq!(r, [(0, "PASSED"), (1, "FAILED")]);
    }

    /// Each enum is its number in JSON, both ways, and an unknown number is refused.
    #[test]
    fn serialized_as_numbers() {
        for s in RunStatus::ALL {
            let j = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(j, s.number().to_string());
            assert_eq!(serde_json::from_str::<RunStatus>(&j).ok(), Some(s));
        }
        for s in ProcessingStatus::ALL {
            let j = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(j, s.number().to_string());
            assert_eq!(serde_json::from_str::<ProcessingStatus>(&j).ok(), Some(s));
        }
        for s in ResultStatus::ALL {
            let j = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(j, s.number().to_string());
            assert_eq!(serde_json::from_str::<ResultStatus>(&j).ok(), Some(s));
        }
        assert!(serde_json::from_str::<RunStatus>("99").is_err());
        assert!(serde_json::from_str::<RunStatus>("\"FINISHED\"").is_err());
        assert!(serde_json::from_str::<ProcessingStatus>("4").is_err());
        assert!(serde_json::from_str::<ResultStatus>("2").is_err());
    }

    /// The table allows exactly the documented rule: forward only (skipping is fine), terminal
    /// statuses are final. The rule is checked here on the numbers, independently of the table.
    #[test]
    fn transitions_follow_the_lifecycle() {
        for from in RunStatus::ALL {
            let terminal = from.number() >= 3;
            assert_eq!(from.is_terminal(), terminal, "{from:?}");
            for to in RunStatus::ALL {
                let legal = !terminal && to.number() > from.number();
                assert_eq!(from.can_move_to(to), legal, "{from:?} -> {to:?}");
            }
        }
    }
}
