//! CPU used by the control room, measured from /proc (utime + stime, all
//! threads) of both its processes: the server (`orch __server`, the run
//! lock's holder) and the client (`orch` in a 200x50 tmux pane):
//!
//! 1. idle: 10 agents that print once and then sleep, over 30 s;
//! 2. flood: 4 agents printing as fast as they can, over 10 s, next to a
//!    tmux server running the same 4 commands in 4 panes of its own (no
//!    client attached to it).
//!
//! The server is ended with `orch stop`. `cargo bench --bench tui_cpu`
//! (needs tmux and git).

mod common;

use std::time::Duration;

use common::room::{idle_cpu, print_cpu, Room};
use common::tmux::Tmux;
use common::{config, cpu_percents, repo_with, tasks};

fn main() {
    let idle_window = Duration::from_secs(30);
    let flood_window = Duration::from_secs(10);

    // 1. Idle: 10 agents that printed once and wait.
    let idle = idle_cpu("tui-idle", idle_window);

    // 2. Flood: 4 agents printing as fast as they can.
    let flood_cmd = "yes 'the quick brown fox jumps over the lazy dog 0123456789'";
    let dir = repo_with(&config(&tasks("flood", 4, flood_cmd)));
    let room = Room::open("tui-flood", dir.path());
    std::thread::sleep(Duration::from_secs(2));
    let orch_flood = room.cpu(flood_window);
    drop(room);

    // tmux itself with the same 4 commands in 4 panes of a 200x50 window.
    let tmux = Tmux::new("tui-tmux");
    tmux.session("flood", dir.path(), flood_cmd, (200, 50));
    for _ in 0..3 {
        tmux.run(&["split-window", "-t", "flood", flood_cmd]);
        tmux.run(&["select-layout", "-t", "flood", "tiled"]);
    }
    std::thread::sleep(Duration::from_secs(2));
    let tmux_flood = cpu_percents(&[tmux.server_pid()], flood_window)[0];
    drop(tmux);

    println!("control room CPU (percent of one core; server + client)");
    print_cpu(
        &format!("idle, 10 idle agents, {}s", idle_window.as_secs()),
        idle,
    );
    print_cpu(
        &format!("4 agents flooding, {}s", flood_window.as_secs()),
        orch_flood,
    );
    println!(
        "  {:<34}: {tmux_flood:6.1}%",
        "tmux server, same 4 commands in 4 panes"
    );
}
