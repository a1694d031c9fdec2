//! `orch heartbeat`'s round trip, as an agent pays it: fork and exec of the
//! client, connect, hello (with its token), the server's identity check
//! (`SO_PEERCRED`, the ancestry walk), the engine's answer, exit. Measured
//! twice against a foreground `orch --no-tui` run:
//! - inside the agent: a loop of heartbeats timed by the agent itself
//!   (`tests/agents/heartbeat_env.sh`), the mean per call;
//! - from here, with the agent's ORCH_SOCKET and ORCH_TOKEN: each call
//!   timed alone, median and 99th percentile.
//!
//! Also the fork and exec of `orch --version` alone, for what the client's
//! start costs before it talks to anyone.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{agent, config, repo_with, wait_until, ORCH};

const INSIDE: usize = 200;
const OUTSIDE: usize = 200;

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn timed(mut command: impl FnMut() -> Command, runs: usize) -> Vec<Duration> {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            let status = command().status().expect("run orch");
            let took = t0.elapsed();
            assert!(status.success(), "{status}");
            took
        })
        .collect();
    samples.sort();
    samples
}

fn main() {
    let out = Path::new("/tmp").join(format!("orch-bench-hb-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("out dir");
    let (result, envfile, go) = (out.join("inside"), out.join("env"), out.join("go"));
    let prompt = format!(
        "{} {ORCH} {INSIDE} {} {} {}",
        agent("heartbeat_env.sh"),
        result.display(),
        envfile.display(),
        go.display()
    );
    let repo = repo_with(&config(&[("hb".to_string(), prompt)]));
    let mut run = Command::new(ORCH)
        .arg("--no-tui")
        .current_dir(repo.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("orch --no-tui");
    let ready = wait_until(Duration::from_secs(120), || envfile.exists());
    if !ready {
        let _ = run.kill();
        panic!("the agent never finished its heartbeats");
    }
    let inside = std::fs::read_to_string(&result).expect("inside");
    let fields: Vec<u64> = inside
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().expect("number"))
        .collect();
    let mean_inside = fields[0] as f64 / fields[1] as f64 / 1e6;

    let env = std::fs::read_to_string(&envfile).expect("env");
    let mut lines = env.lines();
    let (socket, token) = (lines.next().expect("socket"), lines.next().expect("token"));
    let heartbeat = || {
        let mut c = Command::new(ORCH);
        c.args(["heartbeat", "--note", "bench"])
            .env("ORCH_SOCKET", socket)
            .env("ORCH_TOKEN", token);
        c
    };
    let outside = timed(heartbeat, OUTSIDE);
    let version = timed(
        || {
            let mut c = Command::new(ORCH);
            c.arg("--version").stdout(std::process::Stdio::null());
            c
        },
        OUTSIDE,
    );
    std::fs::write(&go, "").expect("go");
    let _ = run.wait();
    let _ = std::fs::remove_dir_all(&out);

    println!("orch heartbeat round trip (fork + exec of the client included)");
    println!("  inside the agent, {INSIDE} in a loop: mean {mean_inside:.2} ms");
    println!(
        "  from outside with the agent's token, {OUTSIDE} timed one by one: median {:.2} ms, p99 {:.2} ms",
        quantile(&outside, 0.5),
        quantile(&outside, 0.99)
    );
    println!(
        "  orch --version alone (fork + exec, no socket): median {:.2} ms",
        quantile(&version, 0.5)
    );
}
