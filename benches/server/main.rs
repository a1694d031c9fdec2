//! The server and its clients, next to tmux doing the same in the same run:
//!
//! 1. attach round trip: a key typed into `orch attach` / `tmux attach`
//!    (each in a 200x50 PTY of the bench's) until its echo is drawn back,
//!    200 samples each, alternating (`round_trip`);
//! 2. flood: bytes per second an attached client receives while its agent
//!    prints as fast as it can, how fast the agent got on, and CPU of server
//!    and client (`flood`);
//! 3. idle CPU of server and client with 10 idle agents and one control
//!    room at 200x50 in tmux (`common::room`);
//! 4. memory of the server with 10 agents that each printed 10,000 lines of
//!    200 columns (`memory`).
//!
//! `cargo bench --bench server` (needs tmux and git). Each part can be run
//! alone: `cargo bench --bench server -- rtt flood idle memory` (any of
//! them; all by default).

#[path = "../common/mod.rs"]
mod common;
mod flood;
mod memory;
mod pty_client;
mod round_trip;

use std::time::Duration;

const PARTS: [&str; 4] = ["rtt", "flood", "idle", "memory"];

fn main() {
    // `cargo bench` passes `--bench`; only the part names matter.
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| PARTS.contains(&a.as_str()))
        .collect();
    let wants = |part: &str| asked.is_empty() || asked.iter().any(|a| a == part);

    if wants("rtt") {
        let samples = 200;
        let (orch, tmux) = round_trip::measure(samples);
        println!("attach round trip, a key in until its echo is drawn, {samples} samples (ms)");
        println!("  {:<14} {:>8} {:>8}", "", "median", "p99");
        println!(
            "  {:<14} {:>8.3} {:>8.3}",
            "orch attach",
            orch.median(),
            orch.p99()
        );
        println!(
            "  {:<14} {:>8.3} {:>8.3}",
            "tmux attach",
            tmux.median(),
            tmux.p99()
        );
        println!(
            "  {:<14} {:>8.2} {:>8.2}",
            "orch / tmux",
            orch.median() / tmux.median(),
            orch.p99() / tmux.p99()
        );
    }

    if wants("flood") {
        let window = Duration::from_secs(8);
        let (orch, tmux) = flood::measure(window);
        println!(
            "attached client while its agent floods 60-column lines, {}s (CPU: percent of one core)",
            window.as_secs()
        );
        println!(
            "  {:<12} {:>12} {:>10} {:>14} {:>8} {:>8} {:>8}",
            "", "client MB/s", "updates/s", "agent lines/s", "server", "client", "total"
        );
        for (name, f) in [("orch attach", &orch), ("tmux attach", &tmux)] {
            println!(
                "  {name:<12} {:>12.2} {:>10.0} {:>14.0} {:>7.1}% {:>7.1}% {:>7.1}%",
                f.client_bytes / 1e6,
                f.updates,
                f.agent_lines,
                f.server_cpu,
                f.client_cpu,
                f.server_cpu + f.client_cpu
            );
        }
    }

    if wants("idle") {
        let window = Duration::from_secs(30);
        let cpu = common::room::idle_cpu("srv-idle", window);
        println!("idle CPU, 10 idle agents, one control room at 200x50 (percent of one core)");
        common::room::print_cpu(&format!("over {}s after 3s", window.as_secs()), cpu);
    }

    if wants("memory") {
        let (orch, tmux) = memory::measure();
        println!(
            "server memory, {} agents that each printed {} lines of 200 columns (MiB)",
            memory::AGENTS,
            memory::LINES
        );
        println!(
            "  {:<32} {:>8} {:>8} {:>8} {:>14}",
            "", "before", "after", "VmHWM", "bytes/line"
        );
        for (name, m) in [
            ("orch server", &orch),
            ("tmux server (history-limit 10000)", &tmux),
        ] {
            let lines = (memory::AGENTS * memory::LINES) as f64;
            println!(
                "  {name:<32} {:>8.1} {:>8.1} {:>8.1} {:>14.0}",
                m.before as f64 / 1024.0,
                m.after as f64 / 1024.0,
                m.peak as f64 / 1024.0,
                m.after.saturating_sub(m.before) as f64 * 1024.0 / lines
            );
        }
    }
}
