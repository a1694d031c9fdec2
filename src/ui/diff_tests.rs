//! The diff view and the merge keys: snapshots of the file list, a file's
//! diff and a search, at both sizes, and what the keys do (pages, search,
//! refreshes, the pager, merge, resolve and fresh retries). Times are
//! passed in.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Style;

use crate::engine::TaskState;
use crate::git::{classify, DiffFile, LineKind, TaskDiff};
use crate::store::MergeState;
use crate::ui::app::{App, Effect, EngineAction, Mode};
use crate::ui::jobs::{Job, JobDone};
use crate::ui::tests::{app, busy, render, row, t0, text, PLAN};

fn file(path: &str, old: Option<&str>, status: char, patch: &str) -> DiffFile {
    let count = |kind| classify(patch).filter(|(k, _)| *k == kind).count();
    DiffFile {
        path: path.into(),
        old_path: old.map(str::to_string),
        status,
        added: count(LineKind::Added),
        removed: count(LineKind::Removed),
        binary: false,
        old_bytes: 0,
        new_bytes: 0,
        patch: patch.into(),
    }
}

const API_PATCH: &str = "diff --git a/src/api.rs b/src/api.rs
index 3b18e51..a8c2f4d 100644
--- a/src/api.rs
+++ b/src/api.rs
@@ -1,6 +1,7 @@ use std::io;
 use crate::auth::Token;
 
