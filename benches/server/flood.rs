//! What an attached client sees while its agent floods: an agent printing
//! numbered 60-column lines as fast as it can (`numbered_flood.sh`),
//! `orch attach` and then `tmux attach` reading it in a 200x50 PTY of the
//! bench's. Bytes the client drew, how far the agent got (the highest line
//! number on the client's screen) and CPU of server and client.

use std::time::Duration;

use super::pty_client::PtyClient;
use crate::common::server::OrchServer;
use crate::common::tmux::Tmux;
use crate::common::{agent, config, log_of, repo_with, wait_until, CpuMeter, ORCH};

const SIZE: (u16, u16) = (200, 50);
const SETTLE: Duration = Duration::from_secs(2);

pub struct Flood {
    /// Bytes per second the client received.
    pub client_bytes: f64,
    /// Lines per second the agent printed, as the client's screen shows.
    pub agent_lines: f64,
    /// Reads from the client after which its screen showed a later line
    /// than before, per second: about the frames it drew.
    pub updates: f64,
    /// Percent of one core.
    pub server_cpu: f64,
    pub client_cpu: f64,
}

/// The highest line number `numbered_flood.sh` printed that is on screen.
fn last_line(screen: &vt100::Screen) -> u64 {
    let (_, cols) = screen.size();
    screen
        .rows(0, cols.get())
        .filter_map(|row| row.get(..9)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

fn measure_client(client: &mut PtyClient, server: u32, window: Duration) -> Flood {
    client.drain_for(SETTLE);
    let (bytes, line) = (client.bytes, last_line(client.screen.screen()));
    let meter = CpuMeter::start(&[server, client.pid]);
    let started = std::time::Instant::now();
    let (mut shown, mut updates) = (line, 0u64);
    let _ = client.until(window, |screen| {
        let now = last_line(screen);
        if now > shown {
            shown = now;
            updates += 1;
        }
        false
    });
    let cpu = meter.percents();
    let secs = started.elapsed().as_secs_f64();
    Flood {
        client_bytes: (client.bytes - bytes) as f64 / secs,
        agent_lines: shown.saturating_sub(line) as f64 / secs,
        updates: updates as f64 / secs,
        server_cpu: cpu[0],
        client_cpu: cpu[1],
    }
}

/// (orch attach, tmux attach), one after the other, over `window` each.
pub fn measure(window: Duration) -> (Flood, Flood) {
    let flood = agent("numbered_flood.sh");
    let dir = repo_with(&config(&[("flood".into(), flood.clone())]));
    let orch = {
        let server = OrchServer::start(dir.path(), SIZE);
        let up = wait_until(Duration::from_secs(30), || {
            !log_of(dir.path(), "flood").is_empty()
        });
        assert!(up, "the flooding agent did not start");
        let attach = [ORCH, "attach", "flood"].map(String::from);
        let mut client = PtyClient::spawn(&attach, dir.path(), SIZE);
        client.wait_for(" the quick brown fox");
        measure_client(&mut client, server.pid, window)
    };
    let tmux = Tmux::new("flood");
    tmux.session("flood", dir.path(), &flood, SIZE);
    tmux.run(&["set-option", "-g", "status", "off"]);
    let mut client = PtyClient::spawn(&tmux.attach_argv("flood"), dir.path(), SIZE);
    client.wait_for(" the quick brown fox");
    let tmux_flood = measure_client(&mut client, tmux.server_pid(), window);
    (orch, tmux_flood)
}
