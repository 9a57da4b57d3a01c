//! `run_until`: the printed address, serving, stopping and bind failures, on one and many threads.

use super::*;

/// Collects written text and hands each flushed chunk to a channel, like a parent process
/// reading the child's stdout.
struct ChannelWriter(std::sync::mpsc::Sender<String>, Vec<u8>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.1)).into_owned();
        let _ = self.0.send(text);
        Ok(())
    }
}

fn run_in_thread(threads: usize) {
    use std::io::{Read, Write as _};
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let cfg = TargetConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            threads,
        };
        run_until(&cfg, &mut ChannelWriter(line_tx, Vec::new()), async {
            let _ = stop_rx.await;
            Ok(())
        })
    });
    let line = line_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("volley target listening on http://")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0, "the real bound port is printed");
    assert!(line.ends_with('\n'));

    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200 OK") && out.ends_with("\r\n\r\nok"),
        "{out}"
    );

    stop_tx.send(()).unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn run_until_prints_address_serves_and_stops_single_thread() {
    run_in_thread(1);
}

#[test]
fn run_until_prints_address_serves_and_stops_multi_thread() {
    run_in_thread(2);
}

#[test]
fn run_until_reports_bind_failure_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = TargetConfig {
        listen: taken.local_addr().unwrap(),
        threads: 1,
    };
    let mut out = Vec::new();
    let err = run_until(&cfg, &mut out, std::future::pending()).unwrap_err();
    assert!(
        format!("{err:#}").contains(&format!("--listen {}", cfg.listen)),
        "{err:#}"
    );
    assert!(out.is_empty());
}

#[test]
fn runtime_thread_counts() {
    assert!(build_runtime(0).is_ok());
    assert!(build_runtime(1).is_ok());
    assert!(build_runtime(3).is_ok());
}