-fn handle(req: Request) -> Response {
+fn handle(req: Request, token: &Token) -> Response {
+\ttoken.check()?;
     let body = parse(req);
     respond(body)
 }
@@ -20,4 +21,4 @@ fn respond(body: Body) -> Response {
 fn health() -> Response {
-    Response::ok()
+    Response::ok().with_token_age()
 }
";

/// The api task's changes: a modified file, a rename, a binary file and a
/// long new file.
fn changes() -> Arc<TaskDiff> {
    let mut big = String::from(
        "diff --git a/src/big.rs b/src/big.rs\nnew file mode 100644\nindex 0000000..5d1e0aa\n--- /dev/null\n+++ b/src/big.rs\n@@ -0,0 +1,60 @@\n",
    );
    for i in 1..=60 {
        big.push_str(&format!("+// generated line {i}\n"));
    }
    let rename = "diff --git a/docs/auth.md b/docs/tokens.md\nsimilarity index 90%\nrename from docs/auth.md\nrename to docs/tokens.md\nindex 1111111..2222222 100644\n--- a/docs/auth.md\n+++ b/docs/tokens.md\n@@ -1 +1 @@\n-# Auth\n+# Tokens\n";
    let mut logo = file(
        "logo.png",
        None,
        'A',
        "diff --git a/logo.png b/logo.png\nnew file mode 100644\nindex 0000000..67c1c7c\nBinary files /dev/null and b/logo.png differ\n",
    );
    logo.binary = true;
    logo.new_bytes = 2048;
    Arc::new(TaskDiff {
        files: vec![
            file("docs/tokens.md", Some("docs/auth.md"), 'R', rename),
            logo,
            file("src/api.rs", None, 'M', API_PATCH),
            file("src/big.rs", None, 'A', &big),
        ],
    })
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, keys: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in keys.chars() {
        effects.extend(app.on_key(&key(KeyCode::Char(c))));
    }
    effects
}

/// The answer to diff request `seq` of `task` for the view.
fn answer(app: &mut App, task: &str, seq: u64, result: Result<Arc<TaskDiff>, String>) {
    app.on_job_done(JobDone::Diff {
        task: task.into(),
        seq,
        for_pager: false,
        result,
    });
}

/// Mark the view's diff changed and take the request that follows at `at`.
fn ask_again(app: &mut App, at: std::time::Instant) -> u64 {
    app.diff.as_mut().expect("open").mark_stale();
    app.refresh_diff(at);
    match app.take_jobs().as_slice() {
        [Job::Diff { seq, .. }] => *seq,
        jobs => panic!("one diff job: {jobs:?}"),
    }
}

/// The busy plan with api's diff view open and its first answer in.
fn reviewing(width: u16, height: u16) -> App {
    let mut app = busy("dark");
    app.base_branch = Some("main".into());
    press(&mut app, "d");
    assert_eq!(app.mode, Mode::Diff("api".into()));
    render(&mut app, width, height);
    app.refresh_diff(t0());
    let jobs = app.take_jobs();
    let [Job::Diff {
        task,
        seq,
        for_pager,
    }] = jobs.as_slice()
    else {
        panic!("one diff job: {jobs:?}");
    };
    assert_eq!((task.as_str(), *for_pager), ("api", false));
    let screen = text(&render(&mut app, width, height));
    assert!(screen.contains("loading…"), "{screen}");
    answer(&mut app, "api", *seq, Ok(changes()));
    app
}

/// Check that the first cell showing `needle` has what `scope` sets:
/// its colours and its modifiers.
fn assert_styled(app: &mut App, size: (u16, u16), needle: &str, scope: &str) {
    let want = app.theme.style(scope);
    let got = style_at(app, size.0, size.1, needle);
    for (what, w, g) in [("fg", want.fg, got.fg), ("bg", want.bg, got.bg)] {
        if w.is_some() {
            assert_eq!(g, w, "{what} of {needle:?}, styled as {scope}");
        }
    }
    assert!(
        got.add_modifier.contains(want.add_modifier),
        "modifiers of {needle:?}: {got:?}, styled as {scope}"
    );
}

/// The style of the first cell showing `needle` on screen.
fn style_at(app: &mut App, width: u16, height: u16, needle: &str) -> Style {
    let terminal = render(app, width, height);
    let buffer = terminal.backend().buffer();
    let screen = text(&terminal);
    let (y, line) = screen
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} on\n{screen}"));
    let x = line[..line.find(needle).expect("found")].chars().count();
    buffer[(x as u16, y as u16)].style()
}

#[test]
fn the_file_list_shows_each_change_with_its_counts() {
    let mut app = reviewing(120, 30);
    let screen = text(&render(&mut app, 120, 30));
    for needle in [
        "Diff: api against main · 4 files +64 -3",
        "4 files changed, 64 insertions(+), 3 deletions(-)",
        "R docs/{auth.md => tokens.md}",
        "Bin 0 -> 2048 bytes",
    ] {
        assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
    }
    insta::assert_snapshot!("diff_files_120x30", screen);
    let mut app = reviewing(80, 24);
    insta::assert_snapshot!("diff_files_80x24", text(&render(&mut app, 80, 24)));
}

#[test]
fn enter_shows_the_chosen_files_diff_coloured_from_the_theme() {
    let mut app = reviewing(120, 30);
    app.on_key(&key(KeyCode::Down));
    app.on_key(&key(KeyCode::Down));
    app.on_key(&key(KeyCode::Enter));
    let view = app.diff.as_ref().expect("open");
    assert_eq!(view.open_file(), Some("src/api.rs"));
    let screen = text(&render(&mut app, 120, 30));
    assert!(
        screen.contains("M src/api.rs  +3 -2  file 3 of 4"),
        "{screen}"
    );
    // Tabs are expanded.
    assert!(screen.contains("+   token.check()?;"), "{screen}");
    insta::assert_snapshot!("diff_file_120x30", screen);
    for (needle, scope) in [
        ("+fn handle", "diff.added"),
        ("-fn handle", "diff.removed"),
        ("@@ -20,4", "diff.hunk"),
        ("diff --git", "diff.file"),
    ] {
        assert_styled(&mut app, (120, 30), needle, scope);
    }
    insta::assert_snapshot!("diff_file_80x24", text(&render(&mut app, 80, 24)));
}

#[test]
fn a_search_highlights_its_matches_counts_them_and_steps_through_them() {
    let mut app = reviewing(120, 30);
    press(&mut app, "]]");
    app.on_key(&key(KeyCode::Enter));
    assert_eq!(
        app.diff.as_ref().and_then(|v| v.open_file()),
        Some("src/api.rs")
    );
    press(&mut app, "/token");
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("/token█  1/5"), "{screen}");
    app.on_key(&key(KeyCode::Enter));
    let view = app.diff.as_ref().expect("open");
    assert!(!view.typing());
    assert_eq!(view.matches(), (5, 1));
    press(&mut app, "n");
    assert_eq!(app.diff.as_ref().expect("open").matches(), (5, 2));
    let screen = text(&render(&mut app, 120, 30));
    assert!(
        screen.contains("match 2 of 5 for \"token\" · n/N next/previous"),
        "{screen}"
    );
    insta::assert_snapshot!("diff_search_120x30", screen);
    // The match moved to stands out from the others.
    assert_styled(&mut app, (120, 30), "token: &Token", "diff.match.current");
    assert_styled(&mut app, (120, 30), "Token;", "diff.match");
    // N steps back, and wraps.
    press(&mut app, "NN");
    assert_eq!(app.diff.as_ref().expect("open").matches(), (5, 5));
    // A capital makes it exact.
    press(&mut app, "/Token");
    app.on_key(&key(KeyCode::Enter));
    assert_eq!(app.diff.as_ref().expect("open").matches(), (2, 1));
    press(&mut app, "/nowhere");
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("/nowhere█  no match"), "{screen}");
}

