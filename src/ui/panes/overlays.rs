//! What is drawn over the panes: the help (generated from the keymap, so it
//! never goes stale), task details, and dialogs.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::store::Store;
use crate::timefmt;
use crate::ui::app::{App, Dialog};
use crate::ui::keymap::Context;
use crate::ui::layout::centered;
use crate::ui::panes::{state_style, state_symbol};

fn overlay_block<'a>(app: &App, title: &str) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(app.theme.style("dialog.border"))
        .title(Span::styled(
            format!(" {title} "),
            app.theme.style("dialog.title"),
        ))
}

pub fn draw_help(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let sections = [
        (Context::Global, "Everywhere"),
        (Context::Tasks, "Tasks"),
        (Context::Output, "Output"),
        (Context::Approvals, "Approvals"),
        (Context::Health, "Agents"),
        (Context::Attached, "Attached to an agent"),
    ];
    // Each section is a block of lines; blocks flow into as many columns as
    // the screen height requires, so the help is never cut off.
    let mut blocks: Vec<Vec<Line<'static>>> = Vec::new();
    for (ctx, name) in sections {
        let bindings = app.keymap.bindings(ctx);
        if bindings.is_empty() {
            continue;
        }
        let mut block = vec![Line::from(Span::styled(
            name.to_string(),
            app.theme.style("help.section"),
        ))];
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
            block.push(Line::from(vec![
                Span::styled(
                    format!("  {:<12}", keys.join(" ")),
                    app.theme.style("help.key"),
                ),
                Span::styled(b.desc.clone(), app.theme.style("help.desc")),
            ]));
        }
        block.push(Line::raw(""));
        blocks.push(block);
    }
    let footer = Line::from(Span::styled(
        "mouse wheel scrolls the output · any key closes this help",
        app.theme.style("text.dim"),
    ));
    let room = usize::from(area.height.saturating_sub(3)).max(4);
    let mut columns: Vec<Vec<Line<'static>>> = vec![Vec::new()];
    for block in blocks {
        let current = columns.last_mut().map_or(0, |c| c.len());
        if current > 0 && current + block.len() > room {
            columns.push(Vec::new());
        }
        if let Some(column) = columns.last_mut() {
            column.extend(block);
        }
    }
    const COLUMN: u16 = 58;
    let height = columns.iter().map(Vec::len).max().unwrap_or(0) as u16 + 3;
    let width = COLUMN * columns.len() as u16 + 2;
    let rect = centered(area, width, height.min(area.height));
    frame.render_widget(Clear, rect);
    let block = overlay_block(app, "Keys");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    for (i, column) in columns.into_iter().enumerate() {
        let x = inner.x + COLUMN * i as u16;
        if x >= inner.x + inner.width {
            break;
        }
        let col = Rect {
            x,
            y: inner.y,
            width: COLUMN.min(inner.x + inner.width - x),
            height: inner.height.saturating_sub(1),
        };
        frame.render_widget(Paragraph::new(column), col);
    }
    let foot = Rect {
        x: inner.x,
        y: inner.y + inner.height.saturating_sub(1),
        width: inner.width,
        height: 1.min(inner.height),
    };
    frame.render_widget(Paragraph::new(footer), foot);
}

pub fn draw_details(frame: &mut Frame<'_>, area: Rect, app: &App, id: &str, store: Option<&Store>) {
    let Some(t) = app.task(id) else {
        return;
    };
    let label = |s: &str| Span::styled(format!("{s:<11}"), app.theme.style("help.key"));
    let text = |s: String| Span::styled(s, app.theme.style("text"));
    let agent = app.agent_command(&t.config.agent);
    let mut lines = vec![
        Line::from(vec![
            label("task"),
            text(format!("{} — {}", t.config.id, t.config.title)),
        ]),
        Line::from(vec![
            label("state"),
            Span::styled(
                format!("{} {}", state_symbol(t.row.state), t.row.state),
                state_style(app, t.row.state),
            ),
        ]),
        Line::from(vec![
            label("agent"),
            text(format!("{} ({agent})", t.config.agent)),
        ]),
        Line::from(vec![
            label("worktree"),
            text(format!(".orch/worktrees/{}", t.config.id)),
        ]),
        Line::from(vec![label("branch"), text(format!("orch/{}", t.config.id))]),
        Line::from(vec![
            label("depends on"),
            text(if t.config.depends_on.is_empty() {
                "nothing".into()
            } else {
                t.config.depends_on.join(", ")
            }),
        ]),
    ];
    if let Some(cause) = &t.row.cause {
        lines.push(Line::from(vec![
            label("cause"),
            Span::styled(cause.clone(), app.theme.style("text.error")),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        "attempts",
        app.theme.style("help.section"),
    )));
    let attempts = store.and_then(|s| s.attempts(id).ok()).unwrap_or_default();
    if attempts.is_empty() {
        lines.push(Line::from(Span::styled(
            "  none yet",
            app.theme.style("text.dim"),
        )));
    }
    for a in attempts {
        let exit = match (a.exit_code, a.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "-".into(),
        };
        let duration = a
            .ended_at
            .map(|end| timefmt::short_duration(timefmt::between(a.started_at, end)))
            .unwrap_or_else(|| "running".into());
        lines.push(Line::from(vec![
            Span::styled(format!("  #{:<3}", a.attempt), app.theme.style("help.key")),
            text(format!(
                "{:<12} {:<9} {:>8}  {}  {}",
                a.status.as_str(),
                exit,
                duration,
                timefmt::date_time(a.started_at),
                a.cause.unwrap_or_default()
            )),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        "prompt",
        app.theme.style("help.section"),
    )));
    lines.push(Line::from(text(t.config.prompt.clone())));
    let rect = centered(
        area,
        area.width.saturating_sub(8).min(110),
        (lines.len() as u16 + 4).min(area.height),
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(overlay_block(app, "Details")),
        rect,
    );
}

pub fn draw_dialog(frame: &mut Frame<'_>, area: Rect, app: &App, dialog: &Dialog) {
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
                    Span::styled(format!("> {input}"), app.theme.style("dialog.input")),
                    Span::styled("█", app.theme.style("dialog.input")),
                ]),
            ],
            "Enter: reject    Esc: back",
        ),
    };
    let mut lines = body;
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(hint, app.theme.style("text.dim"))));
    let width = area.width.saturating_sub(4).min(64);
    let rect = centered(area, width, (lines.len() as u16 + 2).min(area.height));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(overlay_block(app, &title)),
        rect,
    );
}
