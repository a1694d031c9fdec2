//! How soon orch knows an agent needs someone, and what watching costs.
//!
//! - Latency, per signal, against a real engine: an agent records the
//!   time (`date +%s%N`) just before it asks, then asks either by saying
//!   so (`orch heartbeat --waiting`: the agent signal), by printing a
//!   prompt the generic screen presets know and not reading (`[y/N]`: the
//!   screen signal) or by reading its terminal after a prompt no screen
//!   rule knows (`read`: the operating-system signal); the bench takes the
//!   time a headless `orch --no-tui` prints the mark's progress line. 10
//!   rounds each, median and worst.
//! - Cost: the CPU of the watcher thread (`orch-watcher`) over 10 s with
//!   10 agents that print continuously (the screen never settles), and
//!   with 10 that print a line every 0.4 s (every line settles, so each
//!   is read through the screen rules).
//!
//! `cargo bench --bench attention`

mod common;

use std::process::Command;

use std::time::{Duration, Instant};

use orch::engine::{Engine, EngineOptions};
use orch::session::{load_config, Session};

/// A repository whose plan is `tasks` (id, shell prompt).
fn repo(tasks: &[(String, String)]) -> tempfile::TempDir {
    let mut toml = format!(
        "[project]\nmax_parallel = 10\n[defaults]\nretries = 0\ninput_timeout = 0\n\
         [agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\nenv = {{ ORCH_BIN = \"{}\" }}\n",
        env!("CARGO_BIN_EXE_orch")
    );
    for (id, prompt) in tasks {
        toml.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\nagent = \"sh\"\nmerge = \"never\"\nprompt = '''{prompt}'''\n"
        ));
    }
    common::repo_with(&toml)
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The latency of one mark: the agent writes its clock to a file, then
/// asks as `how` says; the time until a headless `orch --no-tui` prints
/// the mark's progress line (what a person sees first).
fn latency(how: &str) -> Duration {
    use std::io::BufRead;
    let asked = tempfile::NamedTempFile::new().expect("file");
    let stamp = asked.path().display().to_string();
    let ask = match how {
        "agent" => "$ORCH_BIN heartbeat --waiting 'Ready?'; sleep 30",
        "screen" => "printf 'Ready? [y/N] '; sleep 30",
        _ => "printf 'Ready: '; read answer",
    };
    let prompt = format!("sleep 0.5; date +%s%N > {stamp}; {ask}");
    let dir = repo(&[("ask".to_string(), prompt)]);
    let mut orch = Command::new(env!("CARGO_BIN_EXE_orch"))
        .arg("--no-tui")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("orch --no-tui");
    let stdout = orch.stdout.take().expect("stdout");
    let mut seen_at = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line.contains("waiting for input: Ready") {
            seen_at = Some(now_ns());
            break;
        }
    }
    let _ = Command::new(env!("CARGO_BIN_EXE_orch"))
        .arg("stop")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .status();
    let _ = orch.kill();
    let _ = orch.wait();
    let seen_at = seen_at.expect("the mark was never printed");
    let asked_at: u128 = std::fs::read_to_string(asked.path())
        .expect("stamp")
        .trim()
        .parse()
        .expect("ns");
    Duration::from_nanos(u64::try_from(seen_at.saturating_sub(asked_at)).unwrap_or(0))
}

/// utime + stime of the thread named `name` of this process, in ticks.
fn thread_ticks(name: &str) -> Option<u64> {
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            return Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?);
        }
    }
    None
}

fn watcher_cpu(prompt: &str) -> f64 {
    let tasks: Vec<(String, String)> = (0..10)
        .map(|i| (format!("agent{i}"), prompt.to_string()))
        .collect();
    let dir = repo(&tasks);
    let config = load_config(&dir.path().join("orch.toml")).expect("config");
    let session = Session::open(config).expect("session");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (engine, handle) = Engine::new(
            session.config,
            session.store,
            session.repo,
            session.base_branch,
            EngineOptions {
                exit_when_settled: false,
                ..EngineOptions::default()
            },
        )
        .expect("engine");
        let run = tokio::spawn(engine.run());
        let t0 = Instant::now();
        while handle.agents().len() < 10 && t0.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let start = thread_ticks("orch-watcher").unwrap_or(0);
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let ticks = thread_ticks("orch-watcher").unwrap_or(start) - start;
        let secs = t.elapsed().as_secs_f64();
        let running = handle.agents().len();
        let _ = handle
            .tell(
                orch::engine::Actor::User("bench".into()),
                orch::engine::Request::Shutdown { stop_agents: true },
            )
            .await;
        let _ = run.await;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        println!("  ({running} agents still printing at the end; the watcher used {ticks} clock ticks in {secs:.1} s)");
        ticks as f64 / hz / secs * 100.0
    })
}

fn main() {
    println!("how soon orch knows an agent waits (10 rounds each)");
    for how in ["agent", "screen", "os"] {
        let mut samples: Vec<Duration> = (0..10).map(|_| latency(how)).collect();
        samples.sort();
        println!(
            "  {how:<5} signal: median {:.1} ms, worst {:.1} ms",
            samples[5].as_secs_f64() * 1000.0,
            samples[9].as_secs_f64() * 1000.0
        );
    }
    let flood = watcher_cpu("i=0; while :; do echo line $i of output; i=$((i+1)); done");
    println!("watching 10 agents that print continuously: watcher thread {flood:.2}% of a core");
    let lines = watcher_cpu(
        "i=0; while :; do printf '\\033[32mstep %d\\033[0m of the build\\n' $i; i=$((i+1)); sleep 0.4; done",
    );
    println!(
        "watching 10 agents that print a line every 0.4 s: watcher thread {lines:.2}% of a core"
    );
}
