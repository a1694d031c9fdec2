//! Dialogs over the panes: a yes/no confirmation of a destructive action,
//! and the reason for a rejection. Each takes the keys while it is open.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::layout::centered;
use crate::ui::panes::overlays::overlay_block;
use crate::ui::theme::Theme;

/// A destructive action waiting for a yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmable {
    Cancel(String),
    Skip(String),
    Merge(String),
    RetryFresh(String),
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Confirm {
        title: String,
        message: String,
        action: Confirmable,
    },
    /// Reject an approval: type the reason.
    RejectReason { task: String, input: String },
    /// Leaving the control room while agents run or something is still
    /// owed, or leaving a foreground run's: detach (the default: all of it
    /// goes on in the server) or stop the server and quit.
    Leave {
        running: usize,
        /// The server is a foreground `orch --no-tui` run.
        foreground: bool,
    },
}

/// What a key did to an open dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Still open (perhaps changed).
    Open(Dialog),
    /// Closed without doing anything.
    Closed,
    /// Said yes to a confirmation.
    Confirmed(Confirmable),
    /// Leave the control room; the agents keep running.
    Detach,
    /// A rejection with its reason.
    Rejected { task: String, reason: String },
    /// Still open, and the user must be told why the key did nothing.
    Refused(Dialog, &'static str),
    /// A key the dialog does not use.
    Unused(Dialog),
}

impl Dialog {
    pub fn cancel(id: String, running: bool) -> Dialog {
        Dialog::Confirm {
            title: "Cancel task".into(),
            message: if running {
                format!("Stop the agent of {id} and cancel the task? Cancelled is final.")
            } else {
                format!("Cancel {id}? Cancelled is final.")
            },
            action: Confirmable::Cancel(id),
        }
    }

    pub fn skip(id: String) -> Dialog {
        Dialog::Confirm {
            title: "Skip task".into(),
            message: format!(
                "Mark {id} done without running it? Tasks that depend on it will start."
            ),
            action: Confirmable::Skip(id),
        }
    }

    /// `base` names the branch merged into, when the control room knows it.
    pub fn merge(id: String, base: Option<&str>) -> Dialog {
        let base = base.unwrap_or("the base branch");
        Dialog::Confirm {
            title: "Merge task".into(),
            message: format!(
                "Merge orch/{id} into {base}? A merge commit naming the task is made; a conflict changes nothing and is reported."
            ),
            action: Confirmable::Merge(id),
        }
    }

    pub fn retry_fresh(id: String, base: Option<&str>) -> Dialog {
        let base = base.unwrap_or("the base branch");
        Dialog::Confirm {
            title: "Retry from scratch".into(),
            message: format!(
                "Start {id} over from {base}? Its branch orch/{id} is kept under a backup name, and the new attempt does not see that work."
            ),
            action: Confirmable::RetryFresh(id),
        }
    }

    pub fn quit(running: usize, foreground: bool) -> Dialog {
        Dialog::Leave {
            running,
            foreground,
        }
    }

    pub fn reject(task: String) -> Dialog {
        Dialog::RejectReason {
            task,
            input: String::new(),
        }
    }

    pub fn on_key(self, key: &KeyEvent) -> Step {
        match self {
            Dialog::Confirm { action, .. } if is_yes(key) => Step::Confirmed(action),
            Dialog::Confirm { .. } if is_no(key) => Step::Closed,
            dialog @ Dialog::Confirm { .. } => Step::Unused(dialog),
            dialog @ Dialog::Leave { .. } => match key.code {
                KeyCode::Char('d') | KeyCode::Char('D') | KeyCode::Enter => Step::Detach,
                KeyCode::Char('s') | KeyCode::Char('S') => Step::Confirmed(Confirmable::Quit),
                KeyCode::Char('n') | KeyCode::Esc => Step::Closed,
                _ => Step::Unused(dialog),
            },
            Dialog::RejectReason { task, mut input } => match key.code {
                KeyCode::Esc => Step::Closed,
                KeyCode::Enter => {
                    let reason = input.trim().to_string();
                    if reason.is_empty() {
                        return Step::Refused(
                            Dialog::RejectReason { task, input },
                            "a rejection needs a reason",
                        );
                    }
                    Step::Rejected { task, reason }
                }
                KeyCode::Backspace => {
                    input.pop();
                    Step::Open(Dialog::RejectReason { task, input })
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    Step::Open(Dialog::reject(task))
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.push(c);
                    Step::Open(Dialog::RejectReason { task, input })
                }
                _ => Step::Unused(Dialog::RejectReason { task, input }),
            },
        }
    }

