//! What the OS waiting check costs per call: `agent_blocked_reading` (with
//! the `tcgetpgrp` of `AgentProcess::foreground_group`) on real agents in
//! real terminals, each in the state it will be checked in:
//! - blocked in `read` (`sh -c 'read x'`): the full path, every member's
//!   `syscall` read and its descriptor checked;
//! - busy in a loop: stopped at the first running process;
//! - an event loop in poll (`tests/agents/event_loop.sh`), settled by the
//!   group's leader alone;
//! - the same behind a wrapper shell (`sh -c '...; echo done'`): the walk
//!   stops at the loop;
//! - a shell with 8 sleeping background jobs and `cat` reading in the
//!   foreground: the walk of a larger tree.
//!
//! Prints microseconds per call (median, 99th percentile, mean). The
//! engine means to run it about once a second per quiet running agent.

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch::agent::pty::{AgentExit, AgentProcess, SpawnSpec};
use orch::agent::waiting::os::agent_blocked_reading;

const CALLS: usize = 5_000;

struct Agent {
    proc: Arc<AgentProcess>,
    exits: mpsc::Receiver<AgentExit>,
    _dir: tempfile::TempDir,
}

fn start(command: &[&str]) -> Agent {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = SpawnSpec {
        command: command.iter().map(|s| s.to_string()).collect(),
        cwd: dir.path().to_owned(),
        env: Vec::new(),
        rows: 24,
        cols: 80,
        log_path: dir.path().join("agent.log"),
        log_cap_bytes: 1 << 20,
        history_lines: 100,
        on_output: None,
        confine: None,
    };
    let (tx, exits) = mpsc::channel();
    let proc = AgentProcess::spawn(
        spec,
        Box::new(move |exit| {
            let _ = tx.send(exit);
        }),
    )
    .expect("spawn");
    Agent {
        proc,
        exits,
        _dir: dir,
    }
}

impl Agent {
    fn check(&self) -> Option<u32> {
        agent_blocked_reading(self.proc.pid(), self.proc.foreground_group())
    }

    fn stop(self) {
        self.proc.terminate(Duration::from_millis(200));
        let _ = self.exits.recv_timeout(Duration::from_secs(10));
    }
}

fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn screen_has(a: &Agent, needle: &str) -> bool {
    a.proc
        .screen()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .screen()
        .contents()
        .contains(needle)
}

/// Time `CALLS` calls of `f`; print median, p99 and mean in microseconds.
fn measure(name: &str, mut f: impl FnMut()) {
    for _ in 0..100 {
        f();
    }
    let mut samples: Vec<Duration> = (0..CALLS)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed()
        })
        .collect();
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = samples.iter().map(|&d| us(d)).sum::<f64>() / samples.len() as f64;
    let p99 = samples[samples.len() * 99 / 100];
    println!(
        "{name:<48} median {:>7.1} µs  p99 {:>7.1} µs  mean {:>7.1} µs",
        us(samples[samples.len() / 2]),
        us(p99),
        mean
    );
}

fn main() {
    let event_loop = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agents/event_loop.sh");
    let event_loop = event_loop.to_str().expect("a UTF-8 path");
    println!("agent_blocked_reading, {CALLS} calls each:");

    let reader = start(&["sh", "-c", "read x"]);
    wait_until(|| reader.check().is_some(), "the read found");
    measure("blocked in read (found)", || {
        assert!(reader.check().is_some());
    });
    measure("  of which foreground_group (tcgetpgrp)", || {
        assert!(reader.proc.foreground_group().is_some());
    });

    let busy = start(&["sh", "-c", "echo looping; while :; do :; done"]);
    wait_until(|| screen_has(&busy, "looping"), "the loop");
    measure("busy loop (not found)", || {
        assert!(busy.check().is_none());
    });

    let poller = start(&[event_loop]);
    wait_until(|| screen_has(&poller, "ready"), "the event loop");
    measure("event loop in poll (not found)", || {
        assert!(poller.check().is_none());
    });

    let wrapped_loop = format!("{event_loop}; echo done");
    let wrapped = start(&["sh", "-c", &wrapped_loop]);
    wait_until(|| screen_has(&wrapped, "ready"), "the wrapped event loop");
    measure("wrapper shell around an event loop (not found)", || {
        assert!(wrapped.check().is_none());
    });

    let jobs = "for i in 1 2 3 4 5 6 7 8; do sleep 600 & done; cat";
    let big = start(&["sh", "-c", jobs]);
    wait_until(|| big.check().is_some(), "cat found among the jobs");
    measure("cat reading beside 8 background sleeps", || {
        assert!(big.check().is_some());
    });

    for a in [reader, busy, poller, wrapped, big] {
        a.stop();
    }
}
