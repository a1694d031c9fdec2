//! Where a task's terminal screen comes from: a live agent, or a replay of a
//! finished attempt's log (so earlier output stays viewable).

use std::sync::{Arc, Mutex};

use crate::agent::backend::AgentTerminal;
use crate::agent::log_file::read_log;
use crate::agent::screen::TerminalScreen;

#[derive(Clone)]
pub enum OutputSource {
    Live(Arc<dyn AgentTerminal>),
    Replay(Arc<Mutex<TerminalScreen>>),
}

impl std::fmt::Debug for OutputSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputSource::Live(p) => write!(f, "Live(pid {})", p.pid()),
            OutputSource::Replay(_) => f.write_str("Replay"),
        }
    }
}

impl OutputSource {
    /// Replay a log file into a screen of the given size.
    pub fn replay(
        log: &std::path::Path,
        rows: u16,
        cols: u16,
        history: usize,
    ) -> Option<OutputSource> {
        let bytes = read_log(log).ok()?;
        let mut screen = TerminalScreen::new(rows.max(2), cols.max(2), history);
        screen.process(&bytes);
        Some(OutputSource::Replay(Arc::new(Mutex::new(screen))))
    }

    /// A screen fed from memory (tests, snapshots).
    pub fn from_bytes(bytes: &[u8], rows: u16, cols: u16) -> OutputSource {
        let mut screen = TerminalScreen::new(rows, cols, 10_000);
        screen.process(bytes);
        OutputSource::Replay(Arc::new(Mutex::new(screen)))
    }

    /// Run `f` on the up-to-date screen. A poisoned lock (a reader thread
    /// panicked) still holds a usable screen, so it is used anyway.
    pub fn with_screen<R>(&self, f: impl FnOnce(&mut TerminalScreen) -> R) -> R {
        let mutex = match self {
            OutputSource::Live(process) => process.screen(),
            OutputSource::Replay(screen) => screen,
        };
        let mut guard = mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.has_pending() {
            guard.sync();
        }
        f(&mut guard)
    }

    pub fn output_seq(&self) -> u64 {
        match self {
            OutputSource::Live(process) => process.output_seq(),
            OutputSource::Replay(_) => 0,
        }
    }

    pub fn process(&self) -> Option<&Arc<dyn AgentTerminal>> {
        match self {
            OutputSource::Live(process) => Some(process),
            OutputSource::Replay(_) => None,
        }
    }
}
