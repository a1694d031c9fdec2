//! Real agent CLIs as the acceptance test of terminal fidelity.
//!
//! Claude Code (`@anthropic-ai/claude-code`) and Codex CLI
//! (`@openai/codex`) run here without a network or a login as far as their
//! first screens. Each runs twice at once: directly in tmux (the
//! reference terminal) and inside orch, whose screen model, key encoding
//! and mode mirroring sit between the program and the same tmux. The two
//! must show the same text, move the same selection on the same arrow
//! keys, and leave nothing behind after a resize or a detach. The
//! reference is always given the sizes the agent's PTY went through under
//! orch (the control room's output pane, the attached view of its whole
//! terminal less the status line, an `orch attach` client's whole
//! terminal), so each screen is the program's answer to the same story;
//! the agent's PTY is checked to have each of those sizes (`stty size`).
//!
//! What the programs do, as recorded from their bytes (and as documented:
//! Claude Code's terminal setup page, code.claude.com/docs/en/terminal-config,
//! says Shift+Enter works natively where its terminal speaks the kitty
//! protocol; Codex CLI is a ratatui/crossterm program):
//!
//! * Claude Code with a fresh `HOME` draws its welcome (with its art where
//!   the terminal is wide enough), fails to reach api.anthropic.com and
//!   exits 1. With onboarding marked done and an API key in its
//!   environment it asks whether to trust the folder and whether to use
//!   the key (menus moved with the arrow keys, `❯` marking the choice),
//!   then shows its input box. In tmux (it reads `TMUX`) it asks for the
//!   kitty keyboard protocol and modifyOtherKeys (`CSI < u CSI > 1 u
//!   CSI > 4 ; 2 m`), reads Shift+Enter as a new line of its input and
//!   resets both on exit (`CSI < u CSI > 4 m`).
//! * Codex CLI with a fresh `HOME` starts with `CSI > 4 ; 0 m`,
//!   `CSI > 5 u`, `CSI ? u` + `CSI c`, `CSI 6 n` and colour queries, then
//!   draws its sign-in menu (`>` marking the choice, moved with the arrow
//!   keys) on the alternate screen with synchronized output, under an
//!   animated logo where the terminal is tall enough: two runs never show
//!   the same frame, so its screens are compared from the welcome line
//!   down, the rows above counted.
//!
//! The programs are found in `ORCH_REAL_AGENTS` (a directory, such as an
//! npm prefix's `node_modules/.bin`, which `.ci/run` fills with the
//! versions it pins), never on `PATH`: what these tests expect to see is
//! the pinned versions' first screens, and another version may word or
//! draw them differently. Without them each test says why on stderr and
//! passes.
//!
//! The tests run their own tmux server (`tmux -L orch-real-...`), so that
//! a server option they need (extended keys, for Shift+Enter to be sent
//! as the program asked) touches no other test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{kill_leftovers, TestRepo, ORCH};
use unicode_width::UnicodeWidthChar;

/// How long a screen may take to settle or to match.
const DEADLINE: Duration = Duration::from_secs(40);

/// The program `name` from `ORCH_REAL_AGENTS`; `None` (and a note on
/// stderr) when it is not there.
fn program(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("ORCH_REAL_AGENTS")
        .map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "skipped: {test}: no `{name}` in ORCH_REAL_AGENTS (npm install --prefix DIR \
             @anthropic-ai/claude-code@2.1.197 @openai/codex@0.171.0, then \
             ORCH_REAL_AGENTS=DIR/node_modules/.bin; .ci/run does this)"
        );
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: {test}: tmux is not installed");
        return None;
    }
    found
}

/// A tmux server of this test's own.
struct Server {
    socket: String,
}

impl Server {
    fn new(tag: &str) -> Server {
        Server {
            socket: format!("orch-real-{tag}-{}", std::process::id()),
        }
    }

