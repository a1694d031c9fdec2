//! What is drawn over the panes: the help (generated from the keymap, so it
//! never goes stale) and task details. Dialogs are in `dialog`.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::store::{AttemptRow, MessageRow, MessageState};
use crate::timefmt;
use crate::ui::keymap::{Context, Keymap};
use crate::ui::layout::centered;
use crate::ui::panes::{row_symbol, state_style, Ctx};
use crate::ui::theme::Theme;

/// The details dialog's attempts, read from the store off the UI thread
/// when the dialog opens (and again when the task changes while it is open).
#[derive(Debug, Clone, PartialEq)]
pub enum Attempts {
    Loading,
    Loaded(TaskRecord),
    Failed(String),
}

/// What the store holds of one task for its details: its attempts, and
/// the latest messages for or from it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskRecord {
    pub attempts: Vec<AttemptRow>,
    pub messages: Vec<MessageRow>,
}

/// Messages the details dialog lists, newest last.
pub const DETAILS_MESSAGES: usize = 8;

pub fn overlay_block<'a>(theme: &Theme, title: &str) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.style("dialog.border"))
        .title(Span::styled(
            format!(" {title} "),
            theme.style("dialog.title"),
        ))
}

/// The help's width per column of sections.
const HELP_COLUMN: u16 = 58;

/// The help's sections as blocks of lines, every context's keys.
fn help_blocks(theme: &Theme, keymap: &Keymap) -> Vec<Vec<Line<'static>>> {
    let sections = [
        (Context::Global, "Everywhere"),
        (Context::Tasks, "Tasks"),
        (Context::Output, "Output"),
        (Context::Approvals, "Approvals"),
        (Context::Health, "Agents"),
        (Context::Diff, "Diff view"),
        (Context::Attached, "Attached to an agent"),
    ];
    let mut blocks = Vec::new();
    for (ctx, name) in sections {
        let bindings = keymap.bindings(ctx);
        if bindings.is_empty() {
            continue;
        }
        let mut block = vec![Line::from(Span::styled(
            name.to_string(),
            theme.style("help.section"),
        ))];
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
            block.push(Line::from(vec![
                Span::styled(format!("  {:<12}", keys.join(" ")), theme.style("help.key")),
                Span::styled(b.desc.clone(), theme.style("help.desc")),
            ]));
        }
        block.push(Line::raw(""));
        blocks.push(block);
    }
    blocks.push(fixed_block(theme, "Copy mode and search", &COPY_KEYS));
    blocks.push(symbol_legend(theme));
    blocks
}

/// The keys of copy mode and the search prompt (not from the keymap:
/// they are tmux's and less's).
const COPY_KEYS: [(&str, &str); 8] = [
    ("←↓↑→ hjkl", "move; w b words, 0 ^ $ the line, g G ends"),
    ("v <Space>", "start (or drop) a selection"),
    ("<Enter> y", "copy: clipboard + state dir's clipboard.txt"),
    ("<Esc> q", "leave copy mode"),
    ("mouse drag", "select in the output and copy"),
    ("/ n N", "search; the cursor goes to the match"),
    ("<C-r>", "at the / prompt: plain text or regex"),
    ("<C-u>", "at the / prompt: clear the query"),
];

/// A titled block of fixed (keys, meaning) rows.
fn fixed_block(theme: &Theme, title: &str, rows: &[(&str, &str)]) -> Vec<Line<'static>> {
    let mut block = vec![Line::from(Span::styled(
        title.to_string(),
        theme.style("help.section"),
    ))];
    for (keys, meaning) in rows {
        block.push(Line::from(vec![
            Span::styled(format!("  {keys:<12}"), theme.style("help.key")),
            Span::styled(meaning.to_string(), theme.style("help.desc")),
        ]));
    }
    block.push(Line::raw(""));
    block
}

