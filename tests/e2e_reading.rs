//! Reading agents in the control room as a tmux user does, end to end in
//! tmux at 80x24 and 200x50: zoom, scrollback while attached, search,
//! copy mode, the mouse, dialogs and help.

mod common;

use common::tmux::Tmux;
use common::{agent, TestRepo};

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 50)];

/// A plan of a long log (selected first) and an agent telling its size.
fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        r#"
[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[[tasks]]
id = "log"
agent = "sh"
prompt = "{log}"

[[tasks]]
id = "size"
agent = "sh"
prompt = "{sizer}"
"#,
        log = agent("long_log.sh"),
        sizer = agent("sizer.sh"),
    ));
    repo
}

/// Leave the control room and stop its server.
fn stop(tmux: &Tmux) {
    tmux.keys(&["q"]);
    tmux.wait_for("stop");
    tmux.keys(&["s"]);
    tmux.wait_for("ORCH-EXIT=");
}

/// The lowest row number of the log on screen.
fn lowest_row(screen: &str) -> Option<u32> {
    screen
        .lines()
        .filter_map(|l| l.split("row ").nth(1)?.get(..5)?.parse().ok())
        .min()
}

#[test]
fn zoom_sizes_the_agents_to_the_whole_screen_and_back() {
    for (cols, rows) in SIZES {
        let repo = repo();
        let tmux = Tmux::start_sized("zoom", repo.path(), common::ORCH, (cols, rows));
        tmux.wait_for("ready");
        tmux.keys(&["Down"]);
        let before = tmux.wait_for("size=");
        let zoomed = format!("size={}x{}", rows - 3, cols - 2);
        assert!(!before.contains(&zoomed), "{before}");
        tmux.keys(&["z"]);
        let screen = tmux.wait_for(&zoomed);
        assert!(screen.contains("zoomed"), "{screen}");
        assert!(
            !screen.contains("Needs you"),
            "the other panes are hidden:\n{screen}"
        );
        tmux.keys(&["z"]);
        tmux.wait_for("Needs you");
        tmux.wait_until("the size back", |s| {
            s.lines()
                .rev()
                .find(|l| l.contains("size="))
                .is_some_and(|l| !l.contains(&zoomed))
        });
        stop(&tmux);
    }
}

#[test]
fn attached_shift_page_up_scrolls_back_5000_lines_and_any_key_returns_live() {
    for (cols, rows) in SIZES {
        let repo = repo();
        let tmux = Tmux::start_sized("scroll", repo.path(), common::ORCH, (cols, rows));
        tmux.wait_for("ready");
        tmux.keys(&["Enter"]);
        tmux.wait_for("attached to log");
        // In batches a terminal's read takes whole (tmux writes the keys
        // at once; a read that ends inside a key's sequence is taken apart
        // by the terminal library), each seen to land.
        let pages = 5200 / usize::from(rows - 2) + 1;
        let mut screen = String::new();
        for batch in 0..pages.div_ceil(100) {
            let n = (pages - batch * 100).min(100);
            let seen = lowest_row(&screen).unwrap_or(u32::MAX);
            tmux.keys(&["-N", &n.to_string(), "S-PageUp"]);
            screen = tmux.wait_until("a batch of pages back", |s| {
                lowest_row(s).is_some_and(|r| r < seen) && s.contains("lines above")
            });
        }
        let screen = tmux.wait_until("5,000 lines back", |s| {
            lowest_row(s).is_some_and(|r| r <= 1000) && s.contains("lines above")
        });
        assert!(screen.contains("in all"), "{screen}");
        tmux.keys(&["-N", "3", "S-PageDown"]);
        // Any other key: the live screen, and the key reaches the agent
        // (its terminal echoes it); the scrolling keys never did.
        tmux.keys(&["-l", "k"]);
        let screen = tmux.wait_until("the live screen", |s| {
            s.contains("ready") && s.contains("attached to log")
        });
        assert!(
            screen.contains("ready\nk") || screen.lines().any(|l| l.trim_end() == "k"),
            "{screen}"
        );
        assert!(
            !screen.contains("[5;2~") && !screen.contains("[6;2~"),
            "{screen}"
        );
        tmux.keys(&["C-]"]);
        tmux.wait_for("Needs you");
        stop(&tmux);
    }
}

#[test]
fn slash_finds_a_line_5000_back_and_highlights_it() {
    for (cols, rows) in SIZES {
        let repo = repo();
        let tmux = Tmux::start_sized("search", repo.path(), common::ORCH, (cols, rows));
        tmux.wait_for("ready");
        tmux.keys(&["/"]);
        tmux.keys(&["-l", "row 00777 "]);
        tmux.keys(&["Enter"]);
        tmux.wait_for("match 1 of 1 for \"row 00777 \"");
        let styled = tmux.styled_screen();
        let line = styled
            .lines()
            .find(|l| l.contains("row 00777"))
            .unwrap_or_else(|| panic!("the match is not shown:\n{styled}"));
        let before = &line[..line.find("row 00777").expect("found")];
        // Its own background, or reversed where colours are off.
        let sgr = before
            .rfind("\x1b[")
            .map(|at| &before[at + 2..])
            .unwrap_or("");
        let params: Vec<&str> = sgr.trim_end_matches('m').split(';').collect();
        assert!(
            sgr.contains("48;") || params.contains(&"7"),
            "the match is not highlighted: {line:?}"
        );
        // A regex finds two: the nearest back from the view first, then N
        // steps to the newer one and n back again.
        tmux.keys(&["/"]);
        tmux.keys(&["-l", "row 0(0100|5000) "]);
        tmux.keys(&["C-r", "Enter"]);
        let screen = tmux.wait_for("match 1 of 2");
        assert!(screen.contains("row 00100"), "{screen}");
        tmux.keys(&["N"]);
        let screen = tmux.wait_for("match 2 of 2");
        assert!(screen.contains("row 05000"), "{screen}");
        tmux.keys(&["n"]);
        tmux.wait_for("match 1 of 2");
        stop(&tmux);
    }
}

