//! The thread that watches running agents for the signals of waiting the
//! engine cannot see itself: input typed into them (which answers
//! whatever they asked), the operating system (the terminal's foreground
//! group blocked reading it) and the screen (the agent's own
//! `waiting_patterns` and `auto_answer` patterns over the lines at its
//! cursor, once the screen changed and then stayed still). It looks a few
//! times a second, reads only what changed or what is due, and tells the
//! engine only when a signal changes its word ([`Observation`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use crate::agent::backend::{AgentRegistry, AgentTerminal};
use crate::agent::waiting::{os, Seen, Signal};
use crate::engine::effect::ScreenPatterns;

/// How often the running agents are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Output within this long means the agent is not waiting on its terminal.
const QUIET_FOR: Duration = Duration::from_millis(400);
/// The operating system is asked at most this often per agent.
const OS_EVERY: Duration = Duration::from_secs(1);
/// A screen is matched once it stayed unchanged this long (a spinner
/// does not flap).
const SETTLE: Duration = Duration::from_millis(300);
/// The screen rows matched: the cursor's and this many non-empty ones
/// above it.
const ROWS_ABOVE: usize = 2;

/// A signal's new word on one running agent (`seen` `None`: it takes its
/// last word back).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub task: String,
    pub attempt: u32,
    pub signal: Signal,
    pub seen: Option<Seen>,
    pub detail: String,
    /// The agent's `auto_answer` rule whose pattern the screen matched.
    pub auto_answer: Option<usize>,
}

/// Where each observation goes; `false` once nobody listens.
pub type Sink = Box<dyn FnMut(Observation) -> bool + Send>;

/// What the watcher last said of one agent.
#[derive(Debug, Default)]
struct Said {
    input_seq: u64,
    os_blocked: Option<u32>,
    os_checked: Option<Instant>,
    /// The screen's change counter when last matched.
    screen_seq: u64,
    /// What the screen last said (the matched line), if anything.
    screen_word: Option<String>,
}

/// The patterns of each running agent, by task and attempt.
type Patterns = Arc<Mutex<HashMap<(String, u32), ScreenPatterns>>>;

/// The watching thread; stopped when dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    patterns: Patterns,
}

impl Watcher {
    pub fn start(registry: AgentRegistry, mut sink: Sink) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let patterns: Patterns = Arc::default();
        let known = patterns.clone();
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
                    let rules = {
                        let mut known = known.lock().unwrap_or_else(|p| p.into_inner());
                        known.retain(|(task, attempt), _| {
                            agents.iter().any(|(t, a, _)| t == task && a == attempt)
                        });
                        known.clone()
                    };
                    let now = Instant::now();
                    for (task, attempt, terminal) in agents {
                        let state = said.entry((task.clone(), attempt)).or_default();
                        let patterns = rules.get(&(task.clone(), attempt));
                        for word in look(state, terminal.as_ref(), patterns, now) {
                            let observation = Observation {
                                task: task.clone(),
                                attempt,
                                signal: word.signal,
                                seen: word.seen,
                                detail: word.detail,
                                auto_answer: word.auto_answer,
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
            patterns,
        })
    }

    /// Match this attempt's screen against `patterns` (nothing to match:
    /// its screen is not read).
    pub fn watch(&self, task: &str, attempt: u32, patterns: ScreenPatterns) {
        if patterns.is_empty() {
            return;
        }
        self.patterns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((task.to_string(), attempt), patterns);
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

/// One signal's new word.
struct Word {
    signal: Signal,
    seen: Option<Seen>,
    detail: String,
    auto_answer: Option<usize>,
}

fn word(signal: Signal, seen: Option<Seen>, detail: impl Into<String>) -> Word {
    Word {
        signal,
        seen,
        detail: detail.into(),
        auto_answer: None,
    }
}

/// What changed for one agent since the last look.
fn look(
    state: &mut Said,
    terminal: &dyn AgentTerminal,
    patterns: Option<&ScreenPatterns>,
    now: Instant,
) -> Vec<Word> {
    let mut words = Vec::new();
    let input = terminal.input_seq();
    if input != state.input_seq {
        state.input_seq = input;
        // Answered: every signal's word is void (the engine clears them).
        state.os_blocked = None;
        state.screen_word = None;
        words.push(word(Signal::Input, Some(Seen::Busy), "input typed"));
    }
    if let Some(patterns) = patterns {
        let settled = terminal
            .last_output_at()
            .is_none_or(|at| now.saturating_duration_since(at) >= SETTLE);
        let seq = terminal.output_seq();
        if settled && seq != state.screen_seq {
            state.screen_seq = seq;
            words.extend(match_screen(state, terminal, patterns));
        }
    }
    let quiet = terminal
        .last_output_at()
        .is_none_or(|at| now.saturating_duration_since(at) >= QUIET_FOR);
    if !quiet {
        if state.os_blocked.take().is_some() {
            words.push(word(Signal::Os, None, "output again"));
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
            words.push(word(
                Signal::Os,
                Some(Seen::Waiting { question }),
                format!("pid {pid} reads the terminal"),
            ));
        }
        None => words.push(word(Signal::Os, None, "no longer reads the terminal")),
    }
    words
}

/// The screen's lines at the cursor against the agent's patterns: an
/// auto-answer rule's first (the engine decides whether to use it), then
/// its waiting patterns. A word only when it changed.
fn match_screen(
    state: &mut Said,
    terminal: &dyn AgentTerminal,
    patterns: &ScreenPatterns,
) -> Option<Word> {
    let lines = cursor_lines(terminal);
    let found = patterns
        .auto_answer
        .iter()
        .enumerate()
        .find_map(|(i, p)| {
            lines.iter().find(|l| p.regex.is_match(l)).map(|l| {
                (
                    l.clone(),
                    Some(i),
                    format!("auto_answer pattern {:?}", p.source),
                )
            })
        })
        .or_else(|| {
            patterns.waiting.iter().find_map(|p| {
                lines
                    .iter()
                    .find(|l| p.regex.is_match(l))
                    .map(|l| (l.clone(), None, format!("waiting pattern {:?}", p.source)))
            })
        });
    match found {
        Some((line, auto, detail)) => {
            if state.screen_word.as_deref() == Some(line.as_str()) && auto.is_none() {
                return None;
            }
            state.screen_word = Some(line.clone());
            Some(Word {
                signal: Signal::Screen,
                seen: Some(Seen::Waiting { question: line }),
                detail,
                auto_answer: auto,
            })
        }
        None => state
            .screen_word
            .take()
            .map(|_| word(Signal::Screen, None, "the prompt is gone")),
    }
}

/// The cursor's row and up to [`ROWS_ABOVE`] non-empty rows above it,
/// trimmed, top first.
fn cursor_lines(terminal: &dyn AgentTerminal) -> Vec<String> {
    let screen = terminal.screen().lock().unwrap_or_else(|p| p.into_inner());
    let vt = screen.screen();
    let (row, _) = vt.cursor_position();
    let (_, cols) = vt.size();
    let mut lines: Vec<String> = (0..=row)
        .rev()
        .map(|r| vt.contents_between(r, 0, r, cols.get()).trim().to_string())
        .filter(|line| !line.is_empty())
        .take(ROWS_ABOVE + 1)
        .collect();
    lines.reverse();
    lines
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
