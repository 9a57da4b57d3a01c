//! One run across agents, split by job: the pure lifecycle state machine ([`machine`], with
//! its input handling in `inputs` and its health checks in `checks`), the task that drives it
//! ([`driver`]), the queue and placement ([`scheduler`], its policy in [`queue`]), the exact merge of metric batches
//! ([`merge`]), runs streamed from a local `volley run --out cloud` ([`streamed`]) and the
//! end-of-run summary ([`finish`]). [`crate::coordinator`] is the front the rest of the
//! controller talks to.

mod checks;
pub mod config;
pub mod driver;
pub mod finish;
mod inputs;
pub mod machine;
pub mod merge;
pub mod messages;
pub mod queue;
pub mod scheduler;
pub mod streamed;

#[cfg(test)]
mod tests;
