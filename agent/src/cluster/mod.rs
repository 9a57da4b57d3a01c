//! The agent side of the cluster: the engine runs a segment of a test under the controller's
//! direction ([`hooks`]), and [`client`] keeps the agent's one stream to the controller.

pub mod batch;
pub mod client;
pub mod hooks;
pub mod telemetry;
