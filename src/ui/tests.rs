//! Snapshot tests of the control room: each pane and the whole screen, at
//! 80x24 and 200x50, in the states a user meets.

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

use crate::config::parse;
use crate::engine::TaskState;
use crate::store::TaskRow;
use crate::ui::app::{App, Focus, Mode};
use crate::ui::jobs::{Job, JobDone, Jobs};
use crate::ui::keymap::Keymap;
use crate::ui::output_source::OutputSource;
use crate::ui::panes::overlays::TaskRecord;
use crate::ui::panes::Pane;
use crate::ui::theme::Theme;
use crate::ui::view::{self, Now};

pub(super) const PLAN: &str = r#"
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

pub(super) fn row(id: &str, state: TaskState, attempts: u32, cause: Option<&str>) -> TaskRow {
    TaskRow {
        state,
        attempts,
        cause: cause.map(str::to_string),
        created_at: 1,
        updated_at: 1,
        ..TaskRow::pending(id, id, "sh", 1)
    }
}

pub(super) fn app(plan: &str, rows: Vec<TaskRow>, theme: &str) -> App {
    let config = parse(plan, std::path::Path::new("orch.toml")).expect("plan parses");
    let keymap = Keymap::load("default", None).expect("default keymap");
    let theme = Theme::load(theme, None).expect("theme");
    App::new(&config, rows, keymap, theme, t0())
}

/// When the test's tasks entered their states.
pub(super) fn t0() -> Instant {
    thread_local! {
        static T0: Instant = Instant::now();
    }
    T0.with(|t| *t)
}

/// The time every frame of these tests shows: a fixed while after `t0`, so
/// elapsed times are the same on every run.
pub(super) fn now() -> Now {
    Now {
        mono: t0() + Duration::from_secs(75),
        wall_ms: 1_700_000_000_000,
    }
}

/// The demo state: one done, one running with coloured output, one failed
/// and retrying, one awaiting approval, one blocked behind it.
pub(super) fn busy(theme: &str) -> App {
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

pub(super) fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    app.prepare_frame(Rect::new(0, 0, width, height));
    let app: &App = app;
    terminal
        .draw(|frame| view::draw(frame, app, now()))
        .expect("draw");
    terminal
}

/// Prepare a frame and answer the jobs it asks for as a state directory
/// with no logs and no readable state.db would.
fn settle(app: &mut App, width: u16, height: u16) {
    app.prepare_frame(Rect::new(0, 0, width, height));
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let jobs = Jobs::new(dir.path().to_path_buf(), None, tx);
    for job in app.take_jobs() {
        app.on_job_done(jobs.run(job));
    }
}

