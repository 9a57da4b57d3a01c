//! The audit log: security-relevant lines (authentication, submits, stops, tokens, agents) go
//! to one `tracing` target, so an operator can route them apart from the rest of the log.

/// The `tracing` target of audit lines (authentication, submits, stops, tokens, agents).
pub const AUDIT: &str = "volley::audit";