    /// Once a session keeps the server up: a key an application asked to
    /// have extended (Shift+Enter under modifyOtherKeys) is sent extended
    /// (tmux 3.3 does so anyway; later versions want this option), and
    /// colour queries (`OSC 10/11 ; ?`) are answered with the colours orch
    /// answers them with (`TermColours::default`), which a tmux with no
    /// terminal attached would not know: Codex picks colours by them.
    fn configure(&self) {
        self.tmux(&["set", "-s", "extended-keys", "on"]);
        self.tmux(&["set", "-g", "window-style", "fg=#e5e5e5,bg=#000000"]);
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `command` (a shell line) in a new detached window of `size`.
    fn start(&self, name: &str, dir: &Path, (cols, rows): (u16, u16), command: &str) -> Pane<'_> {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(["new-session", "-d", "-s", name])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg("-c")
            .arg(dir)
            .arg(format!("{command}; echo PANE-EXIT=$?; sleep 600"))
            .status()
            .expect("tmux new-session");
        assert!(status.success(), "tmux new-session {name}");
        self.configure();
        Pane {
            server: self,
            name: name.to_string(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        // SAFETY: getuid(2) cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir =
            std::env::var_os("TMUX_TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(&self.socket));
    }
}

struct Pane<'a> {
    server: &'a Server,
    name: String,
}

impl Pane<'_> {
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        self.server.tmux(&args);
    }

    fn text(&self, text: &str) {
        self.keys(&["-l", text]);
    }

    fn resize(&self, (cols, rows): (u16, u16)) {
        self.server.tmux(&[
            "resize-window",
            "-t",
            &self.name,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }

    fn screen(&self) -> String {
        self.server.tmux(&["capture-pane", "-p", "-t", &self.name])
    }

    /// The screen with its attributes (`capture-pane -e`), each row as
    /// [`styled_rows`] writes it.
    fn styled(&self) -> Vec<String> {
        styled_rows(
            &self
                .server
                .tmux(&["capture-pane", "-p", "-e", "-t", &self.name]),
        )
    }

    fn wait_for(&self, needle: &str) -> String {
        let mut last = String::new();
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            last = self.screen();
            if last.contains(needle) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{}: never saw {needle:?}; screen:\n{last}", self.name);
    }
}

/// A screen as rows of text, trailing spaces and trailing blank rows
/// dropped.
fn rows(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows
}

/// The text of `capture-pane -e` with its attributes in one canonical
/// form, so that two panes holding the same cells compare equal however
/// the program wrote them: tmux writes only the changes of SGR state,
/// carried across rows, which depend on cells never written (past the
/// end of a row); here each row is runs of `{attributes}text`, trailing
/// blanks without attributes dropped.
fn styled_rows(text: &str) -> Vec<String> {
    #[derive(Clone, Default, PartialEq)]
    struct Pen(Vec<(u8, String)>);
    impl Pen {
        fn set(&mut self, slot: u8, value: String) {
            self.0.retain(|(s, _)| *s != slot);
            if !value.is_empty() {
                self.0.push((slot, value));
                self.0.sort();
            }
        }
        fn apply(&mut self, params: &str) {
            let p: Vec<&str> = params.split(';').collect();
            let mut i = 0;
            while i < p.len() {
                match p[i] {
                    "" | "0" => self.0.clear(),
                    "1" => self.set(1, "bold".into()),
                    "2" => self.set(2, "dim".into()),
                    "22" => {
                        self.set(1, String::new());
                        self.set(2, String::new());
                    }
                    "3" => self.set(3, "italic".into()),
                    "23" => self.set(3, String::new()),
                    "4" => self.set(4, "underline".into()),
                    "24" => self.set(4, String::new()),
                    "5" => self.set(5, "blink".into()),
                    "25" => self.set(5, String::new()),
                    "7" => self.set(7, "reverse".into()),
                    "27" => self.set(7, String::new()),
                    "8" => self.set(8, "hidden".into()),
                    "28" => self.set(8, String::new()),
                    "9" => self.set(9, "strike".into()),
                    "29" => self.set(9, String::new()),
                    "39" => self.set(10, String::new()),
                    "49" => self.set(11, String::new()),
                    code @ ("38" | "48") => {
                        let slot = if code == "38" { 10 } else { 11 };
                        let n = if p.get(i + 1) == Some(&"2") { 4 } else { 2 };
                        let value = p[i + 1..(i + 1 + n).min(p.len())].join(":");
                        self.set(slot, format!("{code}:{value}"));
                        i += n;
                    }
                    code => match code.parse::<u16>() {
                        Ok(30..=37 | 90..=97) => self.set(10, code.into()),
                        Ok(40..=47 | 100..=107) => self.set(11, code.into()),
                        _ => self.set(12, format!("?{code}")),
                    },
                }
                i += 1;
            }
        }
        fn show(&self) -> String {
            let names: Vec<&str> = self.0.iter().map(|(_, v)| v.as_str()).collect();
            format!("{{{}}}", names.join(","))
        }
    }
    let mut pen = Pen::default();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut cells: Vec<(char, Pen)> = Vec::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' && chars.peek() == Some(&'[') {
                chars.next();
                let mut params = String::new();
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                    params.push(c);
                }
                pen.apply(&params);
            } else if c == ' ' {
                // Of a blank only what shows on it counts: the background,
                // reverse video, underline and strike-through.
                let mut shown = pen.clone();
                shown.0.retain(|(s, _)| matches!(s, 4 | 7 | 9 | 11));
                cells.push((c, shown));
            } else {
                cells.push((c, pen.clone()));
            }
        }
        while cells.last().is_some_and(|(c, p)| {
            *c == ' '
                && p.0
                    .iter()
                    .all(|(s, _)| *s == 1 || *s == 2 || *s == 3 || *s == 9)
        }) {
            cells.pop();
        }
        let mut row = String::new();
        let mut last: Option<&Pen> = None;
        for (c, p) in &cells {
            if last != Some(p) {
                row.push_str(&p.show());
                last = Some(p);
            }
            row.push(*c);
        }
        out.push(row);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// The columns `from..to` of `line` (by display width).
fn columns(line: &str, from: usize, to: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if col >= from && col + w <= to {
            out.push(c);
        }
        col += w;
        if col >= to {
            break;
        }
    }
    out
}