#[test]
fn copy_mode_copies_a_wrapped_line_exactly_through_osc52_and_the_file() {
    let line = format!("begin-{}-end", "0123456789".repeat(11));
    for (cols, rows) in SIZES {
        let repo = repo();
        let tmux = Tmux::start_sized("copy", repo.path(), common::ORCH, (cols, rows));
        // tmux takes an application's OSC 52 into a paste buffer when
        // set-clipboard is on: that is the payload as a terminal got it.
        let set = std::process::Command::new("tmux")
            .args(["set-option", "-s", "set-clipboard", "on"])
            .status()
            .expect("tmux set-option");
        assert!(set.success());
        tmux.wait_for("ready");
        tmux.keys(&["["]);
        tmux.wait_for("COPY");
        tmux.keys(&["/"]);
        tmux.keys(&["-l", "begin-"]);
        tmux.keys(&["Enter", "v", "/"]);
        tmux.keys(&["-l", "--", "-end"]);
        tmux.keys(&["Enter", "$", "y"]);
        let screen = tmux.wait_for("copied 120 characters");
        assert!(
            screen.contains("clipboard and .orch/clipboard.txt"),
            "{screen}"
        );
        let file =
            std::fs::read_to_string(repo.state_dir().join("clipboard.txt")).expect("the copy file");
        assert_eq!(file, line, "{cols}x{rows}");
        let buffer = std::process::Command::new("tmux")
            .args(["show-buffer"])
            .output()
            .expect("show-buffer");
        assert_eq!(
            String::from_utf8_lossy(&buffer.stdout),
            line,
            "{cols}x{rows}"
        );
        stop(&tmux);
    }
}

#[test]
fn a_click_selects_a_task_and_every_dialog_shows_its_keys_at_80x24() {
    let repo = repo();
    let tmux = Tmux::start_sized("mouse", repo.path(), common::ORCH, (80, 24));
    tmux.wait_for("ready");
    tmux.wait_for("Output: log");
    // A left click on the second row of the task list (SGR mouse report,
    // as the terminal sends it: column 6, row 3).
    tmux.keys(&["-l", "\x1b[<0;6;3M\x1b[<0;6;3m"]);
    tmux.wait_for("Output: size");
    for (key, hint) in [
        ("s", "y / Enter: yes"),
        ("c", "y / Enter: yes"),
        ("q", "d / Enter: detach"),
    ] {
        tmux.keys(&[key]);
        tmux.wait_for(hint);
        // The same key again does not answer the dialog (given a moment
        // to, it is still open).
        tmux.keys(&[key]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let screen = tmux.screen();
        assert!(screen.contains(hint), "{screen}");
        tmux.keys(&["Escape"]);
        tmux.wait_until("the dialog closed", |s| !s.contains(hint));
    }
    // Help scrolls to its last section.
    tmux.keys(&["?"]);
    tmux.wait_for("Everywhere");
    tmux.keys(&["End"]);
    tmux.wait_for("Symbols");
    tmux.keys(&["Escape"]);
    stop(&tmux);
}

#[test]
fn an_agent_is_not_told_it_runs_in_the_tmux_pane_orch_was_started_from() {
    let repo = TestRepo::new();
    repo.write_config(
        r#"
[agents.sh]
command = ["sh", "-c", "{prompt}"]

[[tasks]]
id = "env"
agent = "sh"
prompt = "echo \"outer=${TMUX:-none}/${TMUX_PANE:-none} term=$TERM\"; exec sleep 60"
"#,
    );
    let tmux = Tmux::start_sized("env", repo.path(), common::ORCH, (80, 24));
    // orch itself runs in a tmux pane (TMUX is set for it).
    assert!(!tmux.pane("#{pane_id}").is_empty());
    let screen = tmux.wait_for("outer=");
    assert!(
        screen.contains("outer=none/none term=xterm-256color"),
        "{screen}"
    );
    stop(&tmux);
}

#[test]
fn orch_attach_scrolls_back_with_shift_page_up_as_a_terminal_does() {
    let repo = repo();
    let room = Tmux::start_sized("attach-room", repo.path(), common::ORCH, (80, 24));
    room.wait_for("ready");
    let attach = Tmux::start_sized(
        "attach-scroll",
        repo.path(),
        &format!("{} attach log", common::ORCH),
        (80, 24),
    );
    attach.wait_for("ready");
    attach.keys(&["-N", "100", "S-PageUp"]);
    let screen = attach.wait_until("2,300 lines back", |s| {
        lowest_row(s).is_some_and(|r| r < 4000) && s.contains("lines above")
    });
    assert!(screen.contains("in all"), "{screen}");
    attach.keys(&["S-PageDown"]);
    // Any other key: live again, and the key reaches the agent.
    attach.keys(&["-l", "k"]);
    let screen = attach.wait_until("the live screen", |s| {
        s.contains("ready") && !s.contains("lines above")
    });
    assert!(
        !screen.contains("[5;2~") && !screen.contains("[6;2~"),
        "{screen}"
    );
    attach.keys(&["C-]"]);
    attach.wait_for("ORCH-EXIT=");
    stop(&room);
}