#[test]
fn esc_clears_the_search_then_leaves_the_file_then_closes() {
    let mut app = reviewing(120, 30);
    app.on_key(&key(KeyCode::End));
    app.on_key(&key(KeyCode::Enter));
    press(&mut app, "/line");
    app.on_key(&key(KeyCode::Enter));
    assert_eq!(app.diff.as_ref().expect("open").matches().0, 60);
    app.on_key(&key(KeyCode::Esc));
    let view = app.diff.as_ref().expect("open");
    assert_eq!(
        (view.matches().0, view.open_file()),
        (0, Some("src/big.rs"))
    );
    app.on_key(&key(KeyCode::Esc));
    let view = app.diff.as_ref().expect("open");
    assert_eq!((view.open_file(), view.cursor()), (None, 3));
    app.on_key(&key(KeyCode::Esc));
    assert!(app.diff.is_none());
    assert_eq!(app.mode, Mode::Normal);
    // q closes at once; d toggles.
    let mut app = reviewing(120, 30);
    app.on_key(&key(KeyCode::Enter));
    press(&mut app, "q");
    assert_eq!((app.mode.clone(), app.diff.is_none()), (Mode::Normal, true));
    let mut app = reviewing(120, 30);
    press(&mut app, "d");
    assert!(app.diff.is_none());
}

#[test]
fn the_file_view_scrolls_by_lines_pages_and_hunks_within_bounds() {
    let mut app = reviewing(120, 30);
    app.on_key(&key(KeyCode::End));
    app.on_key(&key(KeyCode::Enter));
    render(&mut app, 120, 30);
    let scroll = |app: &App| app.diff.as_ref().expect("open").scroll();
    app.on_key(&key(KeyCode::Down));
    assert_eq!(scroll(&app), 1);
    app.on_key(&key(KeyCode::PageDown));
    // 26 rows of text: a page is 25.
    assert_eq!(scroll(&app), 26);
    app.on_key(&key(KeyCode::End));
    // 66 rows (6 header rows, 60 lines) in 26: at most 40 down.
    assert_eq!(scroll(&app), 40);
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("lines 41-66 of 66"), "{screen}");
    app.on_key(&key(KeyCode::Home));
    assert_eq!(scroll(&app), 0);
    // "}" to the hunk header; "[" back to the previous file.
    press(&mut app, "}");
    assert_eq!(scroll(&app), 5);
    press(&mut app, "[");
    assert_eq!(
        app.diff.as_ref().and_then(|v| v.open_file()),
        Some("src/api.rs")
    );
    press(&mut app, "}}");
    assert_eq!(scroll(&app), 0, "a short file never scrolls");
}

#[test]
fn the_diff_is_asked_again_at_most_once_a_second_and_only_after_a_change() {
    // First asked at t0 (see `reviewing`).
    let mut app = reviewing(120, 30);
    let at = |ms: u64| t0() + Duration::from_millis(ms);
    let changed = |app: &mut App, updated_at: i64, when| {
        let mut r = row("api", TaskState::Running, 2, Some("exit code 7"));
        r.updated_at = updated_at;
        app.on_task(r, when);
    };
    // Nothing changed: nothing to ask, however long it has been, and no
    // wake-up to ask at.
    assert_eq!(app.diff_refresh_at(at(5_000)), None);
    app.refresh_diff(at(5_000));
    assert!(app.take_jobs().is_empty());
    let mut app = reviewing(120, 30);
    // The task changes: asked again, but not within a second of t0; the
    // loop is told when to wake for it.
    changed(&mut app, 2, at(100));
    app.refresh_diff(at(200));
    assert!(
        app.take_jobs().is_empty(),
        "within a second of the last ask"
    );
    assert_eq!(app.diff_refresh_at(at(200)), Some(at(1_000)));
    app.refresh_diff(at(1_000));
    let jobs = app.take_jobs();
    let [Job::Diff { seq, .. }] = jobs.as_slice() else {
        panic!("{jobs:?}");
    };
    let seq = *seq;
    // While it is on its way nothing else is asked.
    changed(&mut app, 3, at(1_100));
    app.refresh_diff(at(3_000));
    assert!(app.take_jobs().is_empty(), "one request at a time");
    // It lands; the change made meanwhile is asked for at once.
    answer(&mut app, "api", seq, Ok(changes()));
    app.refresh_diff(at(3_000));
    assert_eq!(app.take_jobs().len(), 1);
}

