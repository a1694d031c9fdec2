//! A control room (`orch` in a 200x50 tmux pane of the bench's own tmux
//! server) and the server it started: the two processes whose CPU is the
//! control room's cost.

use std::path::Path;
use std::time::Duration;

use super::server::{OrchServer, LINGER};
use super::tmux::Tmux;
use super::{config, cpu_percents, repo_with, tasks, ORCH};

pub struct Room {
    /// First, so `orch stop` ends the client with its server before tmux
    /// goes.
    pub server: OrchServer,
    pub tmux: Tmux,
    /// `orch` in the pane: the client.
    pub client: u32,
}

impl Room {
    pub fn open(tag: &str, dir: &Path) -> Room {
        let tmux = Tmux::new(tag);
        let command = format!(
            "{}={LINGER} {ORCH}; sleep 600",
            orch::control::daemon::LINGER_VAR
        );
        tmux.session("room", dir, &command, (200, 50));
        let client = tmux.pane_child("room");
        let server = OrchServer::of(dir);
        Room {
            server,
            tmux,
            client,
        }
    }

    /// Percent of one core used by (server, client) over `window`.
    pub fn cpu(&self, window: Duration) -> (f64, f64) {
        let cpu = cpu_percents(&[self.server.pid, self.client], window);
        (cpu[0], cpu[1])
    }
}

/// CPU of (server, client) with 10 agents that printed once and wait and a
/// control room at 200x50, over `window` after a 3 s settle.
pub fn idle_cpu(tag: &str, window: Duration) -> (f64, f64) {
    let dir = repo_with(&config(&tasks("idle", 10, "echo ready; sleep 600")));
    let room = Room::open(tag, dir.path());
    let started = super::wait_until(Duration::from_secs(30), || {
        (0..10).all(|i| super::contains(&super::log_of(dir.path(), &format!("idle{i}")), "ready"))
    });
    assert!(started, "the idle agents did not all start");
    std::thread::sleep(Duration::from_secs(3));
    room.cpu(window)
}

/// Print one (server, client) measurement.
pub fn print_cpu(what: &str, (server, client): (f64, f64)) {
    println!(
        "  {what:<34}: server {server:6.2}%  client {client:6.2}%  total {:6.2}%",
        server + client
    );
}
