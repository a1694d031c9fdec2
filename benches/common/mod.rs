//! What the process-level benchmarks (`tui_cpu`, `server`) share: CPU and
//! memory of processes read from /proc, throwaway repositories with an
//! `orch.toml`, a tmux server of their own (`tmux`), and orch servers that
//! are stopped however the bench ends (`server`).
#![allow(dead_code)]

pub mod room;
pub mod server;
pub mod tmux;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub const ORCH: &str = env!("CARGO_BIN_EXE_orch");

/// Absolute path of one of the test agents in `tests/agents/`.
pub fn agent(name: &str) -> String {
    format!("{}/tests/agents/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// utime + stime of `pid` (all its threads), in clock ticks.
fn ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the name).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// CPU of a few processes over the same stretch of time.
pub struct CpuMeter {
    pids: Vec<u32>,
    start: Vec<u64>,
    t0: Instant,
}

impl CpuMeter {
    pub fn start(pids: &[u32]) -> CpuMeter {
        CpuMeter {
            pids: pids.to_vec(),
            start: pids.iter().map(|&p| ticks(p).unwrap_or(0)).collect(),
            t0: Instant::now(),
        }
    }

    /// Percent of one core each process used since `start`, in its order.
    pub fn percents(&self) -> Vec<f64> {
        let secs = self.t0.elapsed().as_secs_f64();
        self.pids
            .iter()
            .zip(&self.start)
            .map(|(&pid, &start)| {
                let end = ticks(pid).unwrap_or(start);
                end.saturating_sub(start) as f64 / clock_ticks() / secs * 100.0
            })
            .collect()
    }
}

/// Percent of one core each of `pids` used over `window`.
pub fn cpu_percents(pids: &[u32], window: Duration) -> Vec<f64> {
    let meter = CpuMeter::start(pids);
    std::thread::sleep(window);
    meter.percents()
}

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn alive(pid: u32) -> bool {
    // A zombie has no status fields beyond its name and state.
    status_kib(pid, "VmSize").is_some()
}

/// Poll `done` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sh(dir: &Path, cmd: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .status()
        .expect("sh")
        .success();
    assert!(ok, "{cmd}");
}

/// A git repository with one commit and this `orch.toml`.
pub fn repo_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("orch-bench-")
        .tempdir()
        .expect("tempdir");
    sh(
        dir.path(),
        "git init -q -b main && echo x > f && git add f && git commit -qm init",
    );
    std::fs::write(dir.path().join("orch.toml"), config).expect("config");
    dir
}

/// An `orch.toml` running each `(id, shell command)` at once, with no
/// heartbeat or timeout that could stop a quiet agent during a bench.
pub fn config(tasks: &[(String, String)]) -> String {
    let mut config = format!(
        "[project]\nmax_parallel = {}\n[defaults]\nheartbeat_warn = \"1h\"\nheartbeat_stall = \"2h\"\ntimeout = \"3h\"\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n",
        tasks.len()
    );
    for (id, prompt) in tasks {
        config.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\nagent = \"sh\"\nprompt = \"{prompt}\"\n"
        ));
    }
    config
}

/// `count` tasks `{prefix}0..` all running `prompt`.
pub fn tasks(prefix: &str, count: usize, prompt: &str) -> Vec<(String, String)> {
    (0..count)
        .map(|i| (format!("{prefix}{i}"), prompt.to_string()))
        .collect()
}

/// The first attempt's log of `task` in `dir` (empty until it exists).
pub fn log_of(dir: &Path, task: &str) -> Vec<u8> {
    std::fs::read(dir.join(".orch/logs").join(task).join("1.log")).unwrap_or_default()
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