pub(super) fn text(terminal: &Terminal<TestBackend>) -> String {
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

// Elapsed times are fixed by `now()`, so snapshots need no filters: a
// column that overflows shows as a ragged border.
macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::assert_snapshot!($name, $value)
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
    let mut app = App::new(&config, vec![], keymap, theme, t0());
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
    settle(&mut app, 120, 30);
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
    app.output.set_scroll(12);
    let screen = text(&render(&mut app, 200, 50));
    assert!(screen.contains(" lines above · "), "{screen}");
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
fn help_scrolls_at_80x24_through_every_section_and_any_other_key_closes_it() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = busy("dark");
    app.on_key(&KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    assert_eq!(app.mode, Mode::Help);
    let first = text(&render(&mut app, 80, 24));
    assert!(first.contains("Everywhere"), "{first}");
    assert!(first.contains("of ") && first.contains("scroll"), "{first}");
    snap!("help_80x24", first);
    // Page down to the end: every section passes by, the last one shows.
    let mut seen = first.clone();
    for _ in 0..40 {
        app.on_key(&KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
        seen.push_str(&text(&render(&mut app, 80, 24)));
    }
    for section in [
        "Tasks",
        "Output",
        "Approvals",
        "Agents",
        "Diff view",
        "Attached to an agent",
    ] {
        assert!(seen.contains(section), "{section} never shown:\n{seen}");
    }
    let last = text(&render(&mut app, 80, 24));
    assert!(
        last.contains("since the agent's last sign of life"),
        "{last}"
    );
    // Scrolled as far as it goes: Up comes back at once.
    app.on_key(&KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    assert_eq!(text(&render(&mut app, 80, 24)), first);
    // Any other key closes it.
    app.on_key(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));
    assert_eq!(app.mode, Mode::Normal);
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
        vec![crate::ui::app::Effect::Engine(
            crate::ui::app::EngineAction::Reject {
                task: "migrate-db".into(),
                reason: "too risky".into()
            }
        )]
    );
}

#[test]
fn each_shipped_theme() {
    for theme in ["dark", "light", "ansi16"] {
        let mut app = busy(theme);
        let terminal = render(&mut app, 80, 24);
        // The buffer's Debug form includes every cell's style.
        let styled = format!("{:?}", terminal.backend().buffer());
        insta::assert_snapshot!(format!("theme_{theme}_80x24"), styled);
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

/// Draw into a buffer of its own.
fn alone(width: u16, height: u16, draw: impl FnOnce(&mut ratatui::Frame<'_>, Rect)) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| {
            let area = frame.area();
            draw(frame, area)
        })
        .expect("draw");
    text(&terminal)
}

/// Draw one pane alone.
fn pane(app: &App, width: u16, height: u16, pick: fn(&App) -> &dyn Pane) -> String {
    alone(width, height, |frame, area| {
        pick(app).draw(frame, area, &app.ctx(), now())
    })
}

#[test]
fn subtasks_are_nested_under_their_parent() {
    let plan = "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n\
                [[tasks]]\nid = \"p\"\nagent = \"sh\"\nprompt = \"x\"\n\
                [[tasks]]\nid = \"after\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"p\"]\n";
    let mut config = parse(plan, std::path::Path::new("orch.toml")).expect("plan parses");
    for (id, parent, deps) in [
        ("p-a", "p", vec![]),
        ("p-b", "p", vec!["p-a"]),
        ("p-b-x", "p-b", vec![]),
    ] {
        let task = config.resolve_added(&crate::config::NewTask {
            id: id.into(),
            agent: "sh".into(),
            prompt: "x".into(),
            title: None,
            depends_on: deps.into_iter().map(str::to_string).collect(),
            parent: Some(parent.into()),
        });
        config.tasks.push(task);
    }
    let rows = ["p", "after", "p-a", "p-b", "p-b-x"]
        .iter()
        .map(|id| {
            let mut row = row(id, TaskState::Pending, 0, None);
            row.parent = config
                .tasks
                .iter()
                .find(|t| t.id == *id)
                .and_then(|t| t.parent.clone());
            row
        })
        .collect();
    let keymap = Keymap::load("default", None).expect("default keymap");
    let theme = Theme::load("dark", None).expect("theme");
    let app = App::new(&config, rows, keymap, theme, t0());
    let screen = pane(&app, 60, 8, |a| &a.task_list);
    let names: Vec<&str> = screen
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix("│ "))
        .filter_map(|l| Some(l[..l.find(" sh ")?].trim_end()))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        names,
        ["· p", "  · after", "  · p-a", "  · p-b", "    · p-b-x"],
        "{screen}"
    );
}

