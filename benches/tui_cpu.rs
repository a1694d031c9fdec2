//! CPU used by the control room, measured from /proc (utime + stime of the
//! orch process, all threads), with orch running in a 200x50 tmux session:
//!
//! 1. idle: 10 agents that print once and then sleep, over 30 s;
//! 2. flood: 4 agents printing as fast as they can, over 10 s, next to the
//!    tmux server running the same 4 commands in 4 panes of its own.
//!
//! `cargo bench --bench tui_cpu` (needs tmux and git).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

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

/// Percent of one core used by `pid` over `window`.
fn cpu_percent(pid: u32, window: Duration) -> f64 {
    let start = ticks(pid).unwrap_or(0);
    let t0 = Instant::now();
    std::thread::sleep(window);
    let end = ticks(pid).unwrap_or(start);
    (end - start) as f64 / clock_ticks() / t0.elapsed().as_secs_f64() * 100.0
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

fn repo_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    sh(
        dir.path(),
        "git init -q -b main && echo x > f && git add f && git commit -qm init",
    );
    std::fs::write(dir.path().join("orch.toml"), config).expect("config");
    dir
}

fn tmux(args: &[&str]) {
    let _ = Command::new("tmux").args(args).status();
}

fn pane_pid(session: &str) -> u32 {
    let out = Command::new("tmux")
        .args(["list-panes", "-t", session, "-F", "#{pane_pid}"])
        .output()
        .expect("list-panes");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("pane pid")
}

/// orch's pid: the child of the pane's shell.
fn orch_pid(session: &str) -> u32 {
    let shell = pane_pid(session);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")) {
            if let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
                return pid;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("orch did not start");
}

fn tmux_server_pid() -> u32 {
    let out = Command::new("tmux")
        .args(["display-message", "-p", "#{pid}"])
        .output()
        .expect("tmux");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("server pid")
}

fn run_orch(name: &str, dir: &Path) -> u32 {
    tmux(&["kill-session", "-t", name]);
    let cmd = format!("{ORCH}; sleep 600");
    let ok = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "200",
            "-y",
            "50",
            "-c",
        ])
        .arg(dir)
        .arg(cmd)
        .status()
        .expect("tmux")
        .success();
    assert!(ok);
    orch_pid(name)
}

fn main() {
    let idle_window = Duration::from_secs(30);
    let flood_window = Duration::from_secs(10);

    // 1. Idle: 10 agents that printed once and wait.
    let mut config = String::from(
        "[project]\nmax_parallel = 10\n[defaults]\nheartbeat_warn = \"1h\"\nheartbeat_stall = \"2h\"\ntimeout = \"3h\"\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n",
    );
    for i in 0..10 {
        config.push_str(&format!(
            "[[tasks]]\nid = \"idle{i}\"\nagent = \"sh\"\nprompt = \"echo ready; sleep 3600\"\n"
        ));
    }
    let dir = repo_with(&config);
    let pid = run_orch("bench-idle", dir.path());
    std::thread::sleep(Duration::from_secs(3));
    let idle = cpu_percent(pid, idle_window);
    tmux(&["send-keys", "-t", "bench-idle", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(&["send-keys", "-t", "bench-idle", "y"]);
    std::thread::sleep(Duration::from_secs(2));
    tmux(&["kill-session", "-t", "bench-idle"]);

    // 2. Flood: 4 agents printing as fast as they can.
    let flood_cmd = "yes 'the quick brown fox jumps over the lazy dog 0123456789'";
    let mut config = String::from(
        "[project]\nmax_parallel = 4\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n",
    );
    for i in 0..4 {
        config.push_str(&format!(
            "[[tasks]]\nid = \"flood{i}\"\nagent = \"sh\"\nprompt = \"{flood_cmd}\"\n"
        ));
    }
    let dir = repo_with(&config);
    let pid = run_orch("bench-flood", dir.path());
    std::thread::sleep(Duration::from_secs(2));
    let orch_flood = cpu_percent(pid, flood_window);
    tmux(&["send-keys", "-t", "bench-flood", "q"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(&["send-keys", "-t", "bench-flood", "y"]);
    std::thread::sleep(Duration::from_secs(3));
    tmux(&["kill-session", "-t", "bench-flood"]);

    // tmux itself with the same 4 commands in 4 panes of a 200x50 window.
    tmux(&["kill-session", "-t", "bench-tmux"]);
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "bench-tmux",
        "-x",
        "200",
        "-y",
        "50",
        flood_cmd,
    ]);
    for _ in 0..3 {
        tmux(&["split-window", "-t", "bench-tmux", flood_cmd]);
        tmux(&["select-layout", "-t", "bench-tmux", "tiled"]);
    }
    std::thread::sleep(Duration::from_secs(2));
    // The server that runs this session (killing the last session above may
    // have ended the previous one).
    let server = tmux_server_pid();
    let tmux_flood = cpu_percent(server, flood_window);
    tmux(&["kill-session", "-t", "bench-tmux"]);

    println!("control room CPU (percent of one core, whole orch process)");
    println!(
        "  idle, 10 idle agents, {}s        : {idle:6.2}%",
        idle_window.as_secs()
    );
    println!(
        "  4 agents flooding, {}s          : {orch_flood:6.1}%",
        flood_window.as_secs()
    );
    println!("  tmux server, same 4 commands in 4 panes: {tmux_flood:6.1}%");
}