/// The control room's output pane: its inner text and size (cols, rows),
/// `None` while no output box is drawn.
fn output_pane(screen: &str) -> Option<(Vec<String>, (u16, u16))> {
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines.iter().position(|l| l.contains("╭ Output:"))?;
    let width = |s: &str| s.chars().map(|c| c.width().unwrap_or(0)).sum::<usize>();
    let line = lines[top];
    let at = line.find("╭ Output:")?;
    let left = width(&line[..at]);
    let close = line[at..].find('╮')? + at;
    let right = width(&line[..close]);
    let bottom = (top + 1..lines.len()).find(|&i| columns(lines[i], left, left + 1) == "╰")?;
    let inner: Vec<String> = lines[top + 1..bottom]
        .iter()
        .map(|l| columns(l, left + 1, right).trim_end().to_string())
        .collect();
    let size = ((right - left - 1) as u16, (bottom - top - 1) as u16);
    let mut inner = inner;
    while inner.last().is_some_and(String::is_empty) {
        inner.pop();
    }
    Some((inner, size))
}

/// Wait until `orch()` and `direct()` give the same rows, both showing
/// `needle`, twice in a row 300 ms apart (so neither is caught mid-draw);
/// fail with both screens otherwise.
fn same(
    what: &str,
    needle: &str,
    mut orch: impl FnMut() -> Vec<String>,
    mut direct: impl FnMut() -> Vec<String>,
) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    let mut last: Option<Vec<String>> = None;
    let (mut o, mut d) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        o = orch();
        d = direct();
        let shows = o.iter().any(|r| r.contains(needle));
        if o == d && shows {
            if last.as_ref() == Some(&o) {
                return o;
            }
            last = Some(o.clone());
        } else {
            last = None;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!(
        "{what}: orch and tmux never showed the same {needle:?} screen\n--- in orch:\n{}\n--- directly in tmux:\n{}",
        o.join("\n"),
        d.join("\n")
    );
}

/// `rows` from the first one showing `marker` on, after a line counting
/// the rows above it: for a screen whose top is animated (Codex's logo,
/// where there is room for it), whose frames two runs started apart never
/// share. Without `marker`, all of `rows`.
fn below(rows: Vec<String>, marker: &str) -> Vec<String> {
    match rows.iter().position(|r| r.contains(marker)) {
        Some(at) => {
            let mut out = vec![format!("({at} rows above)")];
            out.extend_from_slice(&rows[at..]);
            out
        }
        None => rows,
    }
}

