//! `orch attach TASK`, in the server: the agent's screen drawn on the
//! client's whole terminal (as tmux redraws a pane from its own grid: the
//! agent's terminal queries never reach the client's terminal, and two
//! clients of different sizes each see a correct screen), the agent's
//! input modes mirrored onto the client's terminal so what it types
//! arrives encoded as the agent asked (keyboard protocols included: the
//! agent's modifyOtherKeys level as `CSI > 4 ; N m`, its kitty flags as one
//! entry of the client's flag stack, pushed when it sets flags, changed in
//! place, popped when it clears them), and the client's raw bytes written
//! to the agent. The first frame is a full repaint; after that, changes
//! only, at most one frame per frame interval, and none while the client
//! has not taken the last one.
//!
//! As a terminal emulator does, Shift+PageUp and Shift+PageDown scroll
//! back through orch's history of the agent (never sent to it), with the
//! position in the top right corner; any other input returns to the live
//! screen and goes to the agent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;

use super::conn::{Conn, Outgoing};
use super::protocol::{self, kind, Bye, Size};
use super::remote_term::RemoteTerminal;
use super::server::Shared;
use super::sizes::{ClientId, Scope};
use crate::agent::backend::AgentTerminal;
use crate::agent::screen::KeyboardModes;
use crate::agent::screen::TerminalScreen;
use crate::engine::{Event, TaskState};
use crate::ui::term_view::{cursor_position, max_scroll_for, TermView};
use ratatui::layout::Rect;

const FRAME: Duration = Duration::from_millis(16);

/// The terminal modes of the agent's screen the client's terminal must
/// share: they decide what the keyboard, the mouse and a paste send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputModes {
    pub application_cursor: bool,
    pub application_keypad: bool,
    pub bracketed_paste: bool,
    pub mouse: vt100::MouseProtocolMode,
    pub mouse_encoding: vt100::MouseProtocolEncoding,
    pub keyboard: KeyboardModes,
}

impl InputModes {
    pub fn of(screen: &vt100::Screen) -> InputModes {
        InputModes {
            application_cursor: screen.application_cursor(),
            application_keypad: screen.application_keypad(),
            bracketed_paste: screen.bracketed_paste(),
            mouse: screen.mouse_protocol_mode(),
            mouse_encoding: screen.mouse_protocol_encoding(),
            keyboard: KeyboardModes::default(),
        }
    }

    /// These modes with the keyboard protocols the agent asked for.
    pub fn with_keyboard(self, keyboard: KeyboardModes) -> InputModes {
        InputModes { keyboard, ..self }
    }

    /// The escape sequences that take a terminal from `self` to `next`.
    pub fn switch_to(&self, next: &InputModes) -> Vec<u8> {
        use vt100::{MouseProtocolEncoding as E, MouseProtocolMode as M};
        let mut out = Vec::new();
        let mut flag = |on: bool, set: &[u8], reset: &[u8]| {
            out.extend_from_slice(if on { set } else { reset });
        };
        if self.application_cursor != next.application_cursor {
            flag(next.application_cursor, b"\x1b[?1h", b"\x1b[?1l");
        }
        if self.application_keypad != next.application_keypad {
            flag(next.application_keypad, b"\x1b=", b"\x1b>");
        }
        if self.bracketed_paste != next.bracketed_paste {
            flag(next.bracketed_paste, b"\x1b[?2004h", b"\x1b[?2004l");
        }
        if self.mouse != next.mouse {
            out.extend_from_slice(b"\x1b[?9l\x1b[?1000l\x1b[?1002l\x1b[?1003l");
            let set: &[u8] = match next.mouse {
                M::None => b"",
                M::Press => b"\x1b[?9h",
                M::PressRelease => b"\x1b[?1000h",
                M::ButtonMotion => b"\x1b[?1002h",
                M::AnyMotion => b"\x1b[?1003h",
            };
            out.extend_from_slice(set);
        }
        if self.mouse_encoding != next.mouse_encoding {
            out.extend_from_slice(b"\x1b[?1005l\x1b[?1006l");
            let set: &[u8] = match next.mouse_encoding {
                E::Default => b"",
                E::Utf8 => b"\x1b[?1005h",
                E::Sgr => b"\x1b[?1006h",
            };
            out.extend_from_slice(set);
        }
        let (was, now) = (self.keyboard, next.keyboard);
        if was.modify_other_keys != now.modify_other_keys {
            match now.modify_other_keys {
                0 => out.extend_from_slice(b"\x1b[>4m"),
                level => out.extend_from_slice(format!("\x1b[>4;{level}m").as_bytes()),
            }
        }
        match (was.kitty_flags, now.kitty_flags) {
            (a, b) if a == b => {}
            (0, flags) => out.extend_from_slice(format!("\x1b[>{flags}u").as_bytes()),
            (_, 0) => out.extend_from_slice(b"\x1b[<u"),
            (_, flags) => out.extend_from_slice(format!("\x1b[={flags};1u").as_bytes()),
        }
        out
    }
}

