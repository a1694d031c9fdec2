//! Agent health: one row per running agent: heartbeat age (coloured by
//! heartbeat_warn / heartbeat_stall), CPU % with a sparkline of the last
//! minute, RSS, pid, and what the agent said of its progress (`orch
//! heartbeat`), else its worktree.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::engine::policy::{self, Level};
use crate::ui::app::Focus;
use crate::ui::keymap::Action;
use crate::ui::panes::{duration_cell, fit, human_bytes, pane_block, Ctx, Handled, Pane};
use crate::ui::task_table::SPARK_SAMPLES;
use crate::ui::view::Now;

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The health pane has no state of its own: its rows are the task list's
/// running tasks, and moving in it moves the task list's cursor.
#[derive(Default)]
pub struct HealthPane;

impl Pane for HealthPane {
    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, now: Now) {
        if area.height == 0 {
            return;
        }
        let theme = ctx.theme;
        let running = ctx.table.running();
        let block = pane_block(
            theme,
            vec![Span::raw(format!("Agents {}", running.len()))],
            ctx.focus == Focus::Health,
        );
        let width = usize::from(block.inner(area).width);
        let mut lines = Vec::new();
        if running.is_empty() {
            lines.push(Line::from(Span::styled(
                "no agent running",
                theme.style("text.dim"),
            )));
        }
        // Column headers, where a row is spare for them: a bare number
        // reads as nothing in particular.
        let id_width = 14.min(width / 4).max(6);
        let rows = usize::from(block.inner(area).height);
        if !running.is_empty() && rows > running.len() {
            lines.push(Line::from(Span::styled(
                fit(
                    &format!(
                        "{:<id_width$} {:>7} {:>4} {:<12} {:>5} {:>7} {}",
                        "task", "beat", "cpu", "cpu, 1 min", "mem", "pid", "doing"
                    ),
                    width,
                ),
                theme.style("text.dim"),
            )));
        }
        for t in running {
            let policy = &t.config.policy;
            let (hb_text, hb_level) = match t.heartbeat_age(now.mono) {
                Some(age) => (duration_cell(age, 6), policy::heartbeat_level(age, policy)),
                None => ("-".to_string(), Level::Ok),
            };
            let (cpu, rss, pid) = match &t.health {
                Some(h) => (
                    Some(h.sample.cpu),
                    human_bytes(h.sample.rss),
                    h.sample.pid.to_string(),
                ),
                None => (
                    None,
                    "-".into(),
                    t.output
                        .as_ref()
                        .and_then(|o| o.process())
                        .map_or("-".into(), |p| p.pid().to_string()),
                ),
            };
            let cpu_level = cpu.map_or(Level::Ok, |c| policy::cpu_level(c, policy));
            let spark = sparkline(&t.cpu_history, policy.cpu_critical);
            let level_style = |level: Level| theme.style(&format!("health.{}", level.as_str()));
            let mut spans = vec![
                Span::styled(
                    format!("{:<id_width$}", fit(&t.config.id, id_width)),
                    theme.style("text"),
                ),
                Span::styled(format!(" ♥{:>6}", hb_text), level_style(hb_level)),
                Span::styled(
                    format!(
                        " {:>4}",
                        cpu.map_or("-".to_string(), |c| format!("{c:.0}%"))
                    ),
                    level_style(cpu_level),
                ),
                Span::styled(format!(" {spark}"), theme.style("sparkline")),
                Span::styled(format!(" {:>5}", rss), theme.style("text")),
                Span::styled(format!(" {:>7}", pid), theme.style("text.dim")),
            ];
            let used = id_width + 8 + 5 + 13 + 6 + 8;
            // What the agent says of itself (`orch heartbeat`), else where
            // it works.
            let said = match t.attention.as_ref() {
                Some(a) => Some(attention_text(a, now)),
                None => t.progress.as_ref().map(|p| p.text()),
            };
            if let Some(said) = said.filter(|s| !s.is_empty() && width > used + 4) {
                spans.push(Span::styled(
                    format!(" {}", fit(&said, width - used - 1)),
                    theme.style("text"),
                ));
            } else if width > used + 4 {
                let worktree = format!(".orch/worktrees/{}", t.config.id);
                spans.push(Span::styled(
                    format!(" {}", fit(&worktree, width - used - 1)),
                    theme.style("text.dim"),
                ));
            }
            lines.push(Line::from(spans));
        }
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    fn handle(&mut self, _action: Action, _ctx: &Ctx<'_>) -> Handled {
        Handled::Ignored
    }
}

/// The last minute of CPU samples (one a second) in `SPARK_WIDTH` cells,
/// each the peak of its slice, scaled so a full cell is `cpu_critical`.
fn sparkline(history: &std::collections::VecDeque<u64>, critical: f64) -> String {
    const SPARK_WIDTH: usize = 12;
    let per_cell = SPARK_SAMPLES / SPARK_WIDTH;
    let samples: Vec<u64> = history.iter().copied().collect();
    // Align to the newest sample; missing older samples leave blank cells.
    let cells = samples.len().div_ceil(per_cell);
    let mut out = " ".repeat(SPARK_WIDTH.saturating_sub(cells));
    for chunk in samples.rchunks(per_cell).rev() {
        let peak = chunk.iter().copied().max().unwrap_or(0);
        let i = ((peak as f64 / critical.max(1.0)) * 7.0)
            .round()
            .clamp(0.0, 7.0) as usize;
        out.push(SPARK[i]);
    }
    out
}

/// A marked agent, for the health pane: what it needs, since when and
/// which signal said so (`waiting 12s (os): Name?`).
fn attention_text(a: &crate::engine::message::Attention, now: Now) -> String {
    // Whole seconds: a mark is a matter of seconds and minutes.
    let age = crate::timefmt::between(a.activity.since, now.wall_ms);
    let since = crate::timefmt::short_duration(std::time::Duration::from_secs(age.as_secs()));
    let signal = a.activity.signal.as_deref().unwrap_or("?");
    match &a.activity.question {
        Some(q) => format!("waiting {since} ({signal}): {q}"),
        None => format!("idle {since} ({signal})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_covers_the_last_minute() {
        let history: std::collections::VecDeque<u64> =
            (0..60).map(|i| if i >= 55 { 95 } else { 0 }).collect();
        let line = sparkline(&history, 95.0);
        assert_eq!(line.chars().count(), 12);
        assert_eq!(line.chars().last(), Some('█'));
        assert!(line.chars().take(11).all(|c| c == '▁'), "{line}");
        // Two samples: right-aligned, blanks before.
        let short: std::collections::VecDeque<u64> = [0, 95].into_iter().collect();
        assert_eq!(sparkline(&short, 95.0), format!("{}█", " ".repeat(11)));
    }
}