/// Move the menu selection (`marker`) of both `orch` and `direct` with
/// `key` until it is on the option showing `want`, comparing both screens
/// after each key: the same keys must move both the same way.
fn choose(what: &str, want: &str, key: &str, orch: &Pane<'_>, direct: &Pane<'_>, keep_rows: usize) {
    for _ in 0..4 {
        let screen = same(
            what,
            want,
            || whole(orch, keep_rows),
            || whole(direct, keep_rows),
        );
        if selected(&screen, "❯").is_some_and(|s| s.contains(want)) {
            return;
        }
        orch.keys(&[key]);
        direct.keys(&[key]);
    }
    panic!("{what}: {key} never reached {want:?}:\n{}", orch.screen());
}

/// Wait until `orch` and `direct` hold the same cells in their first
/// `keep_rows` rows, attributes and colours included ([`styled_rows`]),
/// twice in a row 300 ms apart.
fn same_styled(what: &str, keep_rows: usize, orch: &Pane<'_>, direct: &Pane<'_>) {
    let cut = |p: &Pane<'_>| {
        let mut r = p.styled();
        r.truncate(keep_rows);
        while r.last().is_some_and(String::is_empty) {
            r.pop();
        }
        r
    };
    let deadline = Instant::now() + DEADLINE;
    let mut last = None;
    let (mut o, mut d) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        o = cut(orch);
        d = cut(direct);
        if o == d {
            if last.as_ref() == Some(&o) {
                return;
            }
            last = Some(o.clone());
        } else {
            last = None;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let none = String::new();
    let diff: Vec<String> = (0..o.len().max(d.len()))
        .map(|i| (i, o.get(i).unwrap_or(&none), d.get(i).unwrap_or(&none)))
        .filter(|(_, a, b)| a != b)
        .map(|(i, a, b)| format!("row {i}:\n  orch: {a}\n  tmux: {b}"))
        .collect();
    panic!(
        "{what}: orch and tmux never held the same cells (attributes included):\n{}",
        diff.join("\n")
    );
}

/// The row whose text starts with `marker` (the menu's selection).
fn selected(rows: &[String], marker: &str) -> Option<String> {
    rows.iter()
        .find(|r| r.trim_start().starts_with(marker))
        .map(|r| r.trim().to_string())
}

/// Everything a test of one program at one size needs: orch in tmux with
/// one task running the program, and the same program run directly.
struct Rig<'a> {
    server: &'a Server,
    repo: TestRepo,
    homes: tempfile::TempDir,
    program: PathBuf,
    env: Vec<(String, String)>,
    task: &'static str,
}

impl<'a> Rig<'a> {
    fn new(
        server: &'a Server,
        program: PathBuf,
        task: &'static str,
        env: &[(&str, &str)],
        seed: impl Fn(&Path),
    ) -> Rig<'a> {
        let repo = TestRepo::new();
        let homes = tempfile::tempdir().expect("tempdir");
        for home in ["orch", "direct"] {
            let dir = homes.path().join(home);
            std::fs::create_dir_all(&dir).expect("home");
            seed(&dir);
        }
        let rig = Rig {
            server,
            repo,
            homes,
            program,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            task,
        };
        let mut env_toml = format!(
            "HOME = {:?}",
            rig.homes.path().join("orch").display().to_string()
        );
        for (k, v) in &rig.env {
            env_toml.push_str(&format!(", {k} = {v:?}"));
        }
        rig.repo.write_config(&format!(
            "[agents.real]\ncommand = [{:?}]\nenv = {{ {env_toml} }}\n\n[[tasks]]\nid = \"{task}\"\nagent = \"real\"\nretries = 0\n",
            rig.program.display().to_string(),
        ));
        rig
    }

    fn worktree(&self) -> PathBuf {
        self.repo.state_dir().join("worktrees").join(self.task)
    }

    /// The control room in a terminal of `size`.
    fn control_room(&self, size: (u16, u16)) -> Pane<'a> {
        self.server.start(
            &format!("{}-room", self.task),
            self.repo.path(),
            size,
            &shell_quote(ORCH),
        )
    }

    /// The program run directly in tmux at `size`, in the task's worktree
    /// (the directory orch runs it in), with the same environment.
    fn direct(&self, size: (u16, u16)) -> Pane<'a> {
        let mut line = format!(
            "env HOME={} TERM=xterm-256color",
            shell_quote(&self.homes.path().join("direct").display().to_string())
        );
        for (k, v) in &self.env {
            line.push_str(&format!(" {k}={}", shell_quote(v)));
        }
        line.push(' ');
        line.push_str(&shell_quote(&self.program.display().to_string()));
        // Nothing printed after it exits: its last screen stays as it was.
        let line = format!("{line}; sleep 600");
        let session = format!("{}-direct", self.task);
        let status = Command::new("tmux")
            .args(["-L", &self.server.socket, "-f", "/dev/null"])
            .args(["new-session", "-d", "-s", &session])
            .args(["-x", &size.0.to_string(), "-y", &size.1.to_string()])
            .arg("-c")
            .arg(self.worktree())
            .arg(line)
            .status()
            .expect("tmux new-session");
        assert!(status.success());
        self.server.configure();
        Pane {
            server: self.server,
            name: session,
        }
    }

    fn attach(&self, size: (u16, u16)) -> Pane<'a> {
        // After the client ends, `cat -v` shows what the terminal sends
        // now: a mode left on would show in how Shift+Enter arrives.
        self.server.start(
            &format!("{}-attach", self.task),
            self.repo.path(),
            size,
            &format!(
                "{} attach {}; echo CLIENT-ENDED; cat -v",
                shell_quote(ORCH),
                self.task
            ),
        )
    }
}