    /// Pasted text: typed into a reason (on one line); nothing else takes it.
    /// Returns whether the dialog took it.
    pub fn on_paste(&mut self, text: &str) -> bool {
        match self {
            Dialog::RejectReason { input, .. } => {
                input.push_str(&text.replace(['\n', '\r'], " "));
                true
            }
            Dialog::Confirm { .. } | Dialog::Leave { .. } => false,
        }
    }
}

fn is_yes(key: &KeyEvent) -> bool {
    matches!(
        key.code,
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
    )
}

fn is_no(key: &KeyEvent) -> bool {
    matches!(
        key.code,
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q')
    )
}

/// The rows `line` takes when wrapped at word boundaries into `width`
/// columns, as `Paragraph`'s wrapping does (a word longer than a row is cut).
fn wrapped_rows(line: &Line<'_>, width: usize) -> usize {
    use unicode_width::UnicodeWidthStr;
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let mut rows = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let w = word.width();
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else if w <= width {
            rows += 1;
            used = w;
        } else {
            // Cut across rows.
            rows += usize::from(used > 0) + (w - 1) / width;
            used = (w - 1) % width + 1;
        }
    }
    rows
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, theme: &Theme, dialog: &Dialog) {
    let (title, body, hint) = match dialog {
        Dialog::Confirm { title, message, .. } => (
            title.clone(),
            vec![Line::raw(message.clone())],
            "y / Enter: yes    n / Esc: no",
        ),
        Dialog::RejectReason { task, input } => (
            format!("Reject {task}"),
            vec![
                Line::raw("Why? (recorded with your name and the time)"),
                Line::raw(""),
                Line::from(vec![
                    Span::styled(format!("> {input}"), theme.style("dialog.input")),
                    Span::styled("█", theme.style("dialog.input")),
                ]),
            ],
            "Enter: reject    Esc: back",
        ),
        Dialog::Leave {
            running,
            foreground: true,
        } => (
            "Quit".to_string(),
            vec![Line::raw(format!(
                "This is a foreground run (orch --no-tui), {running} agent(s) running. Detach (the default): it goes on as before. Stop: its agents are stopped and the run ends now (the next run resumes)."
            ))],
            "d / Enter: detach (default)    s: stop the run    Esc: stay",
        ),
        Dialog::Leave { running: 0, .. } => (
            "Quit".to_string(),
            vec![Line::raw(
                "No agent is running, but the plan is not finished: approvals, retries or merges are still to come. Detach and let the server carry on (`orch` reconnects), or stop it and quit (the next start resumes)?",
            )],
            "d / Enter: detach    s: stop and quit    Esc: stay",
        ),
        Dialog::Leave { running, .. } => (
            "Quit".to_string(),
            vec![Line::raw(format!(
                "{running} agent(s) running. Detach and leave them running (`orch` reconnects), or stop them and quit (their attempts are saved as interrupted and resume on the next run)?"
            ))],
            "d / Enter: detach    s: stop agents and quit    Esc: stay",
        ),
    };
    let mut lines = body;
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(hint, theme.style("text.dim"))));
    let width = area.width.saturating_sub(4).min(64);
    // The height the text takes once wrapped, so the hint always shows.
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let wrapped: usize = lines.iter().map(|l| wrapped_rows(l, inner)).sum();
    let height = u16::try_from(wrapped + 2).unwrap_or(u16::MAX);
    let rect = centered(area, width, height.min(area.height));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(overlay_block(theme, &title)),
        rect,
    );
}
