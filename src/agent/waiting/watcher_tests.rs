//! The watcher's look at one agent, over a fake terminal and a fake clock.

use std::sync::atomic::AtomicU64;

use super::*;
use crate::agent::pty::OutputSubscription;
use crate::agent::screen::TerminalScreen;

/// A terminal whose output and input the test makes.
struct Fake {
    screen: Mutex<TerminalScreen>,
    output: AtomicU64,
    input: AtomicU64,
    printed_at: Mutex<Option<Instant>>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            screen: Mutex::new(TerminalScreen::new(24, 80, 0)),
            output: AtomicU64::new(0),
            input: AtomicU64::new(0),
            printed_at: Mutex::new(None),
        }
    }

    fn print(&self, text: &str, at: Instant) {
        self.screen.lock().unwrap().process(text.as_bytes());
        self.output.fetch_add(1, Ordering::Relaxed);
        *self.printed_at.lock().unwrap() = Some(at);
    }

    fn type_keys(&self) {
        self.input.fetch_add(1, Ordering::Relaxed);
    }
}

impl AgentTerminal for Fake {
    fn pid(&self) -> u32 {
        // No such process: the OS signal has nothing to say.
        i32::MAX as u32
    }
    fn started_at(&self) -> Instant {
        Instant::now()
    }
    fn last_output_at(&self) -> Option<Instant> {
        *self.printed_at.lock().unwrap()
    }
    fn output_seq(&self) -> u64 {
        self.output.load(Ordering::Relaxed)
    }
    fn screen(&self) -> &Mutex<TerminalScreen> {
        &self.screen
    }
    fn write_input(&self, _: &[u8]) -> std::io::Result<()> {
        self.type_keys();
        Ok(())
    }
    fn resize(&self, _: u16, _: u16) -> std::io::Result<()> {
        Ok(())
    }
    fn has_exited(&self) -> bool {
        false
    }
    fn subscribe_output(&self) -> OutputSubscription {
        OutputSubscription {
            rows: 24,
            cols: 80,
            repaint: Vec::new(),
            stream: tokio::sync::broadcast::channel(1).1,
        }
    }
    fn input_seq(&self) -> u64 {
        self.input.load(Ordering::Relaxed)
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The screen's words, as "seen rule" ("-" for a word taken back).
fn screen_words(words: &[Word]) -> Vec<String> {
    words
        .iter()
        .filter(|w| w.signal == Signal::Screen)
        .map(|w| match &w.seen {
            Some(Seen::Waiting { question }) => format!("waiting {question:?} {}", w.detail),
            Some(seen) => format!("{seen:?} {}", w.detail),
            None => format!("- {}", w.detail),
        })
        .collect()
}

/// Looks every 100 ms from `from` to `to` (ms after `t0`), collecting words.
fn looks(
    said: &mut Said,
    fake: &Fake,
    rules: &ScreenRules,
    t0: Instant,
    from: u64,
    to: u64,
) -> Vec<Word> {
    (from..=to)
        .step_by(100)
        .flat_map(|at| look(said, fake, rules, t0 + ms(at)))
        .collect()
}

fn generic() -> ScreenRules {
    ScreenRules::new(AgentKind::Generic, vec![], vec![])
}

#[test]
fn a_prompt_is_seen_once_it_settled_and_said_once() {
    let t0 = Instant::now();
    let fake = Fake::new();
    let rules = generic();
    let mut said = Said::default();
    fake.print("Delete 3 files? [y/N] ", t0);
    assert!(screen_words(&looks(&mut said, &fake, &rules, t0, 0, 200)).is_empty());
    let words = screen_words(&looks(&mut said, &fake, &rules, t0, 300, 3_000));
    assert_eq!(words, ["waiting \"Delete 3 files? [y/N]\" generic [y/N]"]);
}

#[test]
fn output_that_keeps_flowing_takes_the_question_back() {
    let t0 = Instant::now();
    let fake = Fake::new();
    let rules = generic();
    let mut said = Said::default();
    fake.print("Continue? [y/N] ", t0);
    let asked = screen_words(&looks(&mut said, &fake, &rules, t0, 0, 400));
    assert_eq!(asked.len(), 1, "{asked:?}");
    // It timed out by itself and prints a line every 100 ms: never still.
    let mut words = Vec::new();
    for i in 1..30u64 {
        let at = 400 + i * 100;
        fake.print(&format!("\r\nbuilding step {i}"), t0 + ms(at));
        words.extend(look(&mut said, &fake, &rules, t0 + ms(at + 1)));
    }
    assert_eq!(screen_words(&words), ["- ordinary output"]);
}

#[test]
fn a_question_on_a_screen_still_changing_is_not_taken() {
    let t0 = Instant::now();
    let fake = Fake::new();
    let rules = generic();
    let mut said = Said::default();
    // A progress line redrawn every 100 ms whose text ends like a prompt.
    let mut words = Vec::new();
    for i in 0..40u64 {
        fake.print(
            &format!("\r{} files left. Continue? [y/N] ", 40 - i),
            t0 + ms(i * 100),
        );
        words.extend(look(&mut said, &fake, &rules, t0 + ms(i * 100 + 1)));
    }
    assert!(
        screen_words(&words).is_empty(),
        "{:?}",
        screen_words(&words)
    );
}

#[test]
fn keys_typed_before_the_prompt_settled_answer_it() {
    let t0 = Instant::now();
    let fake = Fake::new();
    let rules = generic();
    let mut said = Said::default();
    fake.print("Continue? [y/N] ", t0);
    let _ = look(&mut said, &fake, &rules, t0 + ms(100));
    // Typed at 200 ms; the program reads a key without echoing it and
    // works on silently.
    fake.type_keys();
    let words = looks(&mut said, &fake, &rules, t0, 200, 3_000);
    assert_eq!(words.first().map(|w| w.signal), Some(Signal::Input));
    assert!(
        screen_words(&words).is_empty(),
        "{:?}",
        screen_words(&words)
    );
}

#[test]
fn an_auto_answer_is_asked_for_once_per_prompt() {
    let t0 = Instant::now();
    let fake = Fake::new();
    let rules = ScreenRules::new(
        AgentKind::Generic,
        vec![],
        vec![regex::Regex::new(r"Proceed\? \(y/n\)").unwrap()],
    );
    let mut said = Said::default();
    fake.print("Proceed? (y/n) ", t0);
    let words = looks(&mut said, &fake, &rules, t0, 0, 400);
    let answers = |words: &[Word]| words.iter().filter_map(|w| w.auto_answer).count();
    assert_eq!(answers(&words), 1);
    // A clock in the corner redraws; the prompt is the same one.
    fake.print("\x1b7\x1b[1;70H12:00:01\x1b8", t0 + ms(500));
    assert_eq!(answers(&looks(&mut said, &fake, &rules, t0, 500, 1_000)), 0);
    // The engine types "y\r"; the program echoes it and goes on.
    fake.type_keys();
    fake.print("y\r\ninstalling foo\r\n", t0 + ms(1_150));
    assert_eq!(
        answers(&looks(&mut said, &fake, &rules, t0, 1_100, 3_000)),
        0
    );
    // It asks again: a new prompt, answered again.
    fake.print("Proceed? (y/n) ", t0 + ms(3_050));
    assert_eq!(
        answers(&looks(&mut said, &fake, &rules, t0, 3_100, 4_000)),
        1
    );
}