impl Drop for Rig<'_> {
    fn drop(&mut self) {
        let _ = self.repo.orch(&["stop"]).output();
        if std::thread::panicking() {
            kill_leftovers(self.repo.path());
        }
        // What the direct runs left behind (Codex starts a daemon of its
        // own from its HOME, which outlives it; orch stops the one its
        // agent started with the agent).
        kill_leftovers(self.homes.path());
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The size (cols, rows) of the terminal orch runs the task's agent on
/// (`stty size` of the PTY of a process in the task's worktree with its
/// `ORCH_TASK_ID`).
fn agent_pty(worktree: &Path, task: &str) -> Option<(u16, u16)> {
    let want = format!("ORCH_TASK_ID={task}");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let dir = entry.path();
        if std::fs::read_link(dir.join("cwd")).ok().as_deref() != Some(worktree) {
            continue;
        }
        let Ok(environ) = std::fs::read(dir.join("environ")) else {
            continue;
        };
        if !environ.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
            continue;
        }
        let Ok(tty) = std::fs::read_link(dir.join("fd/0")) else {
            continue;
        };
        if !tty.starts_with("/dev/pts") {
            continue;
        }
        let out = Command::new("stty")
            .arg("-F")
            .arg(&tty)
            .arg("size")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text
            .split_whitespace()
            .filter_map(|n| n.parse::<u16>().ok());
        if let (Some(rows), Some(cols)) = (it.next(), it.next()) {
            return Some((cols, rows));
        }
    }
    None
}

/// Wait until the agent's PTY is `size`; fail with what it is otherwise.
fn assert_pty(rig: &Rig<'_>, size: (u16, u16), what: &str) {
    let mut seen = None;
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        seen = agent_pty(&rig.worktree(), rig.task);
        if seen == Some(size) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: the agent's terminal is {seen:?}, not {size:?} (cols, rows)");
}

/// The first `keep_rows` rows of `pane`'s screen (less the control
/// room's status line while attached), as [`rows`].
fn whole(pane: &Pane<'_>, keep_rows: usize) -> Vec<String> {
    let mut r = rows(&pane.screen());
    r.truncate(keep_rows);
    while r.last().is_some_and(String::is_empty) {
        r.pop();
    }
    r
}

/// The output pane's rows; without one, the whole screen after a line
/// saying so (never equal to the reference, and shown if it stays so).
fn pane_rows(room: &Pane<'_>) -> Vec<String> {
    let screen = room.screen();
    output_pane(&screen).map(|(r, _)| r).unwrap_or_else(|| {
        let mut r = vec!["(no output pane on the control room's screen:)".to_string()];
        r.extend(rows(&screen));
        r
    })
}

fn pane_size(room: &Pane<'_>) -> (u16, u16) {
    let mut size = None;
    let deadline = Instant::now() + DEADLINE;
    while size.is_none() && Instant::now() < deadline {
        size = output_pane(&room.screen()).map(|(_, s)| s);
        std::thread::sleep(Duration::from_millis(100));
    }
    size.unwrap_or_else(|| panic!("no output pane; screen:\n{}", room.screen()))
}