pub async fn serve(
    shared: Arc<Shared>,
    mut conn: Conn,
    client: ClientId,
    task: &str,
    (cols, rows): (u16, u16),
) {
    let mut events = shared.handle.subscribe();
    let Some(process) = shared.handle.agents().get(task, None) else {
        let reason = not_running(&shared, task).await;
        let refused = protocol::Refused { reason };
        conn.finish(Outgoing::json(kind::REFUSED, &refused)).await;
        return;
    };
    let mut term = match RemoteTerminal::new(cols, rows) {
        Ok(term) => term,
        Err(err) => {
            tracing::error!("cannot set up an attach client's screen: {err}");
            return;
        }
    };
    let scope = Scope::Task(task.to_string());
    shared.claim_size(client, scope.clone(), rows, cols);
    let end = attach_loop(
        &shared,
        &mut conn,
        &mut term,
        &mut events,
        task,
        &*process,
        client,
    )
    .await;
    shared.release_size(client, &scope);
    if let Some(bye) = end {
        conn.finish(Outgoing::json(kind::BYE, &bye)).await;
    }
}

/// Why `task` cannot be attached to.
pub(super) async fn not_running(shared: &Shared, task: &str) -> String {
    let snapshot = shared.handle.snapshot().await;
    let row = snapshot
        .as_ref()
        .and_then(|s| s.tasks.iter().find(|t| t.id == task));
    match row {
        None => format!("no task {task:?} in this plan"),
        Some(row) if row.state == TaskState::Running => {
            format!("{task} is starting; its agent is not up yet: try again in a moment")
        }
        Some(row) => format!("{task} is {}, not running: nothing to attach to", row.state),
    }
}

/// Until the client leaves (`None`) or the agent is gone (the goodbye).
async fn attach_loop(
    shared: &Shared,
    conn: &mut Conn,
    term: &mut RemoteTerminal,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    task: &str,
    process: &dyn AgentTerminal,
    client: ClientId,
) -> Option<Bye> {
    let mut output = shared.output.clone();
    let outbox = conn.outbox.clone();
    let mut modes = InputModes::default();
    let mut dirty = true;
    let mut blocked = false;
    let mut seen_seq = u64::MAX;
    let mut last_draw = Instant::now() - FRAME;
    let mut back = Scrollback::default();
    loop {
        if process.has_exited() {
            return Some(exited(shared, task).await);
        }
        if dirty && !blocked && last_draw.elapsed() >= FRAME {
            match outbox.try_reserve() {
                Ok(permit) => {
                    seen_seq = process.output_seq();
                    match draw(term, process, &mut modes, &mut back) {
                        Ok(bytes) => permit.send(Outgoing::output(bytes)),
                        Err(err) => {
                            tracing::error!("drawing an attached agent: {err}");
                            return None;
                        }
                    }
                    last_draw = Instant::now();
                    dirty = false;
                }
                Err(tokio::sync::mpsc::error::TrySendError::Full(())) => blocked = true,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(())) => return None,
            }
        }
        let frame_due = last_draw + FRAME;
        tokio::select! {
            frame = conn.inbox.recv() => {
                let frame = frame?;
                match frame.kind {
                    kind::INPUT => {
                        let rows = term.size().1;
                        let screen = process.screen();
                        let (forward, moved) = {
                            let screen = screen.lock().unwrap_or_else(|p| p.into_inner());
                            back.input(&frame.payload, &screen, rows)
                        };
                        dirty |= moved;
                        if !forward.is_empty() {
                            if let Err(err) = process.write_input(&forward) {
                                tracing::debug!("input for {task}: {err}");
                            }
                        }
                    }
                    kind::RESIZE => match protocol::decode::<Size>(&frame, kind::RESIZE) {
                        Ok(size) => {
                            if let Err(err) = term.resize(size.cols, size.rows) {
                                tracing::error!("resizing an attach client's screen: {err}");
                            }
                            shared.claim_size(client, Scope::Task(task.to_string()), size.rows, size.cols);
                            dirty = true;
                        }
                        Err(err) => {
                            tracing::warn!("dropping an attach client: {err}");
                            return None;
                        }
                    },
                    other => {
                        tracing::warn!("dropping an attach client that sent a frame of kind {other}");
                        return None;
                    }
                }
            }
            permit = outbox.reserve(), if blocked => {
                blocked = false;
                let Ok(permit) = permit else { return None };
                if dirty {
                    seen_seq = process.output_seq();
                    match draw(term, process, &mut modes, &mut back) {
                        Ok(bytes) => permit.send(Outgoing::output(bytes)),
                        Err(_) => return None,
                    }
                    last_draw = Instant::now();
                    dirty = false;
                }
            }
            changed = output.changed(), if !dirty => {
                if changed.is_err() {
                    return Some(exited(shared, task).await);
                }
                // Another agent printing does not concern this client.
                dirty = process.output_seq() != seen_seq;
            }
            event = events.recv() => match event {
                Ok(Event::Task { row, .. }) if row.id == task && row.state != TaskState::Running => {
                    return Some(exited(shared, task).await);
                }
                Ok(Event::Finished(_)) | Err(RecvError::Closed) => {
                    return Some(Bye { message: "orch: the server stopped".into(), code: 1 });
                }
                _ => {}
            },
            _ = tokio::time::sleep_until(frame_due.into()), if dirty && !blocked => {}
            // The exit shows as an event; this catches an exit the events
            // raced past.
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The goodbye once the agent is gone: what became of its task (once its
/// leftovers are committed, if that is quick).
async fn exited(shared: &Shared, task: &str) -> Bye {
    let mut events = shared.handle.subscribe();
    let mut row = shared
        .handle
        .snapshot()
        .await
        .and_then(|s| s.tasks.into_iter().find(|t| t.id == task));
    if row.as_ref().is_some_and(|r| r.state == TaskState::Running) {
        let settled = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match events.recv().await {
                    Ok(Event::Task { row, .. })
                        if row.id == task && row.state != TaskState::Running =>
                    {
                        return Some(row)
                    }
                    Err(RecvError::Closed) => return None,
                    _ => {}
                }
            }
        })
        .await;
        if let Ok(Some(settled)) = settled {
            row = Some(settled);
        }
    }
    let state = row
        .map(|row| {
            let cause = row.cause.map(|c| format!(": {c}")).unwrap_or_default();
            format!("; {task} is {}{cause}", row.state)
        })
        .unwrap_or_default();
    Bye {
        message: format!("orch: {task}'s agent exited{state}"),
        code: 0,
    }
}

