//! Snapshot tests of the control room: each pane and the whole screen, at
//! 80x24 and 200x50, in the states a user meets.

use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::config::parse;
use crate::engine::TaskState;
use crate::store::TaskRow;
use crate::ui::app::{App, Focus, Mode};
use crate::ui::keymap::Keymap;
use crate::ui::output_source::OutputSource;
use crate::ui::theme::Theme;
use crate::ui::view;

const PLAN: &str = r#"
[agents.claude]
command = ["claude", "{prompt}"]
[agents.sh]
command = ["sh", "-c", "{prompt}"]

[[tasks]]
id = "design"
agent = "claude"
prompt = "Write docs/auth.md describing the token flow"

[[tasks]]
id = "api"
agent = "sh"
prompt = "make api"
depends_on = ["design"]

[[tasks]]
id = "storage"
agent = "sh"
prompt = "make storage"
depends_on = ["design"]

[[tasks]]
id = "migrate-db"
agent = "sh"
prompt = "Migrate the production schema to v2 and backfill the new columns"
depends_on = ["storage"]
risk = "high"

[[tasks]]
id = "release"
agent = "claude"
prompt = "Write the release notes"
depends_on = ["api", "migrate-db"]
"#;

fn row(id: &str, state: TaskState, attempts: u32, cause: Option<&str>) -> TaskRow {
    TaskRow {
        id: id.into(),
        title: id.into(),
        agent: "sh".into(),
        state,
        attempts,
        failures: 0,
        cause: cause.map(str::to_string),
        retry_at: None,
        approved: false,
        merge_state: crate::store::MergeState::Unmerged,
        created_at: 1,
        updated_at: 1,
        skipped: false,
    }
}

fn app(plan: &str, rows: Vec<TaskRow>, theme: &str) -> App {
    let config = parse(plan, std::path::Path::new("orch.toml")).expect("plan parses");
    let keymap = Keymap::load("default", None).expect("default keymap");
    let theme = Theme::load(theme, None).expect("theme");
    App::new(&config, rows, keymap, theme)
}

/// The demo state: one done, one running with coloured output, one failed
/// and retrying, one awaiting approval, one blocked behind it.
fn busy(theme: &str) -> App {
    let mut app = app(
        PLAN,
        vec![
            row("design", TaskState::Done, 1, None),
            row("api", TaskState::Running, 2, Some("exit code 7")),
            row("storage", TaskState::Done, 1, None),
            row("migrate-db", TaskState::AwaitingApproval, 0, None),
            row("release", TaskState::Pending, 0, None),
        ],
        theme,
    );
    let mut bytes = Vec::new();
    for i in 1..=40 {
        bytes.extend_from_slice(format!("\x1b[32m✓\x1b[0m step {i} of api\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\x1b[1;31merror:\x1b[0m flaky network, retrying\r\n$ ");
    app.on_agent("api", OutputSource::from_bytes(&bytes, 20, 80));
    app.select_task("api");
    app
}

fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| view::draw(frame, app, None))
        .expect("draw");
    terminal
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Elapsed times depend on how fast the test runs.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Right-aligned in columns: swallow the padding too, or "5ms" and
    // "12ms" would leave different widths behind.
    s.add_filter(r" +\d+(ms|s|m\d\ds)\b", " [t]");
    s
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        settings().bind(|| insta::assert_snapshot!($name, $value))
    };
}

#[test]
fn empty_plan() {
    // A config without tasks is refused at load time; the view must still
    // draw an empty task list.
    let plan = "[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n";
    let mut config = parse(plan, std::path::Path::new("orch.toml")).expect("plan parses");
    config.tasks.clear();
    let keymap = Keymap::load("default", None).expect("default keymap");
    let theme = Theme::load("dark", None).expect("theme");
    let mut app = App::new(&config, vec![], keymap, theme);
    snap!("empty_80x24", text(&render(&mut app, 80, 24)));
}

#[test]
fn busy_plan_at_both_sizes() {
    let mut app = busy("dark");
    snap!("busy_80x24", text(&render(&mut app, 80, 24)));
    let mut app = busy("dark");
    snap!("busy_200x50", text(&render(&mut app, 200, 50)));
}

#[test]
fn failures_and_blocked_tasks_show_their_causes() {
    let mut app = app(
        PLAN,
        vec![
            row("design", TaskState::Done, 1, None),
            row(
                "api",
                TaskState::NeedsReview,
                3,
                Some("exit code 1 (attempt 3 of 3)"),
            ),
            row("storage", TaskState::Running, 1, None),
            row("migrate-db", TaskState::Pending, 0, None),
            row(
                "release",
                TaskState::Blocked,
                0,
                Some("dependency api is needs_review"),
            ),
        ],
        "dark",
    );
    snap!("failures_120x30", text(&render(&mut app, 120, 30)));
}

#[test]
fn approval_pending_in_focus() {
    let mut app = busy("dark");
    app.focus = Focus::Approvals;
    snap!("approval_focus_200x50", text(&render(&mut app, 200, 50)));
}

#[test]
fn scrolled_output_shows_a_badge() {
    let mut app = busy("dark");
    app.focus = Focus::Output;
    // Draw once so the pane knows its size, then scroll back.
    render(&mut app, 200, 50);
    app.output_scroll = 12;
    let screen = text(&render(&mut app, 200, 50));
    assert!(screen.contains("scrolled 12 lines"), "{screen}");
    snap!("scrolled_200x50", screen);
}