/// After a detach: the control room is whole again (no attached status
/// line, no agent text outside its output pane).
fn control_room_is_clean(room: &Pane<'_>, agent_text: &str) {
    let screen = room.wait_for("╭ Output:");
    assert!(!screen.contains("attached to"), "{screen}");
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.contains("╭ Output:"))
        .unwrap_or(0);
    for line in &lines[..top] {
        assert!(
            !line.contains(agent_text),
            "the agent's {agent_text:?} left over outside its pane:\n{screen}"
        );
    }
    let first = lines.first().copied().unwrap_or("");
    assert!(
        first.contains("Tasks"),
        "the task pane is not redrawn:\n{screen}"
    );
}

/// One run of Codex's sign-in menu at `size`: the control room's pane,
/// attached in the control room (arrow keys, a resize, a detach), then
/// `orch attach` from another terminal.
fn codex_at(size: (u16, u16), tag: &str) {
    let test = format!("codex at {}x{}", size.0, size.1);
    const WELCOME: &str = "Welcome to Codex";
    let Some(codex) = program("codex", &test) else {
        return;
    };
    let server = Server::new(tag);
    let rig = Rig::new(&server, codex, "cx", &[], |_| {});
    let room = rig.control_room(size);
    room.wait_for("Sign in with ChatGPT");
    let pane = pane_size(&room);
    assert_pty(&rig, pane, &test);
    let direct = rig.direct(pane);

    // The first screen in the output pane.
    let menu = "Sign in with ChatGPT";
    same(
        &format!("{test}, output pane"),
        menu,
        || below(pane_rows(&room), WELCOME),
        || below(whole(&direct, 999), WELCOME),
    );

    // Attached: the whole terminal less the status line.
    room.keys(&["Enter"]);
    room.wait_for("attached to cx");
    let attached = (size.0, size.1 - 1);
    assert_pty(&rig, attached, &test);
    direct.resize(attached);
    let rows_attached = usize::from(attached.1);
    let before = same(
        &format!("{test}, attached"),
        menu,
        || below(whole(&room, rows_attached), WELCOME),
        || below(whole(&direct, rows_attached), WELCOME),
    );
    same_styled(&format!("{test}, attached"), rows_attached, &room, &direct);
    let first = selected(&before, ">").expect("a selection");

    // The arrow keys move the same selection.
    room.keys(&["Down"]);
    direct.keys(&["Down"]);
    let after = same(
        &format!("{test}, after Down"),
        "Device Code",
        || below(whole(&room, rows_attached), WELCOME),
        || below(whole(&direct, rows_attached), WELCOME),
    );
    same_styled(
        &format!("{test}, after Down"),
        rows_attached,
        &room,
        &direct,
    );
    let moved = selected(&after, ">").expect("a selection");
    assert_ne!(moved, first, "Down moved nothing:\n{}", after.join("\n"));
    assert!(moved.contains("Device Code"), "{moved}");

    // A smaller terminal: nothing of the bigger screen left over.
    let smaller = (size.0 - 10, size.1 - 4);
    room.resize(smaller);
    assert_pty(&rig, (smaller.0, smaller.1 - 1), &test);
    direct.resize((smaller.0, smaller.1 - 1));
    let rows_smaller = usize::from(smaller.1 - 1);
    let resized = same(
        &format!("{test}, resized to {}x{}", smaller.0, smaller.1),
        "Device Code",
        || below(whole(&room, rows_smaller), WELCOME),
        || below(whole(&direct, rows_smaller), WELCOME),
    );
    assert_eq!(selected(&resized, ">"), Some(moved.clone()));
    same_styled(&format!("{test}, resized"), rows_smaller, &room, &direct);

    // Detach: the control room is whole again, the agent back in its pane.
    room.keys(&["C-]"]);
    control_room_is_clean(&room, "Sign in with");
    let pane = pane_size(&room);
    assert_pty(&rig, pane, &test);
    direct.resize(pane);
    same(
        &format!("{test}, after detach"),
        "Codex",
        || below(pane_rows(&room), WELCOME),
        || below(whole(&direct, 999), WELCOME),
    );

    // `orch attach` from another terminal: its whole screen.
    let attach = rig.attach(size);
    assert_pty(&rig, size, &test);
    direct.resize(size);
    let full = usize::from(size.1);
    same(
        &format!("{test}, orch attach"),
        "Device Code",
        || below(whole(&attach, full), WELCOME),
        || below(whole(&direct, full), WELCOME),
    );
    attach.keys(&["Up"]);
    direct.keys(&["Up"]);
    let back = same(
        &format!("{test}, orch attach after Up"),
        menu,
        || below(whole(&attach, full), WELCOME),
        || below(whole(&direct, full), WELCOME),
    );
    assert_eq!(selected(&back, ">"), Some(first));
    same_styled(
        &format!("{test}, orch attach after Up"),
        full,
        &attach,
        &direct,
    );
    attach.keys(&["C-]"]);
    attach.wait_for("CLIENT-ENDED");
    assert_modes_reset(&attach);
}