#[test]
fn each_pane_alone() {
    use crate::ui::panes::status;
    let mut app = busy("dark");
    snap!("pane_tasks_60x10", pane(&app, 60, 10, |a| &a.task_list));
    snap!("pane_health_80x4", pane(&app, 80, 4, |a| &a.health));
    snap!("pane_output_80x12", pane(&app, 80, 12, |a| &a.output));
    snap!("pane_approvals_80x4", pane(&app, 80, 4, |a| &a.queue));
    snap!(
        "pane_status_80x1",
        alone(80, 1, |frame, area| status::draw(frame, area, &app, now()))
    );
    app.task_list
        .set_grouping(crate::ui::panes::tasks::Grouping::Stages, &app.table);
    snap!(
        "pane_tasks_by_stage_60x12",
        pane(&app, 60, 12, |a| &a.task_list)
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
    app.output.set_scroll(5);
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
    assert_eq!(app.output.scroll(), 15);
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
    app.on_task(
        row("api", TaskState::Done, 2, None),
        t0() + Duration::from_millis(3),
    );
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

#[test]
fn columns_stay_aligned_whatever_the_times() {
    let secs = |s: u64| Duration::from_secs(s);
    for wait in [
        Duration::from_millis(7),
        Duration::from_millis(999),
        secs(59),
        secs(75),
        secs(3_599),
        secs(36_000),
        secs(359_999),
        secs(3_600_000),
    ] {
        let now = Now {
            mono: t0() + wait,
            wall_ms: 1_700_000_000_000,
        };
        let mut retrying = row("storage", TaskState::Retrying, 1, Some("exit code 1"));
        retrying.retry_at = Some(now.wall_ms + i64::try_from(wait.as_millis()).unwrap());
        let mut app = app(
            PLAN,
            vec![
                row("design", TaskState::Done, 1, None),
                row("api", TaskState::Running, 1, None),
                retrying,
                row("migrate-db", TaskState::AwaitingApproval, 0, None),
                row("release", TaskState::Pending, 0, None),
            ],
            "dark",
        );
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).expect("terminal");
        app.prepare_frame(Rect::new(0, 0, 120, 30));
        let shown: &App = &app;
        terminal
            .draw(|frame| view::draw(frame, shown, now))
            .expect("draw");
        let screen = text(&terminal);
        // The agent column ("sh") starts at the same place on every task row.
        let columns: Vec<Option<usize>> = screen
            .lines()
            .skip(1)
            .take(5)
            .map(|l| {
                let left: String = l.chars().take(54).collect();
                left.find(" sh ").map(|b| left[..b].chars().count())
            })
            .collect();
        assert!(
            columns.iter().all(|c| c.is_some() && *c == columns[0]),
            "after {wait:?}: {columns:?}\n{screen}"
        );
    }
}

/// The plan with every task finished (one attempt each), the first selected.
fn finished() -> App {
    app(
        PLAN,
        ["design", "api", "storage", "migrate-db", "release"]
            .iter()
            .map(|id| row(id, TaskState::Done, 1, None))
            .collect(),
        "dark",
    )
}

fn replayed(text: &str) -> Option<OutputSource> {
    Some(OutputSource::from_bytes(
        format!("{text}\r\n").as_bytes(),
        10,
        40,
    ))
}

#[test]
fn a_finished_task_shows_loading_until_its_replay_arrives() {
    let mut app = finished();
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("loading output…"), "{screen}");
    // One replay of the last attempt's log, at the output pane's size.
    let jobs = app.take_jobs();
    assert_eq!(
        jobs,
        vec![Job::Replay {
            task: "design".into(),
            attempt: 1,
            rows: 16,
            cols: 118
        }]
    );
    // Asked once, however many frames are drawn meanwhile.
    render(&mut app, 120, 30);
    assert!(app.take_jobs().is_empty());
    app.on_job_done(JobDone::Replay {
        task: "design".into(),
        attempt: 1,
        output: replayed("design's old output"),
    });
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("design's old output"), "{screen}");
}

#[test]
fn a_late_replay_is_kept_for_its_task_and_not_shown_for_the_selected_one() {
    let mut app = finished();
    render(&mut app, 120, 30);
    app.select_task("storage");
    render(&mut app, 120, 30);
    assert_eq!(app.take_jobs().len(), 2, "one replay per task viewed");
    // design's replay comes back while storage is selected.
    app.on_job_done(JobDone::Replay {
        task: "design".into(),
        attempt: 1,
        output: replayed("design's old output"),
    });
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("Output: storage"), "{screen}");
    assert!(!screen.contains("design's old output"), "{screen}");
    assert!(screen.contains("loading output…"), "{screen}");
    // Back on design: shown from memory, no second read.
    app.select_task("design");
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("design's old output"), "{screen}");
    assert!(app.take_jobs().is_empty());
}

#[test]
fn a_replay_overtaken_by_a_new_attempt_is_dropped() {
    let mut app = finished();
    render(&mut app, 120, 30);
    app.take_jobs();
    // design runs again before its old log is read.
    app.on_task(row("design", TaskState::Running, 2, None), t0());
    app.on_job_done(JobDone::Replay {
        task: "design".into(),
        attempt: 1,
        output: replayed("attempt 1"),
    });
    assert!(app.task("design").unwrap().output.is_none());
}

