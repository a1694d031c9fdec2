//! Frame render time of the control room: 50 tasks in mixed states, a busy
//! agent screen with history, at 200x50 (and 80x24), into ratatui's
//! TestBackend. `cargo bench --bench render`.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

use orch::config::parse;
use orch::engine::TaskState;
use orch::store::TaskRow;
use orch::ui::app::App;
use orch::ui::keymap::Keymap;
use orch::ui::output_source::OutputSource;
use orch::ui::theme::Theme;
use orch::ui::view::{self, Now};

fn main() {
    let mut toml = String::from("[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n");
    for i in 0..50 {
        let deps = if i >= 5 {
            format!("depends_on = [\"t{}\"]\n", i / 5 - 1)
        } else {
            String::new()
        };
        toml.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\nagent = \"sh\"\nprompt = \"do the thing number {i} carefully\"\n{deps}"
        ));
    }
    let config = parse(&toml, std::path::Path::new("orch.toml")).expect("config");
    let states = [
        TaskState::Done,
        TaskState::Running,
        TaskState::Queued,
        TaskState::NeedsReview,
        TaskState::AwaitingApproval,
        TaskState::Pending,
        TaskState::Blocked,
    ];
    let rows: Vec<TaskRow> = config
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| TaskRow {
            state: states[i % states.len()],
            attempts: 1,
            cause: (i % 3 == 0).then(|| "exit code 1 (attempt 1 of 3)".to_string()),
            ..TaskRow::pending(&t.id, &t.title, "sh", 1)
        })
        .collect();
    let keymap = Keymap::load("default", None).expect("keymap");
    let theme = Theme::load("dark", None).expect("theme");
    let mut app = App::new(&config, rows, keymap, theme, Instant::now());
    // A full, colourful agent screen with 10k lines of history behind it.
    let mut bytes = Vec::new();
    for i in 0..10_000 {
        bytes.extend_from_slice(
            format!("\x1b[3{}mline {i}\x1b[0m building crate number {i} with \x1b[1mbold\x1b[0m text and more words to fill\r\n", i % 7 + 1)
                .as_bytes(),
        );
    }
    for id in ["t1", "t8", "t15"] {
        app.on_agent(id, OutputSource::from_bytes(&bytes, 47, 118));
    }
    app.select_task("t1");

    for (w, h) in [(200u16, 50u16), (80, 24)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        // A frame as the control room draws it: settle the state, then draw.
        let frame = |terminal: &mut Terminal<TestBackend>, app: &mut App| {
            app.prepare_frame(Rect::new(0, 0, w, h));
            let app: &App = app;
            let now = Now::current();
            terminal.draw(|f| view::draw(f, app, now)).expect("draw");
        };
        for _ in 0..50 {
            frame(&mut terminal, &mut app);
        }
        let n = 2000;
        let start = Instant::now();
        for _ in 0..n {
            frame(&mut terminal, &mut app);
        }
        let per = start.elapsed() / n;
        app.output.set_scroll(500);
        let start = Instant::now();
        for _ in 0..n {
            frame(&mut terminal, &mut app);
        }
        let scrolled = start.elapsed() / n;
        app.output.follow();
        println!(
            "render 50 tasks at {w}x{h}: {:>7.1} µs/frame live, {:>7.1} µs/frame scrolled back ({:.0} fps possible)",
            us(per),
            us(scrolled),
            1.0 / per.as_secs_f64()
        );
        // `/` over the 10k lines: each key of the query searches them all
        // again (incremental), then frames with the matches highlighted.
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        let query = "crate number 4321 ";
        let rounds = 20;
        let start = Instant::now();
        for _ in 0..rounds {
            app.on_key(&key('/'));
            for c in query.chars() {
                app.on_key(&key(c));
            }
            app.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        }
        let per_key = start.elapsed() / (rounds * query.chars().count() as u32);
        let start = Instant::now();
        for _ in 0..n {
            frame(&mut terminal, &mut app);
        }
        let highlighted = start.elapsed() / n;
        app.on_key(&key('/'));
        app.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        app.output.follow();
        println!(
            "search 10k lines at {w}x{h}: {:>7.1} µs per key typed, {:>7.1} µs/frame with the match shown",
            us(per_key),
            us(highlighted)
        );
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
