//! The HTTP target of the tests: a `volley target` on a loopback port the OS picks.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::paths::volley_bin;

/// A running `volley target` on 127.0.0.1 (random port), killed on drop.
pub struct Target {
    child: Child,
    pub url: String,
}

impl Target {
    pub fn start() -> Target {
        let mut child = Command::new(volley_bin())
            .args(["target", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start volley target");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read target banner");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("url in banner")
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected banner {line:?}"
        );
        Target { child, url }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