#[test]
fn a_new_answer_keeps_the_file_and_the_search_where_it_can() {
    let mut app = reviewing(120, 30);
    press(&mut app, "]]");
    app.on_key(&key(KeyCode::Enter));
    press(&mut app, "/token");
    app.on_key(&key(KeyCode::Enter));
    press(&mut app, "n");
    let mut newer = (*changes()).clone();
    newer.files.remove(0);
    newer.files[1].patch.push_str("+fn token_refresh() {}\n");
    let seq = ask_again(&mut app, t0() + Duration::from_secs(20));
    answer(&mut app, "api", seq, Ok(Arc::new(newer)));
    let view = app.diff.as_ref().expect("open");
    assert_eq!(view.open_file(), Some("src/api.rs"));
    assert_eq!(view.matches(), (6, 2));
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("file 2 of 3"), "{screen}");
    // The file is gone from a later answer: back to the list.
    let gone = TaskDiff {
        files: vec![changes().files[3].clone()],
    };
    let seq = ask_again(&mut app, t0() + Duration::from_secs(30));
    answer(&mut app, "api", seq, Ok(Arc::new(gone)));
    let view = app.diff.as_ref().expect("open");
    assert_eq!((view.open_file(), view.cursor()), (None, 0));
    // A failed refresh keeps what is shown and says so.
    let seq = ask_again(&mut app, t0() + Duration::from_secs(40));
    answer(&mut app, "api", seq, Err("index.lock exists".into()));
    let screen = text(&render(&mut app, 120, 30));
    assert!(
        screen.contains("src/big.rs") && screen.contains("not updated: index.lock exists"),
        "{screen}"
    );
}

#[test]
fn an_unstarted_task_or_a_failed_read_says_why() {
    let mut app = busy("dark");
    app.select_task("release");
    press(&mut app, "d");
    let seq = ask_again(&mut app, t0());
    let unstarted =
        "diffing task release: there is no branch orch/release yet (the task has not started)";
    answer(&mut app, "release", seq, Err(unstarted.into()));
    let screen = text(&render(&mut app, 80, 24));
    assert!(
        screen.contains("there is no branch orch/release yet"),
        "{screen}"
    );
    answer(&mut app, "release", seq, Ok(Arc::new(TaskDiff::default())));
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("no changes yet"), "{screen}");
}

#[test]
fn the_pager_key_uses_the_diff_on_screen_or_reads_it_first() {
    let mut app = reviewing(120, 30);
    let effects = press(&mut app, "D");
    assert_eq!(
        effects,
        vec![Effect::Pager {
            task: "api".into(),
            diff: changes()
        }]
    );
    // From the task list: read by a job, then paged.
    let mut app = busy("dark");
    press(&mut app, "D");
    let jobs = app.take_jobs();
    let [Job::Diff {
        task,
        seq,
        for_pager: true,
    }] = jobs.as_slice()
    else {
        panic!("{jobs:?}");
    };
    assert_eq!(task, "api");
    let effects = app.on_job_done(JobDone::Diff {
        task: "api".into(),
        seq: *seq,
        for_pager: true,
        result: Ok(changes()),
    });
    assert_eq!(
        effects,
        vec![Effect::Pager {
            task: "api".into(),
            diff: changes()
        }]
    );
    // Nothing to page: said, not paged.
    let effects = app.on_job_done(JobDone::Diff {
        task: "api".into(),
        seq: *seq,
        for_pager: true,
        result: Ok(Arc::new(TaskDiff::default())),
    });
    assert_eq!(effects, vec![Effect::Redraw]);
    assert_eq!(
        app.current_flash(std::time::Instant::now()),
        Some("api has no changes to show")
    );
}

/// Every merge state on a done task, one task each.
fn merge_states() -> App {
    let mut rows = vec![
        row("design", TaskState::Done, 1, None),
        row("api", TaskState::Done, 1, None),
        row("storage", TaskState::Done, 1, None),
        row("migrate-db", TaskState::Done, 1, None),
        row("release", TaskState::Done, 1, None),
    ];
    for (r, state) in rows.iter_mut().zip([
        MergeState::Merged,
        MergeState::Conflict,
        MergeState::AwaitingApproval,
        MergeState::Waiting,
        MergeState::Unmerged,
    ]) {
        r.merge_state = state;
    }
    let mut app = app(PLAN, rows, "dark");
    app.base_branch = Some("main".into());
    app
}