#[test]
fn screens_viewed_long_ago_are_dropped_and_read_again_on_demand() {
    // More finished tasks than screens kept.
    let n = crate::ui::task_table::FINISHED_SCREENS_KEPT + 3;
    let mut toml = String::from("[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n");
    for i in 0..n {
        toml.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\nagent = \"sh\"\nprompt = \"p\"\n"
        ));
    }
    let rows = (0..n)
        .map(|i| row(&format!("t{i}"), TaskState::Done, 1, None))
        .collect();
    let mut app = app(&toml, rows, "dark");
    for i in 0..n {
        let id = format!("t{i}");
        app.select_task(&id);
        render(&mut app, 120, 30);
        for job in app.take_jobs() {
            let Job::Replay { task, attempt, .. } = job else {
                panic!("unexpected {job:?}");
            };
            let output = replayed(&format!("output of {task}"));
            app.on_job_done(JobDone::Replay {
                task,
                attempt,
                output,
            });
        }
        render(&mut app, 120, 30);
        let in_memory = app
            .table
            .tasks
            .iter()
            .filter(|t| t.output.is_some())
            .count();
        assert!(
            in_memory <= crate::ui::task_table::FINISHED_SCREENS_KEPT,
            "{in_memory} screens after viewing {id}"
        );
    }
    // The first ones viewed are gone; viewing one again reads its log again.
    assert!(app.task("t0").unwrap().output.is_none());
    assert!(app.task(&format!("t{}", n - 1)).unwrap().output.is_some());
    app.select_task("t0");
    render(&mut app, 120, 30);
    assert!(matches!(
        app.take_jobs().as_slice(),
        [Job::Replay { task, .. }] if task == "t0"
    ));
}

#[test]
fn details_show_loading_until_the_attempts_arrive_and_reload_when_the_task_changes() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = busy("dark");
    app.on_key(&KeyEvent::new(KeyCode::Char('i'), KeyModifiers::NONE));
    assert_eq!(app.mode, Mode::Details("api".into()));
    assert_eq!(app.take_jobs(), vec![Job::Attempts("api".into())]);
    let screen = text(&render(&mut app, 200, 50));
    assert!(screen.contains("loading…"), "{screen}");
    let attempt = crate::store::AttemptRow {
        task_id: "api".into(),
        attempt: 1,
        agent: "sh".into(),
        status: crate::store::AttemptStatus::Failed,
        started_at: 1_700_000_000_000,
        ended_at: Some(1_700_000_004_000),
        pid: Some(42),
        exit_code: Some(7),
        signal: None,
        cause: Some("exit code 7".into()),
        log_path: None,
        commit_id: None,
        progress: None,
        note: None,
        activity: None,
        session_id: None,
        resumed: None,
        sandbox: Some("none".into()),
    };
    let confined = crate::store::AttemptRow {
        attempt: 2,
        sandbox: Some("partial (ABI 2)".into()),
        ..attempt.clone()
    };
    let message = crate::store::MessageRow {
        id: 4,
        to_task: "api".into(),
        sender: "agent design".into(),
        from_task: Some("design".into()),
        from_attempt: Some(1),
        text: "the schema is in schema.sql\nuse it".into(),
        sent_at: 1_700_000_001_000,
        state: crate::store::MessageState::Delivered,
        delivered_at: Some(1_700_000_002_000),
        delivered_attempt: Some(1),
        acked_at: None,
    };
    let reply = crate::store::MessageRow {
        id: 5,
        to_task: "design".into(),
        sender: "agent api".into(),
        from_task: Some("api".into()),
        state: crate::store::MessageState::Pending,
        text: "thanks".into(),
        ..message.clone()
    };
    app.on_job_done(JobDone::Attempts {
        task: "api".into(),
        result: Ok(TaskRecord {
            attempts: vec![attempt, confined],
            messages: vec![message, reply],
        }),
    });
    let screen = text(&render(&mut app, 200, 50));
    assert!(!screen.contains("loading…"), "{screen}");
    // Its messages, both ways, with where each stands.
    let row4 = screen
        .lines()
        .find(|l| l.contains("#4"))
        .unwrap_or_default();
    assert!(
        row4.contains("delivered")
            && row4.contains("from task design")
            && row4.contains("the schema is in schema.sql use it"),
        "{screen}"
    );
    let row5 = screen
        .lines()
        .find(|l| l.contains("#5"))
        .unwrap_or_default();
    assert!(
        row5.contains("pending") && row5.contains("to design"),
        "{screen}"
    );
    assert!(
        screen.contains("#1") && screen.contains("exit 7"),
        "{screen}"
    );
    // The confinement an attempt got is shown, unless it had none.
    let line = |n: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!("│  {n}  ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("#2").contains("sandbox partial (ABI 2)"), "{screen}");
    assert!(!line("#1").contains("sandbox"), "{screen}");
    // Drawing never reads the store again; a change of the task does.
    assert!(app.take_jobs().is_empty());
    app.on_task(row("api", TaskState::NeedsReview, 2, None), t0());
    assert_eq!(app.take_jobs(), vec![Job::Attempts("api".into())]);
}

