//! A key in, its echo drawn back: `orch attach` and `tmux attach` each in a
//! 200x50 PTY of the bench's, on an agent that echoes what it is sent
//! (`tests/agents/echo_keys.sh`). Samples alternate between the two, so
//! both see the same machine.

use std::time::Duration;

use super::pty_client::{joined_rows, PtyClient};
use crate::common::server::OrchServer;
use crate::common::tmux::Tmux;
use crate::common::{agent, config, contains, log_of, repo_with, wait_until, ORCH};

const SIZE: (u16, u16) = (200, 50);
const WARMUP: usize = 20;

/// Round trips in microseconds, sorted.
pub struct Samples(pub Vec<u64>);

impl Samples {
    fn at(&self, quantile: f64) -> f64 {
        let i = ((self.0.len() as f64 * quantile).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i] as f64 / 1000.0
    }
    /// Median in milliseconds.
    pub fn median(&self) -> f64 {
        self.at(0.5)
    }
    /// 99th percentile in milliseconds.
    pub fn p99(&self) -> f64 {
        self.at(0.99)
    }
}

/// One typist: a client and what it has typed so far.
struct Typist {
    client: PtyClient,
    typed: String,
}

impl Typist {
    /// Type the next key (uppercase, so it is never in "ready") and time
    /// until the screen shows everything typed so far.
    fn round_trip(&mut self) -> u64 {
        let key = char::from(b'A' + (self.typed.len() % 26) as u8);
        self.typed.push(key);
        let typed = self.typed.clone();
        let sent = std::time::Instant::now();
        self.client.type_bytes(&[key as u8]);
        let shown = self
            .client
            .until(Duration::from_secs(5), |s| joined_rows(s).contains(&typed))
            .unwrap_or_else(|| {
                panic!(
                    "no echo of {key:?}; screen:\n{}",
                    self.client.screen.screen().contents()
                )
            });
        shown.duration_since(sent).as_micros() as u64
    }
}

/// (orch attach, tmux attach), `count` samples each.
pub fn measure(count: usize) -> (Samples, Samples) {
    let echo = agent("echo_keys.sh");
    let dir = repo_with(&config(&[("echo".into(), echo.clone())]));
    let server = OrchServer::start(dir.path(), SIZE);
    let up = wait_until(Duration::from_secs(30), || {
        contains(&log_of(dir.path(), "echo"), "ready")
    });
    assert!(up, "the echo agent did not start");
    let attach = [ORCH, "attach", "echo"].map(String::from);
    let mut orch = Typist {
        client: PtyClient::spawn(&attach, dir.path(), SIZE),
        typed: String::new(),
    };
    orch.client.wait_for("ready");

    let tmux = Tmux::new("rtt");
    tmux.session("echo", dir.path(), &echo, SIZE);
    tmux.run(&["set-option", "-g", "status", "off"]);
    let mut tmux_typist = Typist {
        client: PtyClient::spawn(&tmux.attach_argv("echo"), dir.path(), SIZE),
        typed: String::new(),
    };
    tmux_typist.client.wait_for("ready");

    let mut orch_samples = Vec::with_capacity(count);
    let mut tmux_samples = Vec::with_capacity(count);
    // A typist's pace, varied (10 to 40 ms between keys) so keys fall at
    // every point of a frame interval.
    let mut seed: u32 = 0x9e37_79b9;
    let mut pause = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        std::thread::sleep(Duration::from_millis(10 + u64::from(seed % 31)));
    };
    for i in 0..WARMUP + count {
        let o = orch.round_trip();
        pause();
        let t = tmux_typist.round_trip();
        pause();
        if i >= WARMUP {
            orch_samples.push(o);
            tmux_samples.push(t);
        }
    }
    orch_samples.sort_unstable();
    tmux_samples.sort_unstable();
    drop(orch);
    drop(server);
    (Samples(orch_samples), Samples(tmux_samples))
}