/// What the tree's and the agents pane's symbols mean.
fn symbol_legend(theme: &Theme) -> Vec<Line<'static>> {
    let rows = [
        ("●", "new output you have not looked at"),
        ("▶ ↻ ○ ·", "running, retrying, queued, pending"),
        ("✓ ↷", "done, skipped"),
        ("? ! ⊘", "awaits approval, needs review, blocked"),
        ("✗ −", "rejected, cancelled"),
        ("#2 1/3 ×3", "attempt 2; failed 1 of 3 allowed; 3 attempts"),
        ("◇ ◆ ✗ …", "unmerged, merged, conflict, merge waiting"),
        ("♥ 3s", "since the agent's last sign of life"),
    ];
    fixed_block(theme, "Symbols", &rows)
}

/// The help laid out for `area`: its sections flowed into as many columns
/// as fit side by side, or, where they do not, one column to scroll.
struct HelpLayout {
    columns: Vec<Vec<Line<'static>>>,
    /// Rows of text the box shows (the footer apart).
    visible: usize,
    scrolls: bool,
}

fn help_layout(area: Rect, theme: &Theme, keymap: &Keymap) -> HelpLayout {
    let blocks = help_blocks(theme, keymap);
    // Borders and the footer.
    let room = usize::from(area.height.saturating_sub(3)).max(1);
    let side_by_side = usize::from(area.width.saturating_sub(2) / HELP_COLUMN).max(1);
    let mut columns: Vec<Vec<Line<'static>>> = vec![Vec::new()];
    for block in &blocks {
        let current = columns.last().map_or(0, Vec::len);
        if current > 0 && current + block.len() > room {
            columns.push(Vec::new());
        }
        if let Some(column) = columns.last_mut() {
            column.extend(block.iter().cloned());
        }
    }
    let fits = columns.len() <= side_by_side && columns.iter().all(|c| c.len() <= room);
    if fits {
        let visible = columns.iter().map(Vec::len).max().unwrap_or(0);
        return HelpLayout {
            columns,
            visible,
            scrolls: false,
        };
    }
    let all: Vec<Line<'static>> = blocks.into_iter().flatten().collect();
    HelpLayout {
        visible: room.min(all.len()),
        columns: vec![all],
        scrolls: true,
    }
}

/// The furthest the help scrolls in `area` (0 when it fits).
pub fn help_max_scroll(area: Rect, theme: &Theme, keymap: &Keymap) -> usize {
    let layout = help_layout(area, theme, keymap);
    if !layout.scrolls {
        return 0;
    }
    layout.columns[0].len().saturating_sub(layout.visible)
}

pub fn draw_help(frame: &mut Frame<'_>, area: Rect, theme: &Theme, keymap: &Keymap, scroll: usize) {
    let layout = help_layout(area, theme, keymap);
    let scroll = if layout.scrolls {
        scroll.min(layout.columns[0].len().saturating_sub(layout.visible))
    } else {
        0
    };
    let footer = if layout.scrolls {
        let total = layout.columns[0].len();
        format!(
            "{}-{} of {total} · ↑↓ PgUp PgDn scroll · any other key closes",
            scroll + 1,
            (scroll + layout.visible).min(total)
        )
    } else {
        "mouse wheel scrolls the output · any key closes this help".to_string()
    };
    let footer = Line::from(Span::styled(footer, theme.style("text.dim")));
    let height = u16::try_from(layout.visible + 3).unwrap_or(u16::MAX);
    let width = HELP_COLUMN * u16::try_from(layout.columns.len()).unwrap_or(1) + 2;
    let rect = centered(area, width, height.min(area.height));
    frame.render_widget(Clear, rect);
    let block = overlay_block(theme, "Keys");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    for (i, column) in layout.columns.into_iter().enumerate() {
        let x = inner.x + HELP_COLUMN * i as u16;
        if x >= inner.x + inner.width {
            break;
        }
        let col = Rect {
            x,
            y: inner.y,
            width: HELP_COLUMN.min(inner.x + inner.width - x),
            height: inner.height.saturating_sub(1),
        };
        let shown: Vec<Line<'static>> = column.into_iter().skip(scroll).collect();
        frame.render_widget(Paragraph::new(shown), col);
    }
    let foot = Rect {
        x: inner.x,
        y: inner.y + inner.height.saturating_sub(1),
        width: inner.width,
        height: 1.min(inner.height),
    };
    frame.render_widget(Paragraph::new(footer), foot);
}