fn draw(
    term: &mut RemoteTerminal,
    process: &dyn AgentTerminal,
    modes: &mut InputModes,
    back: &mut Scrollback,
) -> std::io::Result<Vec<u8>> {
    let screen = process.screen().lock().unwrap_or_else(|p| p.into_inner());
    let next = InputModes::of(screen.screen()).with_keyboard(screen.keyboard_modes());
    let switch = modes.switch_to(&next);
    *modes = next;
    term.write_raw(b"\x1b[?2026h");
    term.write_raw(&switch);
    let hide = screen.screen().hide_cursor();
    term.terminal().draw(|frame| {
        let area = frame.area();
        back.anchor(&screen, area.height);
        frame.render_widget(TermView::new(&screen).scroll(back.lines), area);
        if back.lines > 0 {
            let badge = back.badge(&screen, area.height);
            let width = u16::try_from(badge.chars().count())
                .unwrap_or(u16::MAX)
                .min(area.width);
            let at = Rect::new(area.right() - width, area.y, width, area.height.min(1));
            let style =
                ratatui::style::Style::new().add_modifier(ratatui::style::Modifier::REVERSED);
            frame.render_widget(ratatui::widgets::Paragraph::new(badge).style(style), at);
        } else if !hide {
            if let Some(pos) = cursor_position(&screen, area) {
                frame.set_cursor_position(pos);
            }
        }
    })?;
    drop(screen);
    term.write_raw(b"\x1b[?2026l");
    Ok(term.take_output())
}

/// Shift+PageUp and Shift+PageDown as xterm sends them (also under the
/// kitty keyboard protocol, which keeps this form for these keys).
const SHIFT_PAGE_UP: &[u8] = b"\x1b[5;2~";
const SHIFT_PAGE_DOWN: &[u8] = b"\x1b[6;2~";

/// How far back an attached client is scrolled, kept on the same lines
/// while the agent prints.
#[derive(Debug, Default)]
struct Scrollback {
    /// Lines back from the live screen (0: live).
    lines: usize,
    /// History's count of lines pushed at the last frame.
    pushed: Option<u64>,
}