#[test]
fn help_overlay_lists_the_keymap() {
    let mut app = busy("dark");
    app.mode = Mode::Help;
    let screen = text(&render(&mut app, 200, 50));
    for needle in ["Quit", "Approve", "Attach to the task's terminal", "<C-]>"] {
        assert!(screen.contains(needle), "help lacks {needle}:\n{screen}");
    }
    snap!("help_200x50", screen);
}

#[test]
fn reject_dialog_takes_a_reason() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = busy("dark");
    app.focus = Focus::Approvals;
    let key = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    app.on_key(&key('x'));
    for c in "too risky".chars() {
        app.on_key(&key(c));
    }
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("> too risky"), "{screen}");
    snap!("reject_dialog_80x24", screen);
    let effects = app.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(
        effects,
        vec![crate::ui::app::Effect::Reject {
            task: "migrate-db".into(),
            reason: "too risky".into()
        }]
    );
}

#[test]
fn each_shipped_theme() {
    for theme in ["dark", "light", "ansi16"] {
        let mut app = busy(theme);
        let terminal = render(&mut app, 80, 24);
        // The buffer's Debug form includes every cell's style.
        let styled = format!("{:?}", terminal.backend().buffer());
        settings().bind(|| insta::assert_snapshot!(format!("theme_{theme}_80x24"), styled));
    }
}

#[test]
fn attached_view_fills_the_screen() {
    let mut app = busy("dark");
    app.mode = Mode::Attached("api".into());
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("attached to api"), "{screen}");
    snap!("attached_80x24", screen);
}

#[test]
fn tiny_terminal_still_draws() {
    let mut app = busy("dark");
    let screen = text(&render(&mut app, 40, 10));
    assert!(screen.contains("Tasks"), "{screen}");
}

/// Draw one pane alone into a buffer of its own.
fn pane(
    app: &mut App,
    width: u16,
    height: u16,
    draw: fn(&mut ratatui::Frame<'_>, ratatui::layout::Rect, &App),
) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| {
            let area = frame.area();
            draw(frame, area, app)
        })
        .expect("draw");
    text(&terminal)
}

#[test]
fn each_pane_alone() {
    use crate::ui::panes::{approvals, health, output, status, tasks};
    let mut app = busy("dark");
    snap!("pane_tasks_60x10", pane(&mut app, 60, 10, tasks::draw));
    snap!("pane_health_80x4", pane(&mut app, 80, 4, health::draw));
    snap!("pane_output_80x12", pane(&mut app, 80, 12, output::draw));
    snap!(
        "pane_approvals_80x4",
        pane(&mut app, 80, 4, approvals::draw)
    );
    snap!("pane_status_80x1", pane(&mut app, 80, 1, status::draw));
    app.grouping = crate::ui::app::Grouping::Stages;
    app.rebuild_rows();
    snap!(
        "pane_tasks_by_stage_60x12",
        pane(&mut app, 60, 12, tasks::draw)
    );
}

#[test]
fn no_size_is_too_small_to_draw() {
    for (w, h) in [
        (1, 1),
        (2, 2),
        (5, 3),
        (10, 4),
        (20, 6),
        (30, 8),
        (79, 23),
        (1, 50),
        (300, 1),
    ] {
        for mode in [
            Mode::Normal,
            Mode::Help,
            Mode::Details("api".into()),
            Mode::Attached("api".into()),
        ] {
            let mut app = busy("dark");
            app.mode = mode;
            render(&mut app, w, h);
        }
        let mut app = busy("dark");
        app.focus = Focus::Approvals;
        app.on_key(&crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('x'),
            crossterm::event::KeyModifiers::NONE,
        ));
        render(&mut app, w, h);
    }
}

#[test]
fn scrolled_back_output_stays_put_while_the_agent_prints() {
    let mut app = busy("dark");
    app.focus = Focus::Output;
    render(&mut app, 120, 30);
    app.output_scroll = 5;
    let before = text(&render(&mut app, 120, 30));
    // The agent prints ten more lines.
    let Some(OutputSource::Replay(screen)) = app.task("api").and_then(|t| t.output.clone()) else {
        panic!("test output is a replay");
    };
    {
        let mut screen = screen.lock().unwrap();
        for i in 0..10 {
            screen.process(format!("\r\nmore {i}").as_bytes());
        }
    }
    let after = text(&render(&mut app, 120, 30));
    assert_eq!(app.output_scroll, 15);
    let output_lines = |s: &str| -> Vec<String> {
        s.lines()
            .skip(1)
            .take(10)
            .map(|l| l.chars().skip(55).collect())
            .collect()
    };
    assert_eq!(
        output_lines(&before),
        output_lines(&after),
        "the view moved:\n{before}\n{after}"
    );
}

#[test]
fn a_finished_attempt_shows_how_long_it_took() {
    let mut app = busy("dark");
    assert!(app.task("api").unwrap().last_run.is_none());
    app.on_task(row("api", TaskState::Done, 2, None));
    assert!(app.task("api").unwrap().last_run.is_some());
    let screen = text(&render(&mut app, 120, 30));
    let api_line = screen
        .lines()
        .find(|l| l.contains("✓ api"))
        .unwrap_or_default();
    // A duration token such as "3ms" in the time column.
    let has_duration = api_line.split_whitespace().any(|word| {
        word.strip_suffix("ms")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    });
    assert!(has_duration, "{api_line}");
}