/// After `orch attach` ended: Shift+Enter reaches the shell as the
/// terminal sends it by default (no extended form left switched on).
fn assert_modes_reset(attach: &Pane<'_>) {
    attach.keys(&["S-Enter"]);
    attach.text("x");
    attach.keys(&["Enter"]);
    let screen = attach.wait_for("x");
    let after = screen.split("CLIENT-ENDED").nth(1).unwrap_or("");
    assert!(
        !after.contains("[13;2u") && !after.contains("[27;2;13~"),
        "a keyboard mode was left on after the client ended:\n{screen}"
    );
}

#[test]
fn codex_sign_in_at_80x24() {
    codex_at((80, 24), "cx80");
}

#[test]
fn codex_sign_in_at_200x50() {
    codex_at((200, 50), "cx200");
}

/// Claude Code with a fresh `HOME`: its welcome and the connection error,
/// then it exits; the finished task's pane shows its last screen.
fn claude_first_screen_at(size: (u16, u16), tag: &str) {
    let test = format!("claude first screen at {}x{}", size.0, size.1);
    let Some(claude) = program("claude", &test) else {
        return;
    };
    let server = Server::new(tag);
    let rig = Rig::new(&server, claude, "cc", &[], |_| {});
    let room = rig.control_room(size);
    room.wait_for("Output: cc");
    let pane = pane_size(&room);
    let direct = rig.direct(pane);
    same(
        &format!("{test}, output pane"),
        "Unable to connect to Anthropic services",
        || pane_rows(&room),
        || whole(&direct, 999),
    );
}

#[test]
fn claude_first_screen_at_80x24() {
    claude_first_screen_at((80, 24), "cc80");
}

#[test]
fn claude_first_screen_at_200x50() {
    claude_first_screen_at((200, 50), "cc200");
}

