//! Outputs of raw samples (`--out`), k6's formats.
pub mod json;