impl Scrollback {
    /// Input from the client: the scrolling keys move the view, everything
    /// else (returned) goes to the agent and brings the view back to live.
    /// Also says whether the view moved.
    fn input(&mut self, bytes: &[u8], screen: &TerminalScreen, rows: u16) -> (Vec<u8>, bool) {
        let page = usize::from(rows.max(2)) - 1;
        let max = max_scroll_for(screen, rows);
        let before = self.lines;
        let mut forward = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(SHIFT_PAGE_UP) {
                self.lines = (self.lines + page).min(max);
                rest = after;
            } else if let Some(after) = rest.strip_prefix(SHIFT_PAGE_DOWN) {
                self.lines = self.lines.saturating_sub(page);
                rest = after;
            } else {
                self.lines = 0;
                forward.push(rest[0]);
                rest = &rest[1..];
            }
        }
        if self.lines == 0 {
            self.pushed = None;
        }
        (forward, self.lines != before)
    }

    /// Before a frame: stay on the same lines while the agent prints.
    fn anchor(&mut self, screen: &TerminalScreen, rows: u16) {
        if self.lines == 0 {
            self.pushed = None;
            return;
        }
        let pushed = screen.history().pushed();
        if let Some(before) = self.pushed {
            let added = usize::try_from(pushed.saturating_sub(before)).unwrap_or(usize::MAX);
            self.lines = self
                .lines
                .saturating_add(added)
                .min(max_scroll_for(screen, rows));
        }
        self.pushed = Some(pushed);
    }

    fn badge(&self, screen: &TerminalScreen, rows: u16) -> String {
        format!(
            " {} · S-PageDown down · any key: live ",
            crate::ui::term_lines::position(screen, rows, self.lines)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_page_keys_scroll_history_and_anything_else_returns_live() {
        let mut screen = TerminalScreen::new(10, 40, 1000);
        for i in 0..200 {
            screen.process(format!("line {i}\r\n").as_bytes());
        }
        let mut back = Scrollback::default();
        let (forward, moved) = back.input(b"\x1b[5;2~\x1b[5;2~", &screen, 10);
        assert!(forward.is_empty() && moved);
        assert_eq!(back.lines, 18);
        assert!(back
            .badge(&screen, 10)
            .contains(" lines above · 201 in all"));
        // More output: the view stays on its lines.
        back.anchor(&screen, 10);
        screen.process(b"more\r\nmore\r\n");
        back.anchor(&screen, 10);
        assert_eq!(back.lines, 20);
        let (forward, _) = back.input(b"\x1b[6;2~", &screen, 10);
        assert!(forward.is_empty());
        assert_eq!(back.lines, 11);
        // Any other input goes on, and the view is live again.
        let (forward, moved) = back.input(b"y\r", &screen, 10);
        assert_eq!(forward, b"y\r");
        assert!(moved);
        assert_eq!(back.lines, 0);
        // Plain PageUp is the agent's.
        let (forward, moved) = back.input(b"\x1b[5~", &screen, 10);
        assert_eq!(forward, b"\x1b[5~");
        assert!(!moved);
    }

    #[test]
    fn modes_switch_only_what_changed() {
        let five = std::num::NonZeroU16::new(5).expect("non-zero");
        let twenty = std::num::NonZeroU16::new(20).expect("non-zero");
        let mut parser = vt100::Parser::new(five, twenty, 0);
        let before = InputModes::of(parser.screen());
        parser.process(b"\x1b[?1h\x1b[?2004h\x1b[?1002h\x1b[?1006h");
        let after = InputModes::of(parser.screen());
        let switch = String::from_utf8(before.switch_to(&after)).expect("ascii");
        assert!(switch.contains("\x1b[?1h"), "{switch:?}");
        assert!(switch.contains("\x1b[?2004h"), "{switch:?}");
        assert!(switch.contains("\x1b[?1002h"), "{switch:?}");
        assert!(switch.contains("\x1b[?1006h"), "{switch:?}");
        assert!(
            !switch.contains("\x1b="),
            "keypad did not change: {switch:?}"
        );
        assert!(after.switch_to(&after).is_empty());
        let back = String::from_utf8(after.switch_to(&before)).expect("ascii");
        assert!(
            back.contains("\x1b[?1l") && back.contains("\x1b[?2004l"),
            "{back:?}"
        );
    }

    #[test]
    fn keyboard_protocols_are_mirrored_as_one_stack_entry() {
        let kb = |modify_other_keys, kitty_flags| {
            InputModes::default().with_keyboard(KeyboardModes {
                modify_other_keys,
                kitty_flags,
            })
        };
        let switch =
            |a: InputModes, b: InputModes| String::from_utf8(a.switch_to(&b)).expect("ascii");
        // Claude Code's start: kitty flags 1 and modifyOtherKeys 2.
        assert_eq!(switch(kb(0, 0), kb(2, 1)), "\x1b[>4;2m\x1b[>1u");
        // A change of flags changes the entry pushed, not the stack.
        assert_eq!(switch(kb(2, 1), kb(2, 5)), "\x1b[=5;1u");
        // Its exit: both back.
        assert_eq!(switch(kb(2, 5), kb(0, 0)), "\x1b[>4m\x1b[<u");
        assert_eq!(switch(kb(1, 0), kb(1, 0)), "");
    }
}
