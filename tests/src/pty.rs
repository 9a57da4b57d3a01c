//! Running a command on a pseudo-terminal, as a user's terminal runs it: its stdin, stdout and
//! stderr are the pty's slave side (so `isatty` is true and the CLI draws live views and
//! colours), and everything it writes, escape codes included, is read from the master side.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A process on a pty of 50 rows × 160 columns, with what it wrote so far.
pub struct PtyProc {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl PtyProc {
    /// Spawns `cmd` on a new pty (`TERM=xterm-256color`, `NO_COLOR` removed unless `cmd` sets
    /// it again after this call cannot: set it with `keep_no_color`).
    pub fn spawn(mut cmd: Command, keep_no_color: bool) -> PtyProc {
        let (mut master, mut slave): (libc::c_int, libc::c_int) = (-1, -1);
        let size = libc::winsize {
            ws_row: 50,
            ws_col: 160,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the given integers; the name and termios
        // pointers may be null, and the winsize outlives the call.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened by openpty and are owned by nobody else.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty's slave side"));
        cmd.stdin(io(&slave))
            .stdout(io(&slave))
            .stderr(io(&slave))
            .env("TERM", "xterm-256color");
        if !keep_no_color {
            cmd.env_remove("NO_COLOR");
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?} on a pty: {e}"));
        // The slave side stays open only in the child, so the master reads EOF (EIO) once the
        // child and everything it started have exited.
        drop(cmd);
        drop(slave);
        let output = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let output = output.clone();
            let mut master = master;
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = master.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]);
                }
            })
        };
        PtyProc {
            child,
            output,
            reader: Some(reader),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything written so far, escape codes included (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Waits until the output satisfies `pred`; false after `timeout`.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.text()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        pred(&self.text())
    }

    /// Waits for the exit and the last output; the exit code, or a panic with the output after
    /// `timeout` (the process is killed then).
    pub fn exit_code(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return status.code().unwrap_or(-1);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the process on the pty did not exit within {timeout:?}:\n{}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PtyProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