/// Claude Code past onboarding, with an API key in its environment: the
/// folder trust menu in the control room (arrow keys, a resize, a
/// detach), then through `orch attach` its API key menu and its input
/// box, where Shift+Enter must start a new line as it does in tmux.
fn claude_menus_at(size: (u16, u16), tag: &str) {
    let test = format!("claude menus at {}x{}", size.0, size.1);
    let Some(claude) = program("claude", &test) else {
        return;
    };
    let server = Server::new(tag);
    let seed = |home: &Path| {
        std::fs::write(
            home.join(".claude.json"),
            r#"{"hasCompletedOnboarding":true,"theme":"dark"}"#,
        )
        .expect("seed .claude.json");
    };
    let env = [
        ("ANTHROPIC_API_KEY", "sk-ant-api03-orch-test-not-a-key"),
        ("DISABLE_AUTOUPDATER", "1"),
    ];
    let rig = Rig::new(&server, claude, "cm", &env, seed);
    let room = rig.control_room(size);
    let trust = "Yes, I trust this folder";
    room.wait_for(trust);
    let pane = pane_size(&room);
    let direct = rig.direct(pane);
    same(
        &format!("{test}, output pane"),
        trust,
        || pane_rows(&room),
        || whole(&direct, 999),
    );

    room.keys(&["Enter"]);
    room.wait_for("attached to cm");
    let attached = (size.0, size.1 - 1);
    assert_pty(&rig, attached, &test);
    direct.resize(attached);
    let rows_attached = usize::from(attached.1);
    let before = same(
        &format!("{test}, attached"),
        trust,
        || whole(&room, rows_attached),
        || whole(&direct, rows_attached),
    );
    same_styled(&format!("{test}, attached"), rows_attached, &room, &direct);
    let first = selected(&before, "❯").expect("a selection");
    room.keys(&["Down"]);
    direct.keys(&["Down"]);
    let after = same(
        &format!("{test}, after Down"),
        "No, exit",
        || whole(&room, rows_attached),
        || whole(&direct, rows_attached),
    );
    same_styled(
        &format!("{test}, after Down"),
        rows_attached,
        &room,
        &direct,
    );
    let moved = selected(&after, "❯").expect("a selection");
    assert_ne!(moved, first, "Down moved nothing:\n{}", after.join("\n"));
    room.keys(&["Up"]);
    direct.keys(&["Up"]);
    let back = same(
        &format!("{test}, after Up"),
        trust,
        || whole(&room, rows_attached),
        || whole(&direct, rows_attached),
    );
    assert_eq!(selected(&back, "❯"), Some(first));

    let smaller = (size.0 - 10, size.1 - 4);
    room.resize(smaller);
    assert_pty(&rig, (smaller.0, smaller.1 - 1), &test);
    direct.resize((smaller.0, smaller.1 - 1));
    let rows_smaller = usize::from(smaller.1 - 1);
    same(
        &format!("{test}, resized to {}x{}", smaller.0, smaller.1),
        trust,
        || whole(&room, rows_smaller),
        || whole(&direct, rows_smaller),
    );

    same_styled(&format!("{test}, resized"), rows_smaller, &room, &direct);
    room.keys(&["C-]"]);
    control_room_is_clean(&room, "trust this folder");
    let pane = pane_size(&room);
    assert_pty(&rig, pane, &test);
    direct.resize(pane);
    same(
        &format!("{test}, after detach"),
        trust,
        || pane_rows(&room),
        || whole(&direct, 999),
    );

    // Through `orch attach`: the terminal's own bytes reach the agent.
    let attach = rig.attach(size);
    assert_pty(&rig, size, &test);
    direct.resize(size);
    let full = usize::from(size.1);
    same(
        &format!("{test}, orch attach"),
        trust,
        || whole(&attach, full),
        || whole(&direct, full),
    );
    same_styled(&format!("{test}, orch attach"), full, &attach, &direct);
    // Trust the folder, then use the key (whichever way round a version
    // lists the options).
    choose(
        &format!("{test}, trust menu"),
        trust,
        "Down",
        &attach,
        &direct,
        full,
    );
    attach.keys(&["Enter"]);
    direct.keys(&["Enter"]);
    let key_menu = "Do you want to use this API key?";
    attach.wait_for(key_menu);
    choose(
        &format!("{test}, API key menu"),
        "Yes",
        "Up",
        &attach,
        &direct,
        full,
    );
    attach.keys(&["Enter"]);
    direct.keys(&["Enter"]);
    // Its input box: a line, Shift+Enter, another line.
    let input = |p: &Pane<'_>| {
        p.wait_for("Claude Code v");
        p.text("first");
        p.keys(&["S-Enter"]);
        p.text("second");
    };
    input(&attach);
    input(&direct);
    let typed = same(
        &format!("{test}, Shift+Enter in the input box"),
        "second",
        || whole(&attach, full),
        || whole(&direct, full),
    );
    same_styled(&format!("{test}, input box"), full, &attach, &direct);
    // (Claude Code draws a no-break space after its prompt mark.)
    let first_row = typed
        .iter()
        .position(|r| r.trim_start().starts_with('❯') && r.trim_end().ends_with("first"));
    let second_row = typed.iter().position(|r| r.trim() == "second");
    assert!(
        first_row.is_some() && second_row == first_row.map(|r| r + 1),
        "Shift+Enter did not start a new line:\n{}",
        typed.join("\n")
    );
    // Its main screen redrawn narrower, then wider again.
    for step in [(size.0 - 10, size.1 - 4), size] {
        attach.resize(step);
        direct.resize(step);
        assert_pty(&rig, step, &test);
        let keep = usize::from(step.1);
        same(
            &format!("{test}, input box at {}x{}", step.0, step.1),
            "second",
            || whole(&attach, keep),
            || whole(&direct, keep),
        );
        same_styled(
            &format!("{test}, input box at {}x{}", step.0, step.1),
            keep,
            &attach,
            &direct,
        );
    }
    attach.keys(&["C-]"]);
    attach.wait_for("CLIENT-ENDED");
    assert_modes_reset(&attach);
}

#[test]
fn claude_menus_and_shift_enter_at_80x24() {
    claude_menus_at((80, 24), "cm80");
}

#[test]
fn claude_menus_and_shift_enter_at_200x50() {
    claude_menus_at((200, 50), "cm200");
}
