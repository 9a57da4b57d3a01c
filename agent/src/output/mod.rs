//! Outputs (`--out`): raw samples in k6's formats (`json`), and the run's aggregates streamed
//! to a Volley controller (`cloud`).
pub mod cloud;
pub mod json;
