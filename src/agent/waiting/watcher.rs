//! The thread that watches running agents for the signals of waiting the
//! engine cannot see itself: input typed into them (which answers
//! whatever they asked), the operating system (the terminal's foreground
//! group blocked reading it) and the screen (its kind's presets, the
//! generic ones and the agent's own `waiting_patterns` and `auto_answer`
//! patterns: `screen`, once the screen changed and then stayed still). It
//! looks ten times a second, reads only what changed or what is due, and
//! tells the engine only when a signal changes its word ([`Observation`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use crate::agent::backend::{AgentRegistry, AgentTerminal};
use crate::agent::waiting::screen::{Due, ScreenMatch, ScreenRules, ScreenText, Settle};
use crate::agent::waiting::{os, Seen, Signal};
use crate::config::AgentKind;
use crate::engine::effect::ScreenPatterns;

/// How often the running agents are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(100);
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
    /// When the screen's last change is due to be read.
    settle: Settle,
    /// What the screen last said, and by which rule, if anything.
    screen_word: Option<(Seen, String)>,
}

/// The screen rules of each running agent, by task and attempt.
type Patterns = Arc<Mutex<HashMap<(String, u32), Arc<ScreenRules>>>>;

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
                // An agent nobody described (not spawned by this engine's
                // driver): the generic presets.
                let generic = Arc::new(ScreenRules::new(AgentKind::Generic, vec![], vec![]));
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
                        let rules = rules.get(&(task.clone(), attempt)).unwrap_or(&generic);
                        for word in look(state, terminal.as_ref(), rules, now) {
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

    /// Read this attempt's screen with its kind's presets and its own
    /// patterns (an attempt never described gets the generic presets).
    pub fn watch(&self, task: &str, attempt: u32, patterns: ScreenPatterns) {
        let regexes = |ps: &[crate::config::Pattern]| ps.iter().map(|p| p.regex.clone()).collect();
        let rules = ScreenRules::new(
            patterns.kind,
            regexes(&patterns.waiting),
            regexes(&patterns.auto_answer),
        );
        self.patterns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((task.to_string(), attempt), Arc::new(rules));
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
    rules: &ScreenRules,
    now: Instant,
) -> Vec<Word> {
    let mut words = Vec::new();
    // The change counter as of when the agent last printed: the settle
    // time runs from the output, not from this look.
    let changed_at = terminal.last_output_at().unwrap_or(now).min(now);
    state.settle.observe(terminal.output_seq(), changed_at);
    let input = terminal.input_seq();
    if input != state.input_seq {
        state.input_seq = input;
        // Answered: every signal's word is void (the engine clears them),
        // and the screen as it was when the keys went in asks nothing:
        // only what the agent prints after them is read.
        state.os_blocked = None;
        state.screen_word = None;
        state.settle.skip();
        words.push(word(Signal::Input, Some(Seen::Busy), "input typed"));
    } else if let Some(due) = state.settle.due(now) {
        words.extend(read_screen(state, terminal, rules, due));
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

/// The screen through the agent's rules. A word only when it changed; a
/// screen that decides nothing takes the last word back. A screen still
/// changing is never taken for a question (it may be half drawn): it can
/// only say busy or idle, or take the word back.
fn read_screen(
    state: &mut Said,
    terminal: &dyn AgentTerminal,
    rules: &ScreenRules,
    due: Due,
) -> Option<Word> {
    let text = screen_text(terminal);
    let found = match classify(rules, &text) {
        Some(found) if due == Due::Changing && found.seen.is_waiting() => return None,
        found => found,
    };
    match found {
        Some(found) => {
            let key = (found.seen.clone(), found.rule.clone());
            if state.screen_word.as_ref() == Some(&key) {
                return None;
            }
            state.screen_word = Some(key);
            Some(Word {
                signal: Signal::Screen,
                seen: Some(found.seen),
                detail: found.rule,
                auto_answer: found.auto_answer,
            })
        }
        None => state
            .screen_word
            .take()
            .map(|_| word(Signal::Screen, None, "ordinary output")),
    }
}

/// The rules over one screen; a rule that panics (a bug) decides nothing
/// rather than ending the watcher and every agent's signals with it.
fn classify(rules: &ScreenRules, text: &ScreenText) -> Option<ScreenMatch> {
    crate::panic_guard::catch(|| rules.classify(text)).unwrap_or_else(|_| {
        tracing::error!(kind = ?rules.kind(), "screen rules panicked; screen not read");
        None
    })
}

fn screen_text(terminal: &dyn AgentTerminal) -> ScreenText {
    let screen = terminal.screen().lock().unwrap_or_else(|p| p.into_inner());
    ScreenText::of(screen.screen())
}

/// The text on the cursor's row, or the last non-empty row above it: what
/// a program reading its terminal last asked.
fn cursor_line(terminal: &dyn AgentTerminal) -> String {
    let text = screen_text(terminal);
    let row = usize::from(text.cursor_row).min(text.rows.len().saturating_sub(1));
    text.rows
        .get(..=row)
        .unwrap_or_default()
        .iter()
        .rev()
        .map(|line| line.trim())
        .find(|line| !line.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| "(reads its terminal)".to_string())
}

#[cfg(test)]
#[path = "watcher_tests.rs"]
mod tests;
