//! The control room read as tmux users read: zoom, search, copy mode, the
//! mouse and scrollback while attached.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::app::{Effect, Focus, Mode};
use super::output_source::OutputSource;
use super::tests::{busy, render, t0, text};
use crate::agent::screen::TerminalScreen;
use crate::ui::panes::output_find::OutputSearch;
use crate::ui::term_lines;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn search_for(s: &mut OutputSearch, q: &str) {
    s.begin();
    for c in q.chars() {
        s.on_key(&key(KeyCode::Char(c)));
    }
    s.on_key(&key(KeyCode::Enter));
}

fn typed(app: &mut super::app::App, keys: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in keys.chars() {
        effects.extend(app.on_key(&key(KeyCode::Char(c))));
    }
    effects
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

/// `busy` with a long history for api: 6,000 numbered lines.
fn long(width: u16, height: u16) -> super::app::App {
    let mut app = busy("dark");
    let mut bytes = Vec::new();
    for i in 1..=6000 {
        bytes.extend_from_slice(format!("line {i:05} \x1b[33mof\x1b[0m the build\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"$ ");
    app.on_agent("api", OutputSource::from_bytes(&bytes, 20, 78));
    app.select_task("api");
    render(&mut app, width, height);
    app
}

#[test]
fn slash_finds_a_line_thousands_back_highlights_it_and_counts() {
    let mut app = long(80, 24);
    app.on_key(&key(KeyCode::Char('/')));
    typed(&mut app, "line 01000 ");
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("line 01000 of the build"), "{screen}");
    assert!(screen.contains("/line 01000 █"), "{screen}");
    app.on_key(&key(KeyCode::Enter));
    let terminal = render(&mut app, 80, 24);
    let screen = text(&terminal);
    assert!(
        screen.contains("match 1 of 1 for \"line 01000 \""),
        "{screen}"
    );
    // The match is painted in the current-match style, the rest of the
    // line is not.
    let buffer = terminal.backend().buffer();
    let current = app.theme.style("diff.match.current");
    let y = (0..24)
        .find(|&y| {
            (0..80)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .contains("line 01000 of")
        })
        .expect("the line is shown");
    let x = (0..80)
        .find(|&x| buffer[(x, y)].symbol() == "l")
        .expect("its first letter");
    assert_eq!(buffer[(x, y)].bg, current.bg.expect("a background"));
    assert_ne!(buffer[(x + 12, y)].bg, current.bg.expect("a background"));
    insta::assert_snapshot!("search_80x24", screen);

    // A regex, stepped through with n (older) and N (newer).
    app.on_key(&key(KeyCode::Char('/')));
    typed(&mut app, "line 0(0999|1001) ");
    app.on_key(&KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
    app.on_key(&key(KeyCode::Enter));
    let screen = text(&render(&mut app, 80, 24));
    assert!(
        screen.contains("match 2 of 2 for /line 0(0999|1001) /"),
        "{screen}"
    );
    app.on_key(&key(KeyCode::Char('n')));
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("match 1 of 2"), "{screen}");
    app.on_key(&key(KeyCode::Char('N')));
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("match 2 of 2"), "{screen}");
    // Esc at the prompt drops the search.
    app.on_key(&key(KeyCode::Char('/')));
    typed(&mut app, "(");
    app.on_key(&KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
    let screen = text(&render(&mut app, 80, 24));
    assert!(
        screen.contains("unclosed"),
        "a bad regex says why:\n{screen}"
    );
    app.on_key(&key(KeyCode::Esc));
    assert!(!app.output.search.active());
}

#[test]
fn zoom_gives_the_output_the_screen_and_the_agents_its_size() {
    let mut app = long(80, 24);
    let before = app.output.size();
    assert_eq!(app.on_key(&key(KeyCode::Char('z'))), vec![Effect::Redraw]);
    let screen = text(&render(&mut app, 80, 24));
    assert_eq!(
        app.output.size(),
        (21, 78),
        "the pane is the screen bar the status line"
    );
    assert!(before.0 < 21);
    assert!(screen.contains("zoomed · z back"), "{screen}");
    assert!(!screen.contains("Tasks"), "{screen}");
    insta::assert_snapshot!("zoomed_80x24", screen);
    // Keys are not passed to the agent: typing does nothing but its keys.
    assert!(typed(&mut app, "hello")
        .iter()
        .all(|e| !matches!(e, Effect::Input(..))));
    app.on_key(&key(KeyCode::Char('z')));
    render(&mut app, 80, 24);
    assert_eq!(app.output.size(), before);
}

#[test]
fn copy_mode_selects_with_vi_keys_and_copies_as_written() {
    let mut app = busy("dark");
    // A line wider than the 78-column screen wraps.
    let long_line = format!("{}漢字 end", "x".repeat(74));
    let bytes = format!("first\r\n{long_line}\r\nlast\r\n$ ");
    app.on_agent("api", OutputSource::from_bytes(bytes.as_bytes(), 20, 78));
    app.select_task("api");
    render(&mut app, 80, 24);
    app.on_key(&key(KeyCode::Char('[')));
    assert!(app.output.copy.is_some());
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("COPY"), "{screen}");
    // From the prompt line: up three lines to the long line's start.
    typed(&mut app, "kkk0v");
    typed(&mut app, "j$");
    let screen = text(&render(&mut app, 80, 24));
    insta::assert_snapshot!("copy_mode_80x24", screen);
    let effects = app.on_key(&key(KeyCode::Char('y')));
    assert_eq!(effects[0], Effect::Copy(long_line));
    assert!(app.output.copy.is_none());
}

#[test]
fn the_mouse_selects_focuses_scrolls_drags_and_double_click_attaches() {
    let mut app = long(80, 24);
    // Row 1 inside the task list's border is "design".
    let down = MouseEventKind::Down(MouseButton::Left);
    let up = MouseEventKind::Up(MouseButton::Left);
    app.on_mouse(&mouse(down, 5, 1), t0());
    assert_eq!(app.selected_id().as_deref(), Some("design"));
    assert_eq!(app.focus, Focus::Tasks);
    // The wheel over the output scrolls it, not the list.
    app.on_mouse(&mouse(down, 5, 2), t0());
    assert_eq!(app.selected_id().as_deref(), Some("api"));
    app.on_mouse(&mouse(MouseEventKind::ScrollUp, 10, 15), t0());
    assert_eq!(app.output.scroll(), 3);
    assert_eq!(app.selected_id().as_deref(), Some("api"));
    // The wheel over the list moves its cursor.
    app.on_mouse(&mouse(MouseEventKind::ScrollDown, 5, 3), t0());
    assert_eq!(app.selected_id().as_deref(), Some("storage"));
    app.on_mouse(&mouse(MouseEventKind::ScrollUp, 5, 3), t0());
    // A click in the output focuses it; a drag there selects and copies.
    app.output.follow();
    render(&mut app, 80, 24);
    app.on_mouse(&mouse(down, 1, 12), t0());
    assert_eq!(app.focus, Focus::Output);
    app.on_mouse(
        &mouse(MouseEventKind::Drag(MouseButton::Left), 12, 13),
        t0(),
    );
    let effects = app.on_mouse(&mouse(up, 12, 13), t0());
    let Some(Effect::Copy(copied)) = effects.first() else {
        panic!("a drag copies: {effects:?}");
    };
    assert!(
        copied.contains('\n') && copied.starts_with("line "),
        "{copied:?}"
    );
    // Two clicks on a task attach (here api has no process to attach to,
    // which attaching says); two clicks far apart do not.
    let later = t0() + std::time::Duration::from_millis(200);
    app.on_mouse(&mouse(down, 5, 3), t0());
    app.on_mouse(
        &mouse(down, 5, 3),
        later + std::time::Duration::from_secs(1),
    );
    assert_eq!(app.current_flash(later), None);
    app.on_mouse(&mouse(down, 5, 2), t0());
    app.on_mouse(&mouse(down, 5, 2), later);
    assert_eq!(
        app.current_flash(later),
        Some("api is not running; nothing to attach to")
    );
}

#[test]
fn attached_shift_page_up_scrolls_history_and_any_other_key_returns_live() {
    let mut app = long(80, 24);
    app.on_key(&key(KeyCode::Enter));
    // `busy`'s api has no live process: attach as the event loop would.
    app.mode = Mode::Attached("api".into());
    render(&mut app, 80, 24);
    let page_up = KeyEvent::new(KeyCode::PageUp, KeyModifiers::SHIFT);
    for _ in 0..300 {
        assert_eq!(
            app.on_key(&page_up),
            vec![Effect::Redraw],
            "never sent to the agent"
        );
    }
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("line 00001 of the build"), "{screen}");
    assert!(screen.contains("0 lines above · 6001 in all"), "{screen}");
    insta::assert_snapshot!("attached_scrolled_80x24", screen);
    let page_down = KeyEvent::new(KeyCode::PageDown, KeyModifiers::SHIFT);
    assert_eq!(app.on_key(&page_down), vec![Effect::Redraw]);
    assert!(app.output.scroll() > 0);
    // Any other key: back to the live screen, and the key goes on.
    let effects = app.on_key(&key(KeyCode::Char('y')));
    assert_eq!(
        effects,
        vec![Effect::Redraw, Effect::Input("api".into(), b"y".to_vec())]
    );
    assert_eq!(app.output.scroll(), 0);
    // The wheel scrolls too, as nothing asked for the mouse.
    app.on_mouse(&mouse(MouseEventKind::ScrollUp, 3, 3), t0());
    assert_eq!(app.output.scroll(), 3);
}

/// More matches than are kept: the newest are, so the first `n` (which
/// looks back from the bottom) lands on the newest match.
#[test]
fn with_more_matches_than_kept_the_newest_are_kept() {
    let mut t = TerminalScreen::new(5, 40, 10_000);
    for i in 0..8000 {
        t.process(format!("x x {i}\r\n").as_bytes());
    }
    t.process(b"x newest\r\n");
    let mut s = OutputSearch::default();
    search_for(&mut s, "x");
    s.find("a", &t);
    let bottom = term_lines::id_of(&t, term_lines::count(&t));
    let hit = s.step(false, bottom).expect("a hit");
    let index = term_lines::index_of(&t, hit.line).expect("held");
    let text = term_lines::line(&t, index).text;
    assert_eq!(
        text, "x newest",
        "first n from the bottom went to {index}: {text:?}"
    );
}

/// Trailing spaces the agent printed are blanks on screen: a query ending
/// in one finds the line in history as on screen.
#[test]
fn trailing_blanks_match_alike_in_history_and_on_screen() {
    let mut t = TerminalScreen::new(3, 20, 100);
    t.process(b"abc   \r\n");
    t.process(b"1\r\n2\r\n3\r\n"); // abc -> history
    t.process(b"abc   \r\n"); // the same line on screen
    let mut s = OutputSearch::default();
    search_for(&mut s, "abc");
    s.find("a", &t);
    assert_eq!(s.hits.len(), 2);
    // Trailing blanks are not text, in history as on screen.
    search_for(&mut s, "abc ");
    s.find("a", &t);
    assert_eq!(s.hits.len(), 0);
}

/// A drag that leaves the output pane selects to its edge.
#[test]
fn a_drag_out_of_the_output_is_clamped_to_it() {
    let mut app = busy("dark");
    let mut bytes = Vec::new();
    for i in 0..100 {
        bytes.extend_from_slice(format!("row {i:03}\r\n").as_bytes());
    }
    app.on_agent("api", OutputSource::from_bytes(&bytes, 12, 78));
    app.select_task("api");
    render(&mut app, 80, 24);
    // Output at 80x24 is stacked below the task list (rows 9..23), inner from row 10.
    let down = MouseEventKind::Down(MouseButton::Left);
    app.on_mouse(&mouse(down, 2, 13), t0());
    assert_eq!(app.focus, Focus::Output);
    // Drag upward past the output's top border, into the task list at row 5.
    app.on_mouse(&mouse(MouseEventKind::Drag(MouseButton::Left), 2, 5), t0());
    let effects = app.on_mouse(&mouse(MouseEventKind::Up(MouseButton::Left), 2, 5), t0());
    let Some(Effect::Copy(copied)) = effects.first() else {
        panic!("{effects:?}")
    };
    // Expected: from the top row of the view (clamped) to the pressed row: 4 lines.
    assert_eq!(copied.lines().count(), 4, "{copied:?}");
}

/// A drag over a pane whose inside is empty (2 rows tall).
#[test]
fn a_drag_over_a_two_row_pane_does_not_panic() {
    for h in 5..12u16 {
        let mut app = busy("dark");
        render(&mut app, 50, h);
        let areas = app.areas(ratatui::layout::Rect::new(0, 0, 50, h));
        let out = ratatui::widgets::Block::bordered().inner(areas.output);
        if out.height == 0 || areas.tasks.height > 2 {
            continue;
        }
        app.on_mouse(
            &mouse(MouseEventKind::Down(MouseButton::Left), 2, out.y),
            t0(),
        );
        app.on_mouse(
            &mouse(MouseEventKind::Drag(MouseButton::Left), 2, areas.tasks.y),
            t0(),
        );
        return;
    }
    panic!("no size gave a two-row task pane");
}

/// A drag released over the status bar copies what it selected.
#[test]
fn a_drag_released_on_the_status_bar_copies() {
    let mut app = busy("dark");
    render(&mut app, 80, 24);
    app.on_mouse(&mouse(MouseEventKind::Down(MouseButton::Left), 2, 12), t0());
    app.on_mouse(
        &mouse(MouseEventKind::Drag(MouseButton::Left), 10, 22),
        t0(),
    );
    let effects = app.on_mouse(&mouse(MouseEventKind::Up(MouseButton::Left), 10, 23), t0());
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Copy(_))),
        "released on the status bar: {effects:?}; copy mode left {:?}",
        app.output.copy
    );
}