pub fn draw_details(
    frame: &mut Frame<'_>,
    area: Rect,
    ctx: &Ctx<'_>,
    id: &str,
    attempts: &Attempts,
) {
    let Some(t) = ctx.table.task(id) else {
        return;
    };
    let theme = ctx.theme;
    let label = |s: &str| Span::styled(format!("{s:<11}"), theme.style("help.key"));
    let text = |s: String| Span::styled(s, theme.style("text"));
    let dim = |s: String| Line::from(Span::styled(s, theme.style("text.dim")));
    let agent = ctx.table.agent_command(&t.config.agent);
    let mut lines = vec![
        Line::from(vec![
            label("task"),
            text(format!("{} — {}", t.config.id, t.config.title)),
        ]),
        Line::from(vec![
            label("state"),
            Span::styled(
                format!("{} {}", row_symbol(&t.row), t.row.state),
                state_style(theme, t.row.state),
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
    if t.row.state == crate::engine::TaskState::Done {
        let merge = t.row.merge_state;
        lines.insert(
            2,
            Line::from(vec![
                label("merge"),
                Span::styled(
                    crate::ui::panes::tasks::merge_label(merge).0,
                    theme.style(&format!("merge.{}", merge.as_str())),
                ),
            ]),
        );
    }
    if let Some(cause) = &t.row.cause {
        lines.push(Line::from(vec![
            label("cause"),
            Span::styled(cause.clone(), theme.style("text.error")),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        "attempts",
        theme.style("help.section"),
    )));
    let rows: &[AttemptRow] = match attempts {
        Attempts::Loading => {
            lines.push(dim("  loading…".into()));
            &[]
        }
        Attempts::Failed(err) => {
            lines.push(dim(format!("  cannot read them: {err}")));
            &[]
        }
        Attempts::Loaded(record) if record.attempts.is_empty() => {
            lines.push(dim("  none yet".into()));
            &[]
        }
        Attempts::Loaded(record) => &record.attempts,
    };
    for a in rows {
        let exit = match (a.exit_code, a.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "-".into(),
        };
        let duration = a
            .ended_at
            .map(|end| timefmt::short_duration(timefmt::between(a.started_at, end)))
            .unwrap_or_else(|| "running".into());
        // What confined its agent, when anything was asked for.
        let sandbox = a
            .sandbox
            .as_deref()
            .filter(|level| *level != "none")
            .map(|level| format!("sandbox {level}  "))
            .unwrap_or_default();
        // What its agent last said of its progress (`orch heartbeat`).
        let mut said = crate::engine::message::progress_text(a.progress, a.note.as_deref());
        if !said.is_empty() {
            said.push_str("  ");
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  #{:<3}", a.attempt), theme.style("help.key")),
            text(format!(
                "{:<12} {:<9} {:>8}  {}  {sandbox}{said}{}",
                a.status.as_str(),
                exit,
                duration,
                timefmt::date_time(a.started_at),
                a.cause.as_deref().unwrap_or_default()
            )),
        ]));
    }
    if let Attempts::Loaded(record) = attempts {
        message_lines(&mut lines, &t.row.id, &record.messages, theme);
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        "prompt",
        theme.style("help.section"),
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
            .block(overlay_block(theme, "Details")),
        rect,
    );
}

/// The details' "messages" section: the latest messages for or from the
/// task (`orch msg`), with where each stands; nothing when there are none.
fn message_lines(lines: &mut Vec<Line<'_>>, task: &str, messages: &[MessageRow], theme: &Theme) {
    if messages.is_empty() {
        return;
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        "messages",
        theme.style("help.section"),
    )));
    for m in messages {
        let from = m.from_label();
        let way = if m.to_task == task {
            format!("from {from}")
        } else {
            format!("to {}", m.to_task)
        };
        let style = match m.state {
            MessageState::Acknowledged => theme.style("text.dim"),
            _ => theme.style("text"),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  #{:<3}", m.id), theme.style("help.key")),
            Span::styled(
                format!(
                    "{:<12} {:<14} {}  {}",
                    m.state.as_str(),
                    way,
                    timefmt::date_time(m.sent_at),
                    crate::engine::message::message_preview(&m.text, 120)
                ),
                style,
            ),
        ]));
    }
}