#[test]
fn the_tree_shows_each_done_tasks_merge_state_and_the_queue_its_merge_gate() {
    let mut app = merge_states();
    let screen = text(&render(&mut app, 200, 50));
    for needle in [
        "✓ design                       sh        merged",
        "conflict",
        "merge?",
        "waiting",
        "unmerged",
        "Needs you 2",
        "conflict       api",
    ] {
        assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
    }
    insta::assert_snapshot!("merge_states_200x50", screen);
    assert_styled(&mut app, (200, 50), "conflict", "merge.conflict");
    // At 80 columns the words still fit beside the tree; narrower, a
    // symbol each.
    let screen = text(&render(&mut app, 80, 24));
    for needle in [
        "design                       merged",
        "✓ api                        conflict",
    ] {
        assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
    }
    insta::assert_snapshot!("merge_states_80x24", screen);
    let screen = text(&render(&mut app, 64, 24));
    for needle in [
        "design                       ◆",
        "✓ api                        ✗",
    ] {
        assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
    }
}

#[test]
fn a_merge_gate_is_approved_and_rejected_like_a_start_gate() {
    let mut app = merge_states();
    // From the task list: the oldest waiting, here the only one.
    assert_eq!(
        press(&mut app, "a"),
        vec![Effect::Engine(EngineAction::Approve("storage".into()))]
    );
    press(&mut app, "x");
    assert!(matches!(app.mode, Mode::Dialog(_)), "{:?}", app.mode);
}

#[test]
fn merge_and_fresh_retry_ask_first_and_resolve_goes_straight_to_the_engine() {
    let mut app = merge_states();
    app.select_task("release");
    press(&mut app, "m");
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("Merge orch/release into main?"), "{screen}");
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::Engine(EngineAction::Merge("release".into()))]
    );
    assert_eq!(app.mode, Mode::Normal);
    // Merged already, or not done: said without asking.
    app.select_task("design");
    press(&mut app, "m");
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(
        app.current_flash(std::time::Instant::now()),
        Some("design is merged already")
    );
    app.on_task(row("design", TaskState::Running, 2, None), t0());
    press(&mut app, "m");
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(
        app.current_flash(std::time::Instant::now()),
        Some("design is running: only a done task can be merged")
    );
    // A fresh retry asks; n backs out.
    press(&mut app, "F");
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("Start design over from main?"), "{screen}");
    assert!(press(&mut app, "n").iter().all(|e| *e == Effect::Redraw));
    press(&mut app, "F");
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::Engine(EngineAction::RetryFresh("design".into()))]
    );
    app.select_task("api");
    assert_eq!(
        press(&mut app, "R"),
        vec![Effect::Engine(EngineAction::Resolve("api".into()))]
    );
}

#[test]
fn from_the_diff_view_a_merge_dialog_returns_to_the_view() {
    let mut app = merge_states();
    app.select_task("release");
    press(&mut app, "d");
    press(&mut app, "m");
    assert!(matches!(app.mode, Mode::Dialog(_)));
    // The view stays drawn beneath the dialog.
    let screen = text(&render(&mut app, 120, 30));
    assert!(screen.contains("Diff: release"), "{screen}");
    assert_eq!(
        press(&mut app, "y"),
        vec![Effect::Engine(EngineAction::Merge("release".into()))]
    );
    assert_eq!(app.mode, Mode::Diff("release".into()));
    // Help too.
    press(&mut app, "?");
    assert_eq!(app.mode, Mode::Help);
    press(&mut app, "x");
    assert_eq!(app.mode, Mode::Diff("release".into()));
}

#[test]
fn the_queue_opens_the_diff_of_the_item_under_its_cursor_and_approves_only_approvals() {
    let mut app = merge_states();
    app.focus = crate::ui::app::Focus::Approvals;
    // Oldest first: api's conflict, then storage's merge gate.
    press(&mut app, "d");
    assert_eq!(app.mode, Mode::Diff("api".into()));
    press(&mut app, "q");
    // `a` on the conflict approves the oldest approval instead.
    press(&mut app, "a");
    assert!(
        matches!(&app.mode, Mode::Dialog(_)) || app.mode == Mode::Normal,
        "{:?}",
        app.mode
    );
    app.mode = Mode::Normal;
    app.on_key(&key(KeyCode::Down));
    press(&mut app, "d");
    assert_eq!(app.mode, Mode::Diff("storage".into()));
}

#[test]
fn no_size_is_too_small_for_the_diff_view() {
    for (w, h) in [(1, 1), (2, 3), (10, 4), (20, 6), (40, 10), (300, 2)] {
        let mut app = reviewing(120, 30);
        render(&mut app, w, h);
        app.on_key(&key(KeyCode::Enter));
        render(&mut app, w, h);
        press(&mut app, "/x");
        render(&mut app, w, h);
    }
}
