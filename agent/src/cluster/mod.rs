//! The agent side of the cluster: [`client`] keeps the agent's one stream to the controller and
//! runs the engine on a segment of a test under the controller's direction (through the
//! engine's hooks, `crate::engine::hooks`); [`probe`] is its optional HTTP listener for
//! health probes and Prometheus, which reads the agent's [`status`]. An assignment is checked
//! whole before its run is set up (`assignment`).

mod abort_report;
mod assignment;
pub mod client;
pub mod dial;
mod dial_hint;
mod drain;
pub mod probe;
pub mod status;
pub mod targets;
pub mod telemetry;
