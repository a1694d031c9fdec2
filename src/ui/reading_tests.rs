//! The control room read as tmux users read: zoom, search, copy mode, the
//! mouse and scrollback while attached.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::app::{Effect, Focus, Mode};
use super::output_source::OutputSource;
use super::tests::{busy, render, t0, text};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
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