/// Clicking a row of a scrolled task list selects it where it is: the
/// list does not jump, so a double click stays on one task.
#[test]
fn a_click_in_a_scrolled_list_does_not_move_the_list() {
    let mut app = busy("dark");
    let (w, h) = (80u16, 16u16);
    render(&mut app, w, h);
    app.focus = Focus::Tasks;
    for _ in 0..10 {
        app.on_key(&key(KeyCode::Down));
    }
    let before = text(&render(&mut app, w, h));
    let row_text = |screen: &str, y: usize| screen.lines().nth(y).unwrap_or("").to_string();
    let clicked_before = row_text(&before, 1);
    app.on_mouse(&mouse(MouseEventKind::Down(MouseButton::Left), 5, 1), t0());
    let sel1 = app.selected_id();
    let after = text(&render(&mut app, w, h));
    let later = t0() + std::time::Duration::from_millis(100);
    app.on_mouse(&mouse(MouseEventKind::Down(MouseButton::Left), 5, 1), later);
    assert_eq!(app.selected_id(), sel1);
    assert_eq!(
        app.current_flash(later),
        Some(
            format!(
                "{} is not running; nothing to attach to",
                sel1.as_deref().unwrap_or("")
            )
            .as_str()
        )
    );
    let clicked_after = row_text(&after, 1);
    assert_eq!(
        clicked_before, clicked_after,
        "the row under the pointer changed after the click (selected {sel1:?}):\n{before}\n{after}"
    );
}

