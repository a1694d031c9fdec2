//! The thread that watches running agents for the signals of waiting the
//! engine cannot see itself: input typed into them (which answers
//! whatever they asked) and the operating system (the terminal's
//! foreground group blocked reading it). It looks a few times a second,
//! reads only what changed or what is due, and tells the engine only when
//! a signal changes its word ([`Observation`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::agent::backend::{AgentRegistry, AgentTerminal};
use crate::agent::waiting::{os, Seen, Signal};

/// How often the running agents are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Output within this long means the agent is not waiting on its terminal.
const QUIET_FOR: Duration = Duration::from_millis(400);
/// The operating system is asked at most this often per agent.
const OS_EVERY: Duration = Duration::from_secs(1);

/// A signal's new word on one running agent (`seen` `None`: it takes its
/// last word back).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub task: String,
    pub attempt: u32,
    pub signal: Signal,
    pub seen: Option<Seen>,
    pub detail: String,
}

/// Where each observation goes; `false` once nobody listens.
pub type Sink = Box<dyn FnMut(Observation) -> bool + Send>;

/// What the watcher last said of one agent.
#[derive(Debug, Default)]
struct Said {
    input_seq: u64,
    os_blocked: Option<u32>,
    os_checked: Option<Instant>,
}

/// The watching thread; stopped when dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(registry: AgentRegistry, mut sink: Sink) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("orch-watcher".into())
            .spawn(move || {
                let mut said: HashMap<(String, u32), Said> = HashMap::new();
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(LOOK_EVERY);
                    let agents = registry.all();
                    said.retain(|(task, attempt), _| {
                        agents.iter().any(|(t, a, _)| t == task && a == attempt)
                    });
                    let now = Instant::now();
                    for (task, attempt, terminal) in agents {
                        let state = said.entry((task.clone(), attempt)).or_default();
                        for seen in look(state, terminal.as_ref(), now) {
                            let (signal, seen, detail) = seen;
                            let observation = Observation {
                                task: task.clone(),
                                attempt,
                                signal,
                                seen,
                                detail,
                            };
                            if !sink(observation) {
                                return;
                            }
                        }
                    }
                }
            })?;
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Word = (Signal, Option<Seen>, String);

/// What changed for one agent since the last look.
fn look(state: &mut Said, terminal: &dyn AgentTerminal, now: Instant) -> Vec<Word> {
    let mut words = Vec::new();
    let input = terminal.input_seq();
    if input != state.input_seq {
        state.input_seq = input;
        // Answered: every signal's word is void (the engine clears them).
        state.os_blocked = None;
        words.push((Signal::Input, Some(Seen::Busy), "input typed".into()));
    }
    let quiet = terminal
        .last_output_at()
        .is_none_or(|at| now.saturating_duration_since(at) >= QUIET_FOR);
    if !quiet {
        if state.os_blocked.take().is_some() {
            words.push((Signal::Os, None, "output again".into()));
        }
        return words;
    }
    if state
        .os_checked
        .is_some_and(|at| now.saturating_duration_since(at) < OS_EVERY)
    {
        return words;
    }
    state.os_checked = Some(now);
    let blocked = os::agent_blocked_reading(terminal.pid(), terminal.foreground_group());
    if blocked == state.os_blocked {
        return words;
    }
    state.os_blocked = blocked;
    match blocked {
        Some(pid) => {
            let question = cursor_line(terminal);
            words.push((
                Signal::Os,
                Some(Seen::Waiting { question }),
                format!("pid {pid} reads the terminal"),
            ));
        }
        None => words.push((Signal::Os, None, "no longer reads the terminal".into())),
    }
    words
}

/// The text on the cursor's row, or the last non-empty row above it: what
/// a program reading its terminal last asked.
fn cursor_line(terminal: &dyn AgentTerminal) -> String {
    let screen = terminal.screen().lock().unwrap_or_else(|p| p.into_inner());
    let vt = screen.screen();
    let (row, _) = vt.cursor_position();
    let (_, cols) = vt.size();
    (0..=row)
        .rev()
        .map(|r| vt.contents_between(r, 0, r, cols.get()).trim().to_string())
        .find(|line| !line.is_empty())
        .unwrap_or_else(|| "(reads its terminal)".to_string())
}
