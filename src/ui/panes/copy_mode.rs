//! Copy mode on an agent's output, with tmux's habits: a cursor moved with
//! the arrows or vi keys (`h j k l`, `0 ^ $`, `w b`, `g G`, PageUp/PageDown,
//! `C-u C-d`), `v` or Space to start a selection, Enter or `y` to copy it,
//! Esc or `q` to leave. A mouse drag makes a selection the same way.
//!
//! Positions are (line id, column) over the agent's lines (see
//! `ui::term_lines`), so the selection stays on its text while the agent
//! prints. What is copied is the text as the agent wrote it: a wide
//! character whole, rows the terminal wrapped joined without a newline,
//! trailing blanks of each line dropped.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::agent::screen::TerminalScreen;
use crate::ui::term_lines::{self, LineId, Logical};

/// A position: the line's id and a column.
pub type Pos = (LineId, u16);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMode {
    pub cursor: Pos,
    /// Where the selection began (`v`, Space, or where a drag started).
    pub anchor: Option<Pos>,
}

/// What a key did in copy mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyStep {
    /// The cursor or the selection changed.
    Moved,
    /// Copy this text and leave copy mode.
    Copy(String),
    /// Leave copy mode.
    Leave,
    /// Not a copy-mode key.
    Ignored,
}

impl CopyMode {
    /// Copy mode with its cursor at `cursor`.
    pub fn at(cursor: Pos) -> CopyMode {
        CopyMode {
            cursor,
            anchor: None,
        }
    }

    /// A key, with the view's height (for page moves).
    pub fn on_key(&mut self, key: &KeyEvent, screen: &TerminalScreen, page: u16) -> CopyStep {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let (line, col) = self.cursor;
        let Some(index) = term_lines::index_of(screen, line) else {
            // The line left history: start again at the newest line.
            let last = term_lines::count(screen).saturating_sub(1);
            self.cursor = (term_lines::id_of(screen, last), 0);
            return CopyStep::Moved;
        };
        let last = term_lines::count(screen).saturating_sub(1);
        let text = || term_lines::line(screen, index);
        let half = usize::from(page / 2).max(1);
        let page = usize::from(page).max(1);
        let to_line = |i: usize| term_lines::id_of(screen, i.min(last));
        self.cursor = match key.code {
            KeyCode::Esc | KeyCode::Char('q') => return CopyStep::Leave,
            KeyCode::Char('c') if ctrl => return CopyStep::Leave,
            KeyCode::Enter | KeyCode::Char('y') => {
                return match self.anchor {
                    Some(anchor) => CopyStep::Copy(selected_text(screen, anchor, self.cursor)),
                    None => CopyStep::Leave,
                }
            }
            KeyCode::Char('v') | KeyCode::Char(' ') => {
                self.anchor = match self.anchor {
                    Some(_) => None,
                    None => Some(self.cursor),
                };
                return CopyStep::Moved;
            }
            KeyCode::Char('u') if ctrl => (to_line(index.saturating_sub(half)), col),
            KeyCode::Char('d') if ctrl => (to_line(index + half), col),
            KeyCode::Char('b') if ctrl => (to_line(index.saturating_sub(page)), col),
            KeyCode::Char('f') if ctrl => (to_line(index + page), col),
            _ if ctrl => return CopyStep::Ignored,
            KeyCode::Left | KeyCode::Char('h') => (line, col.saturating_sub(1)),
            KeyCode::Right | KeyCode::Char('l') => {
                (line, (col + 1).min(text().end_col().saturating_sub(1)))
            }
            KeyCode::Up | KeyCode::Char('k') => (to_line(index.saturating_sub(1)), col),
            KeyCode::Down | KeyCode::Char('j') => (to_line(index + 1), col),
            KeyCode::PageUp => (to_line(index.saturating_sub(page)), col),
            KeyCode::PageDown => (to_line(index + page), col),
            // The line as the agent wrote it, over the rows it wrapped on
            // (as tmux moves).
            KeyCode::Home | KeyCode::Char('0') => (
                term_lines::id_of(screen, Logical::around(screen, index).first),
                0,
            ),
            KeyCode::Char('^') => {
                let first = Logical::around(screen, index).first;
                let text = term_lines::line(screen, first);
                (term_lines::id_of(screen, first), first_word_col(&text))
            }
            KeyCode::End | KeyCode::Char('$') => {
                let last = Logical::around(screen, index).end() - 1;
                let text = term_lines::line(screen, last);
                (
                    term_lines::id_of(screen, last),
                    text.end_col().saturating_sub(1),
                )
            }
            KeyCode::Char('g') => (to_line(0), 0),
            KeyCode::Char('G') => (to_line(last), 0),
            KeyCode::Char('w') => next_word(screen, index, col, last),
            KeyCode::Char('b') => previous_word(screen, index, col),
            _ => return CopyStep::Ignored,
        };
        CopyStep::Moved
    }

    /// The selection as (start, end) in reading order, both inclusive.
    pub fn selection(&self) -> Option<(Pos, Pos)> {
        let anchor = self.anchor?;
        Some(if anchor <= self.cursor {
            (anchor, self.cursor)
        } else {
            (self.cursor, anchor)
        })
    }
}

