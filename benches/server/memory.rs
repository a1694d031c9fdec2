//! The server's memory with 10 agents that each printed 10,000 lines of 200
//! columns (`history.sh`, in PTYs 202 columns wide so no line wraps), then
//! sleep: VmRSS before they print and after, and VmHWM. Next to it, a tmux
//! server with 10 windows of the same size and `history-limit 10000`
//! running the same command.

use std::path::Path;
use std::time::Duration;

use crate::common::server::OrchServer;
use crate::common::tmux::Tmux;
use crate::common::{agent, config, contains, log_of, repo_with, status_kib, tasks, wait_until};

pub const AGENTS: usize = 10;
pub const LINES: usize = 10_000;
/// A control room this wide has an output pane of 204 columns: agents'
/// PTYs of 202.
const ROOM: (u16, u16) = (340, 50);
const PTY: (u16, u16) = (202, 48);

/// Memory in KiB.
pub struct Memory {
    pub before: u64,
    pub after: u64,
    pub peak: u64,
}

fn rss_settled(pid: u32) -> Memory {
    // Until two reads 500 ms apart agree within 1%.
    let mut last = 0;
    let _ = wait_until(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(500));
        let now = status_kib(pid, "VmRSS").unwrap_or(0);
        let steady = now.abs_diff(last) * 100 <= now;
        last = now;
        steady
    });
    Memory {
        before: 0,
        after: last,
        peak: status_kib(pid, "VmHWM").unwrap_or(0),
    }
}

fn go_file(dir: &Path) -> std::path::PathBuf {
    dir.join("go")
}

/// How many agents said they are done (`history.sh`'s GO.done-PID files).
fn done_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("go.done-"))
                .count()
        })
        .unwrap_or(0)
}

/// (orch server, tmux server).
pub fn measure() -> (Memory, Memory) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let go = go_file(scratch.path());
    let command = format!("{} {} {LINES}", agent("history.sh"), go.display());
    let dir = repo_with(&config(&tasks("hist", AGENTS, &command)));
    let orch = {
        let server = OrchServer::start(dir.path(), ROOM);
        let logs_say = |text: &str| {
            (0..AGENTS).all(|i| contains(&log_of(dir.path(), &format!("hist{i}")), text))
        };
        assert!(
            wait_until(Duration::from_secs(60), || logs_say("waiting")),
            "the agents did not all start"
        );
        let before = rss_settled(server.pid).after;
        std::fs::write(&go, "").expect("go");
        assert!(
            wait_until(Duration::from_secs(120), || logs_say("history printed")),
            "the agents did not all finish printing"
        );
        Memory {
            before,
            ..rss_settled(server.pid)
        }
    };
    // tmux's agents wait for a GO of their own.
    std::fs::remove_file(&go).expect("reset go");
    for entry in std::fs::read_dir(scratch.path())
        .expect("scratch")
        .flatten()
    {
        std::fs::remove_file(entry.path()).expect("clear done files");
    }

    let tmux = Tmux::new("mem");
    tmux.session("hist", dir.path(), "sleep 600", PTY);
    let size = format!("{}x{}", PTY.0, PTY.1);
    tmux.run(&["set-option", "-g", "default-size", &size]);
    tmux.run(&["set-option", "-g", "history-limit", &LINES.to_string()]);
    for i in 0..AGENTS {
        let name = format!("w{i}");
        tmux.run(&["new-window", "-d", "-t", "hist", "-n", &name, &command]);
    }
    let shown_in_all =
        |text: &str| (0..AGENTS).all(|i| tmux.screen(&format!("hist:w{i}")).contains(text));
    assert!(
        wait_until(Duration::from_secs(60), || shown_in_all("waiting")),
        "tmux's windows did not all start"
    );
    let pid = tmux.server_pid();
    let before = rss_settled(pid).after;
    std::fs::write(&go, "").expect("go");
    // Each agent leaves a file when it has printed everything; then the
    // screens are read once more to see tmux has drawn it.
    assert!(
        wait_until(Duration::from_secs(120), || done_files(scratch.path())
            == AGENTS
            && shown_in_all("history printed")),
        "tmux's windows did not all finish printing"
    );
    let tmux_memory = Memory {
        before,
        ..rss_settled(pid)
    };
    (orch, tmux_memory)
}