#[test]
fn quit_stops_without_asking_only_when_nothing_is_owed_and_the_run_is_not_foreground() {
    use crate::ui::app::Effect;
    use crate::ui::panes::dialog::Dialog;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    // Nothing runs, but an approval is waiting: the server still owes it.
    let waiting = || {
        app(
            PLAN,
            vec![
                row("design", TaskState::Done, 1, None),
                row("api", TaskState::Done, 1, None),
                row("storage", TaskState::Done, 1, None),
                row("migrate-db", TaskState::AwaitingApproval, 0, None),
                row("release", TaskState::Pending, 0, None),
            ],
            "dark",
        )
    };
    let mut app = waiting();
    assert!(app.table.running().is_empty());
    assert_eq!(app.on_key(&q), vec![Effect::Redraw]);
    assert!(matches!(
        app.mode,
        Mode::Dialog(Dialog::Leave { running: 0, .. })
    ));
    let screen = text(&render(&mut app, 100, 30));
    assert!(screen.contains("plan is not finished"), "{screen}");
    assert_eq!(
        app.on_key(&enter),
        vec![Effect::Leave],
        "detach is the default"
    );

    // Settled (as the server says): q stops it and quits.
    let mut app = waiting();
    app.plan_settled = true;
    assert_eq!(app.on_key(&q), vec![Effect::Quit]);

    // Someone's foreground run, settled or not: asked, and detaching is
    // the default, said so in the dialog.
    for settled in [false, true] {
        let mut app = waiting();
        app.plan_settled = settled;
        app.foreground_run = true;
        assert_eq!(app.on_key(&q), vec![Effect::Redraw]);
        let screen = text(&render(&mut app, 100, 30));
        assert!(
            screen.contains("foreground run") && screen.contains("(the default)"),
            "{screen}"
        );
        assert_eq!(app.on_key(&enter), vec![Effect::Leave]);
    }
    let mut app = waiting();
    app.foreground_run = true;
    app.on_key(&q);
    let s = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE);
    assert_eq!(app.on_key(&s), vec![Effect::Quit], "an explicit stop");
}

#[test]
fn a_running_agent_s_progress_shows_in_the_tree_and_the_agents_pane_until_its_attempt_ends() {
    let mut app = busy("dark");
    let said = crate::engine::message::Progress {
        task: "api".into(),
        attempt: 2,
        progress: Some(42),
        note: Some("parsing the schema".into()),
    };
    // Said by an earlier attempt: not this one's.
    app.on_progress(crate::engine::message::Progress {
        attempt: 1,
        ..said.clone()
    });
    assert!(!pane(&app, 100, 10, |a| &a.task_list).contains("42%"));
    app.on_progress(said);
    let tree = pane(&app, 100, 10, |a| &a.task_list);
    assert!(tree.contains("42%"), "{tree}");
    assert!(tree.contains("parsing the schema"), "{tree}");
    let health = pane(&app, 120, 4, |a| &a.health);
    assert!(health.contains("42% parsing the schema"), "{health}");
    // The attempt is over: what it said goes with it.
    app.on_task(row("api", TaskState::Done, 2, None), t0());
    assert!(!pane(&app, 100, 10, |a| &a.task_list).contains("42%"));
}

