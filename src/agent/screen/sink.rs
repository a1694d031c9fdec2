//! vt100's callbacks for an agent's screen: rows leaving the top of the
//! main screen go to history (read from their cells, or taken from the
//! fast path's mirror), keyboard mode requests are kept (see
//! [`keyboard`](super::keyboard)), and the terminal queries vt100 does not
//! handle are answered (see [`replies`](super::replies)).

use super::fast_path::Mirror;
use super::keyboard::KeyboardState;
use super::replies::Replies;
use super::row_capture::RowCapture;
use crate::agent::history::History;

/// What `on_scroll` does with a departing main-screen row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScrollMode {
    /// Read the row's cells (the general path).
    Capture,
    /// Fast mode, vt100 fed the real bytes: rows the mirror does not know are
    /// read, the others are taken from the mirror.
    Mirror,
    /// Fast mode, the mirror already recorded the departures.
    Discard,
}

/// The parser's callbacks: owns the history, the fast-path mirror and the
/// answers to queries.
pub(super) struct Sink {
    pub(super) history: History,
    capture: RowCapture,
    pub(super) scroll: ScrollMode,
    pub(super) mirror: Option<Mirror>,
    /// Main-screen scroll events since last reset (fast-path checks).
    pub(super) events: usize,
    /// Alternate-screen scroll events since last reset.
    pub(super) alt_events: usize,
    /// Answers to the agent's terminal queries.
    pub(super) replies: Replies,
    /// The keyboard modes the agent asked for.
    pub(super) keyboard: KeyboardState,
}

impl Sink {
    pub(super) fn new(history_lines: usize) -> Self {
        Self {
            history: History::new(history_lines),
            capture: RowCapture::default(),
            scroll: ScrollMode::Capture,
            mirror: None,
            events: 0,
            alt_events: 0,
            replies: Replies::default(),
            keyboard: KeyboardState::default(),
        }
    }

    /// Read a departing row's cells into history (the general path).
    fn capture_row(&mut self, contents: &vt100::capture::RowContents<'_>) {
        if self.history.capacity() == 0 {
            return;
        }
        self.capture.begin();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        // RowCapture never fails, so neither does this.
        let _ = contents.write_formatted_basic(&mut self.capture, &mut state);
        let wrapped = wraps(contents, &mut state);
        self.history.push(self.capture.finish().wrapping(wrapped));
    }
}

/// Whether the row just written with `state` wrapped into the next one.
///
/// vt100 keeps a row's wrap flag to itself; what it shows is that the next
/// write through the same state begins with a newline unless the row
/// wrapped. The probe stops at the first thing written, so this costs
/// nothing like a second capture.
fn wraps(
    contents: &vt100::capture::RowContents<'_>,
    state: &mut vt100::capture::BasicFormattedCaptureState,
) -> bool {
    struct First(Option<char>);
    impl std::fmt::Write for First {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            match s.chars().next() {
                Some(c) => {
                    self.0 = Some(c);
                    Err(std::fmt::Error)
                }
                None => Ok(()),
            }
        }
    }
    let mut first = First(None);
    let _ = contents.write_formatted_basic(&mut first, state);
    first.0 != Some('\n')
}

impl vt100::Callbacks for Sink {
    fn on_scroll(&mut self, contents: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        if alternate_screen {
            self.alt_events += 1;
            return;
        }
        self.events += 1;
        let handled = match (self.scroll, self.mirror.as_mut()) {
            (ScrollMode::Discard, _) => true,
            (ScrollMode::Mirror, Some(m)) if m.unknown > 0 => {
                m.unknown -= 1;
                false
            }
            (ScrollMode::Mirror, Some(m)) => m.pop_row(&mut self.history),
            _ => false,
        };
        if !handled {
            self.capture_row(&contents);
        }
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        if i2.is_none() {
            if let Some(answer) = self.keyboard.csi(screen.alternate_screen(), i1, params, c) {
                self.replies.answer(&answer);
                return;
            }
        }
        self.replies.csi(screen, i1, i2, params, c);
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        self.replies.osc(params);
    }
}
