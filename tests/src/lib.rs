//! Helpers for Volley's end-to-end tests (tests/tests/, run as the `volley` package's integration
//! tests): find the `volley` binary, start a `volley target` or a whole cluster on loopback, run
//! scripts and read their outputs. One module per concept; the names the test files import from
//! the crate root are re-exported here.

pub mod browser;
pub mod cluster;
pub mod grpc_server;
pub mod ha;
pub mod ha_lab;
pub mod ha_runs;
pub mod http;
pub mod k6_client;
pub mod line_log;
pub mod loopback_tls;
pub mod module_server;
pub mod netns;
pub mod paths;
pub mod process;
pub mod pty;
pub mod server_thread;
pub mod stop_matrix;
pub mod summary;
pub mod summary_run;
pub mod target;
pub mod ws_server;

pub use browser::{browser_tools, browser_tools_or_skip};
pub use cluster::{assigned_agents, last_assigned_agent, newest_run_id, printed_url, Cluster};
pub use http::{
    api_status, free_port, group_port, http_patch, http_request, http_request_to, raw_http,
};
pub use line_log::{console_message, LineLog};
pub use paths::{temp_dir, volley_bin, workspace_root, TempDir};
pub use process::{run_ok, send_signal, spawn_volley_run, volley_run, Proc};
pub use summary::summary_stat;
pub use target::Target;