/// In copy mode with a selection, a plain click (no drag) copies nothing.
#[test]
fn a_click_in_copy_mode_does_not_copy() {
    let mut app = busy("dark");
    render(&mut app, 80, 24);
    app.on_key(&key(KeyCode::Char('[')));
    app.on_key(&key(KeyCode::Char('v')));
    app.on_key(&key(KeyCode::Char('k')));
    app.on_mouse(
        &mouse(MouseEventKind::Down(MouseButton::Left), 20, 12),
        t0(),
    );
    let effects = app.on_mouse(&mouse(MouseEventKind::Up(MouseButton::Left), 20, 12), t0());
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Copy(_))),
        "a click copied: {effects:?}"
    );
}

/// Ctrl-C at the search prompt or in copy mode leaves them, as in less
/// and tmux; elsewhere it still quits.
#[test]
fn ctrl_c_leaves_the_prompt_and_copy_mode() {
    let mut app = busy("dark");
    render(&mut app, 80, 24);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    app.on_key(&key(KeyCode::Char('/')));
    app.on_key(&ctrl_c);
    assert!(!app.output.takes_keys());
    assert_eq!(app.mode, Mode::Normal);
    app.on_key(&key(KeyCode::Char('[')));
    assert!(app.output.takes_keys());
    app.on_key(&ctrl_c);
    assert!(!app.output.takes_keys());
    assert_eq!(app.mode, Mode::Normal);
    app.on_key(&ctrl_c);
    assert!(matches!(app.mode, Mode::Dialog(_)), "{:?}", app.mode);
}

/// A paste at the `/` prompt is typed into the query; one while attached
/// and scrolled back returns to the live screen, as a key does.
#[test]
fn pastes_go_to_the_prompt_and_return_an_attached_view_to_live() {
    let mut app = long(80, 24);
    app.on_key(&key(KeyCode::Char('/')));
    app.on_paste("line 00042 ");
    app.on_key(&key(KeyCode::Enter));
    let screen = text(&render(&mut app, 80, 24));
    assert!(
        screen.contains("match 1 of 1 for \"line 00042 \""),
        "{screen}"
    );
    app.mode = Mode::Attached("api".into());
    render(&mut app, 80, 24);
    app.on_key(&KeyEvent::new(KeyCode::PageUp, KeyModifiers::SHIFT));
    assert!(app.output.scroll() > 0);
    app.on_paste("x");
    assert_eq!(app.output.scroll(), 0);
}
