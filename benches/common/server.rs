//! An orch server for a bench's repository: started here as `orch` starts
//! it, or found as the one a control room started. `orch stop` ends it when
//! it is dropped (a panicking bench included), SIGKILL if that fails.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{alive, wait_until, ORCH};

/// How long a server with nothing left to run waits for a client: short,
/// so one a bench leaves behind does not linger.
pub const LINGER: &str = "5s";

pub struct OrchServer {
    pub dir: PathBuf,
    pub pid: u32,
}

impl OrchServer {
    /// `orch __server` for `dir`, in a session of its own, with no client;
    /// `cols`x`rows` is the terminal its first control room is assumed to
    /// have (the agents' PTYs get that room's output pane).
    pub fn start(dir: &Path, (cols, rows): (u16, u16)) -> OrchServer {
        let mut command = Command::new(ORCH);
        command
            .arg("--config")
            .arg(dir.join("orch.toml"))
            .args(["__server", "--cols", &cols.to_string()])
            .args(["--rows", &rows.to_string()])
            .current_dir(dir)
            .env(orch::control::daemon::LINGER_VAR, LINGER)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: setsid is async-signal-safe and touches no memory.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("orch __server");
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        if line.trim() != "orch server ready" {
            let mut complaint = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut complaint);
            }
            panic!("the server did not start: {line}{complaint}");
        }
        let pid = child.id();
        // Reaped as soon as it ends, so `orch stop` sees it gone.
        std::thread::spawn(move || child.wait());
        OrchServer {
            dir: dir.to_path_buf(),
            pid,
        }
    }

    /// The server some client started for `dir`: the run lock's holder.
    pub fn of(dir: &Path) -> OrchServer {
        let state_dir = dir.join(".orch");
        let mut pid = None;
        let found = wait_until(Duration::from_secs(20), || {
            pid = orch::session::lock_holder(&state_dir);
            pid.is_some()
        });
        assert!(found, "no server took {}'s run lock", dir.display());
        OrchServer {
            dir: dir.to_path_buf(),
            pid: pid.expect("found"),
        }
    }
}

impl Drop for OrchServer {
    fn drop(&mut self) {
        let _ = Command::new(ORCH)
            .arg("stop")
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !wait_until(Duration::from_secs(5), || !alive(self.pid)) {
            // SAFETY: kill has no memory preconditions; the pid is the
            // server's, still alive (unreaped) a moment ago.
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        }
    }
}
