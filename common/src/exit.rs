//! Exit codes of `volley run` (k6's codes; DESIGN §5).

/// The process exit codes Volley uses. They are k6's, so CI scripts keep working.
pub mod code {
    pub const OK: i32 = 0;
    pub const SYSTEM: i32 = 97;
    pub const CONTROLLER_LOST: i32 = 98;
    pub const THRESHOLDS_FAILED: i32 = 99;
    pub const SETUP_TIMEOUT: i32 = 100;
    pub const TEARDOWN_TIMEOUT: i32 = 101;
    pub const GENERIC_TIMEOUT: i32 = 102;
    pub const STOPPED_FROM_API: i32 = 103;
    pub const INVALID_CONFIG: i32 = 104;
    pub const EXTERNAL_ABORT: i32 = 105;
    pub const CANNOT_START_API: i32 = 106;
    pub const SCRIPT_EXCEPTION: i32 = 107;
    pub const SCRIPT_ABORTED: i32 = 108;
    pub const MARKED_AS_FAILED: i32 = 110;
    /// An error that carries no code (unknown flag, missing script...), as k6's 255.
    pub const UNKNOWN: i32 = 255;
}