#[test]
fn a_waiting_agent_joins_the_queue_with_its_question_rings_once_and_leaves_when_answered() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = busy("dark");
    let waiting = crate::engine::message::Attention {
        task: "api".into(),
        attempt: 2,
        activity: crate::store::ActivityRow {
            state: "waiting".into(),
            since: crate::timefmt::now_ms(),
            signal: Some("os".into()),
            detail: Some("pid 42 reads the terminal".into()),
            question: Some("Overwrite schema.sql? [y/N]".into()),
        },
        notify: false,
    };
    app.on_attention(waiting.clone());
    assert!(!app.take_bell(), "not before it stood a moment");
    let screen = text(&render(&mut app, 200, 50));
    assert!(screen.contains("Needs you 2"), "{screen}");
    let row = screen
        .lines()
        .find(|l| l.contains("input") && l.contains("api"))
        .unwrap_or_default();
    assert!(row.contains("Overwrite schema.sql? [y/N]"), "{screen}");
    assert!(
        screen.contains("2 need you"),
        "the status bar counts: {screen}"
    );
    assert!(
        screen.contains("? waiting Overwrite schema.sql?"),
        "the tree marks it: {screen}"
    );
    assert!(
        screen.contains("(os): Over"),
        "the agents pane says which signal: {screen}"
    );
    assert_eq!(app.take_title().as_deref(), Some("orch: 2 need you"));
    assert_eq!(app.take_title(), None, "said once");
    // It stood: one ring, naming the task and the question.
    app.on_attention(crate::engine::message::Attention {
        notify: true,
        ..waiting.clone()
    });
    assert!(app.take_bell());
    assert!(!app.take_bell());
    assert_eq!(
        app.notification_text().as_deref(),
        Some("orch: api: Overwrite schema.sql? [y/N]")
    );
    // `!` from the task list goes to the queue, on the next item.
    app.on_key(&KeyEvent::new(KeyCode::Char('!'), KeyModifiers::NONE));
    assert_eq!(app.focus, Focus::Approvals);
    // Answered: busy again, it leaves the queue.
    app.on_attention(crate::engine::message::Attention {
        activity: crate::store::ActivityRow {
            state: "busy".into(),
            signal: Some("input".into()),
            question: None,
            ..waiting.activity.clone()
        },
        ..waiting
    });
    let screen = text(&render(&mut app, 200, 50));
    assert!(screen.contains("Needs you 1"), "{screen}");
    assert_eq!(app.take_title().as_deref(), Some("orch: 1 needs you"));
}

#[test]
fn attempts_read_as_each_state_is_and_a_skipped_task_is_not_drawn_done() {
    let mut retried = row("api", TaskState::Retrying, 3, Some("exit code 1"));
    retried.failures = 1;
    let mut skipped = row("storage", TaskState::Done, 0, None);
    skipped.skipped = true;
    let mut app = app(
        PLAN,
        vec![
            row("design", TaskState::Done, 1, None),
            retried,
            skipped,
            row("migrate-db", TaskState::Running, 2, None),
            row("release", TaskState::Done, 4, None),
        ],
        "dark",
    );
    settle(&mut app, 200, 50);
    let screen = text(&render(&mut app, 200, 50));
    let line = |id: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {id} ")))
            .unwrap_or_default()
            .to_string()
    };
    // Done after one attempt: nothing that reads unfinished.
    assert!(!line("design").contains('/'), "{}", line("design"));
    // Retrying: its failures of those allowed.
    assert!(line("api").contains("1/"), "{}", line("api"));
    // Running: which attempt.
    assert!(line("migrate-db").contains("#2"), "{}", line("migrate-db"));
    // Done after four attempts: how many it took.
    assert!(line("release").contains("×4"), "{}", line("release"));
    // Skipped: not the done tick.
    assert!(line("storage").contains('↷'), "{}", line("storage"));
    assert!(!line("storage").contains('✓'), "{}", line("storage"));
}

#[test]
fn the_tree_shows_the_agent_that_ran_where_a_fallback_did() {
    let mut app = busy("dark");
    let configured = app.table.tasks[0].row.agent.clone();
    app.on_agent_named("design", "script".into());
    settle(&mut app, 200, 50);
    let screen = text(&render(&mut app, 200, 50));
    let line = screen
        .lines()
        .find(|l| l.contains(" design "))
        .unwrap_or_default();
    assert!(line.contains(" script "), "{line}");
    assert!(!line.contains(&format!(" {configured} ")), "{line}");
}