/// The text from `a` to `b` (either order), both ends' cells included.
pub fn selected_text(screen: &TerminalScreen, a: Pos, b: Pos) -> String {
    let (start, end) = if a <= b { (a, b) } else { (b, a) };
    let first = term_lines::index_of(screen, start.0).unwrap_or(0);
    let Some(last) = term_lines::index_of(screen, end.0) else {
        return String::new();
    };
    let mut out = String::new();
    for index in first..=last {
        let line = term_lines::line(screen, index);
        let from = if index == first { start.1 } else { 0 };
        let to = if index == last {
            end.1.saturating_add(1)
        } else {
            u16::MAX
        };
        out.push_str(line.slice_cols(from, to));
        if index != last && !line.wrapped {
            // A line the agent ended: its trailing blanks were never text.
            let kept = out.trim_end_matches(' ').len();
            out.truncate(kept);
            out.push('\n');
        }
    }
    out
}

/// The column of the first non-blank character of `line`.
fn first_word_col(line: &term_lines::LineText) -> u16 {
    let text = &line.text;
    line.col_at(text.len() - text.trim_start().len())
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `w`: the start of the next word, on this line or the next ones.
fn next_word(screen: &TerminalScreen, index: usize, col: u16, last: usize) -> Pos {
    let mut skip_current = true;
    for i in index..=last {
        let line = term_lines::line(screen, i);
        let from = if i == index { col } else { 0 };
        let mut in_word = skip_current
            && line
                .slice_cols(from, from + 1)
                .chars()
                .next()
                .is_some_and(is_word);
        for (offset, c) in line.text.char_indices() {
            let at = line.col_at(offset);
            if at < from {
                continue;
            }
            if is_word(c) {
                if !in_word && (i != index || at > col) {
                    return (term_lines::id_of(screen, i), at);
                }
                in_word = true;
            } else {
                in_word = false;
            }
        }
        skip_current = false;
    }
    (term_lines::id_of(screen, index), col)
}

/// `b`: the start of this word or the previous one.
fn previous_word(screen: &TerminalScreen, index: usize, col: u16) -> Pos {
    for i in (0..=index).rev() {
        let line = term_lines::line(screen, i);
        let mut best = None;
        let mut prev_word = false;
        for (offset, c) in line.text.char_indices() {
            let at = line.col_at(offset);
            if i == index && at >= col {
                break;
            }
            if is_word(c) && !prev_word {
                best = Some(at);
            }
            prev_word = is_word(c);
        }
        if let Some(at) = best {
            return (term_lines::id_of(screen, i), at);
        }
    }
    (term_lines::id_of(screen, index), col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn a_wrapped_line_with_wide_characters_copies_as_written() {
        let mut t = TerminalScreen::new(4, 10, 100);
        // 14 columns on a 10-column terminal: wraps once; then a short
        // line with trailing blanks the agent printed.
        t.process("head\r\nab漢字cdefghij\r\ntail   \r\nx".as_bytes());
        let first = term_lines::id_of(&t, 1);
        let mut copy = CopyMode::at((first, 0));
        assert_eq!(
            copy.on_key(&key(KeyCode::Char('v')), &t, 4),
            CopyStep::Moved
        );
        // `$` goes to the end of the line over its wrap; down to "tail".
        copy.on_key(&key(KeyCode::Char('$')), &t, 4);
        assert_eq!(copy.cursor, (first + 1, 3));
        copy.on_key(&key(KeyCode::Down), &t, 4);
        copy.on_key(&key(KeyCode::Char('$')), &t, 4);
        assert_eq!(
            copy.on_key(&key(KeyCode::Enter), &t, 4),
            CopyStep::Copy("ab漢字cdefghij\ntail".to_string())
        );
        // The same once it is all in history.
        t.process(b"\r\n\r\n\r\n\r\n\r\n");
        assert_eq!(
            selected_text(&t, (first, 0), (first + 2, 3)),
            "ab漢字cdefghij\ntail"
        );
        // Half a wide character selects all of it.
        assert_eq!(selected_text(&t, (first, 3), (first, 4)), "漢字");
    }

    #[test]
    fn moves_keep_to_the_text() {
        let mut t = TerminalScreen::new(4, 20, 100);
        t.process(b"  one two_2 three\r\nnext line");
        let line0 = term_lines::id_of(&t, 0);
        let mut copy = CopyMode::at((line0, 0));
        copy.on_key(&key(KeyCode::Char('^')), &t, 4);
        assert_eq!(copy.cursor, (line0, 2));
        copy.on_key(&key(KeyCode::Char('w')), &t, 4);
        assert_eq!(copy.cursor, (line0, 6));
        copy.on_key(&key(KeyCode::Char('w')), &t, 4);
        assert_eq!(copy.cursor, (line0, 12));
        copy.on_key(&key(KeyCode::Char('w')), &t, 4);
        assert_eq!(copy.cursor, (line0 + 1, 0));
        copy.on_key(&key(KeyCode::Char('b')), &t, 4);
        assert_eq!(copy.cursor, (line0, 12));
        copy.on_key(&key(KeyCode::Char('$')), &t, 4);
        assert_eq!(copy.cursor, (line0, 16));
        copy.on_key(&key(KeyCode::Right), &t, 4);
        assert_eq!(copy.cursor, (line0, 16), "not past the text");
        copy.on_key(&key(KeyCode::Char('G')), &t, 4);
        assert_eq!(copy.cursor.0, term_lines::id_of(&t, 3));
        assert_eq!(copy.on_key(&key(KeyCode::Enter), &t, 4), CopyStep::Leave);
        assert_eq!(
            copy.on_key(&key(KeyCode::Char('z')), &t, 4),
            CopyStep::Ignored
        );
    }
}
