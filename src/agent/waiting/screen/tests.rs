//! Recorded screens (`tests/fixtures/screens/<kind>-<state>.bytes`) fed
//! through vt100 and classified. Each file starts with `# ` comment lines
//! (what it shows, where it was recorded, `size: ROWSxCOLS`) ended by a
//! line `#`; the rest is the raw bytes the program printed.

use std::num::NonZeroU16;
use std::path::PathBuf;

use regex::Regex;

use super::*;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/screens")
}

/// The screen a fixture leaves, as the detector reads it.
fn screen(name: &str) -> ScreenText {
    let path = fixture_dir().join(format!("{name}.bytes"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (rows, cols, body) = split_header(&data, name);
    let mut parser = vt100::Parser::new(
        NonZeroU16::new(rows).unwrap(),
        NonZeroU16::new(cols).unwrap(),
        0,
    );
    parser.process(body);
    ScreenText::of(parser.screen())
}

/// `(rows, cols, raw bytes)` of a fixture file.
fn split_header<'a>(data: &'a [u8], name: &str) -> (u16, u16, &'a [u8]) {
    let mut rest = data;
    let mut size = None;
    loop {
        let nl = rest.iter().position(|&b| b == b'\n').expect("header line");
        let line = std::str::from_utf8(&rest[..nl]).expect("header is UTF-8");
        rest = &rest[nl + 1..];
        if line == "#" {
            break;
        }
        assert!(line.starts_with("# "), "{name}: header line {line:?}");
        if let Some(s) = line.strip_prefix("# size: ") {
            let (r, c) = s.split_once('x').expect("size: ROWSxCOLS");
            size = Some((r.parse().expect("rows"), c.parse().expect("cols")));
        }
    }
    let (r, c) = size.unwrap_or_else(|| panic!("{name}: no size in the header"));
    (r, c, rest)
}

fn kind_of(name: &str) -> AgentKind {
    AgentKind::ALL
        .into_iter()
        .find(|k| name.starts_with(&format!("{}-", k.as_str())))
        .unwrap_or_else(|| panic!("{name}: no kind prefix"))
}

fn classify(name: &str) -> Option<ScreenMatch> {
    ScreenRules::new(kind_of(name), vec![], vec![]).classify(&screen(name))
}

fn show(name: &str) -> String {
    screen(name).rows.join("\n")
}

#[track_caller]
fn assert_busy(name: &str, rule: &str) {
    let m = classify(name).unwrap_or_else(|| panic!("{name}: nothing decided\n{}", show(name)));
    assert_eq!(m.seen, Seen::Busy, "{name}: {m:?}\n{}", show(name));
    assert_eq!(m.rule, rule, "{name}");
}

#[track_caller]
fn assert_idle(name: &str, rule: &str) {
    let m = classify(name).unwrap_or_else(|| panic!("{name}: nothing decided\n{}", show(name)));
    assert_eq!(m.seen, Seen::Idle, "{name}: {m:?}\n{}", show(name));
    assert_eq!(m.rule, rule, "{name}");
}

#[track_caller]
fn assert_waiting(name: &str, rule: &str, question: &str) {
    let m = classify(name).unwrap_or_else(|| panic!("{name}: nothing decided\n{}", show(name)));
    assert_eq!(
        m.seen,
        Seen::Waiting {
            question: question.into()
        },
        "{name}: {m:?}\n{}",
        show(name)
    );
    assert_eq!(m.rule, rule, "{name}");
    assert!(!m.text.is_empty(), "{name}: the deciding text is kept");
}

/// Never waiting: nothing decided, or busy.
#[track_caller]
fn assert_not_waiting(name: &str) {
    if let Some(m) = classify(name) {
        assert!(
            !matches!(m.seen, Seen::Waiting { .. }),
            "{name}: {m:?}\n{}",
            show(name)
        );
    }
}

#[test]
fn every_fixture_has_a_header_and_decodes() {
    let mut names = 0;
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let is_ours = AgentKind::ALL
            .iter()
            .any(|k| name.starts_with(&format!("{}-", k.as_str())));
        if path.extension().is_some_and(|e| e == "bytes") && is_ours {
            let s = screen(&name);
            assert_eq!(s.rows.len(), 40, "{name}");
            assert!(s.rows.iter().any(|r| !r.is_empty()), "{name}: blank screen");
            names += 1;
        }
    }
    assert!(names >= 40, "found {names} fixtures");
}

// --- Claude Code -----------------------------------------------------------

#[test]
fn claude_code_busy() {
    assert_busy("claude-code-busy", "claude-code esc to interrupt");
    assert_busy("claude-code-busy-long", "claude-code esc to interrupt");
    // Typing hides "esc to interrupt"; the spinner still says busy, and
    // the "[y/N]" typed into the box asks nothing.
    assert_busy("claude-code-busy-typed", "claude-code spinner");
}

#[test]
fn claude_code_idle() {
    assert_idle("claude-code-idle", "claude-code input box");
    assert_idle("claude-code-idle-start", "claude-code input box");
    assert_idle("claude-code-idle-rejected", "claude-code input box");
    // "Proceed? (y/n)" typed into the box is the user's, not a question.
    assert_idle("claude-code-idle-typed", "claude-code input box");
}

#[test]
fn claude_code_waiting() {
    assert_waiting(
        "claude-code-waiting-bash",
        "claude-code permission prompt",
        "Do you want to proceed?",
    );
    assert_waiting(
        "claude-code-waiting-write",
        "claude-code permission prompt",
        "Do you want to create notes.txt?",
    );
    assert_waiting(
        "claude-code-waiting-question",
        "claude-code question",
        "Which database should the service use?",
    );
    assert_waiting(
        "claude-code-waiting-trust",
        "claude-code menu",
        "Quick safety check: Is this a project you created or one you trust?",
    );
    assert_waiting(
        "claude-code-waiting-apikey",
        "claude-code permission prompt",
        "Do you want to use this API key?",
    );
}

// --- Codex -----------------------------------------------------------------

#[test]
fn codex_busy() {
    assert_busy("codex-busy", "codex working");
    assert_busy("codex-busy-typed", "codex working");
}

#[test]
fn codex_idle() {
    assert_idle("codex-idle", "codex composer");
    assert_idle("codex-idle-start", "codex composer");
    assert_idle("codex-idle-typed", "codex composer");
}

#[test]
fn codex_waiting() {
    assert_waiting(
        "codex-waiting-approval",
        "codex approval",
        "Would you like to run the following command?",
    );
    assert_waiting("codex-waiting-trust", "codex menu", "Trust this folder?");
    assert_waiting(
        "codex-waiting-login",
        "codex menu",
        "Choose how you want to use Codex.",
    );
}

// --- Gemini CLI ------------------------------------------------------------

#[test]
fn gemini_busy() {
    assert_busy("gemini-busy", "gemini spinner");
    assert_busy("gemini-busy-typed", "gemini spinner");
}

#[test]
fn gemini_idle() {
    assert_idle("gemini-idle", "gemini input box");
    assert_idle("gemini-idle-start", "gemini input box");
    assert_idle("gemini-idle-typed", "gemini input box");
}

#[test]
fn gemini_waiting() {
    assert_waiting(
        "gemini-waiting-confirm",
        "gemini confirmation",
        "Allow execution of [Shell]?",
    );
    assert_waiting(
        "gemini-waiting-trust",
        "gemini menu",
        "Do you trust the files in this folder?",
    );
    assert_waiting(
        "gemini-waiting-auth",
        "gemini menu",
        "How would you like to authenticate for this project?",
    );
}

// --- aider -----------------------------------------------------------------

#[test]
fn aider_busy() {
    assert_busy("aider-busy", "aider waiting for the model");
}

#[test]
fn aider_idle() {
    assert_idle("aider-idle", "aider prompt");
    assert_idle("aider-idle-start", "aider prompt");
    assert_idle("aider-idle-typed", "aider prompt");
}

#[test]
fn aider_waiting() {
    assert_waiting(
        "aider-waiting-shell",
        "aider confirm",
        "Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]:",
    );
    assert_waiting(
        "aider-waiting-output",
        "aider confirm",
        "Add command output to the chat? (Y)es/(N)o/(D)on't ask again [Yes]:",
    );
    assert_waiting(
        "aider-waiting-addfile",
        "aider confirm",
        "Add file to the chat? (Y)es/(N)o/(D)on't ask again [Yes]:",
    );
    assert_waiting(
        "aider-waiting-gitignore",
        "aider confirm",
        "Add .aider* to .gitignore (recommended)? (Y)es/(N)o [Yes]:",
    );
}

// --- generic ---------------------------------------------------------------

#[test]
fn generic_waiting() {
    assert_waiting(
        "generic-waiting-apt",
        "generic [y/N]",
        "Do you want to continue? [Y/n]",
    );
    assert_waiting("generic-waiting-pip", "generic (y/n)", "Proceed (Y/n)?");
    assert_waiting(
        "generic-waiting-overwrite",
        "generic (y/n)",
        "Overwrite (y/n)?",
    );
    assert_waiting(
        "generic-waiting-passphrase",
        "generic password",
        "Enter passphrase (empty for no passphrase):",
    );
    assert_waiting(
        "generic-waiting-cp",
        "generic question at the cursor",
        "cp: overwrite 'b'?",
    );
    assert_waiting(
        "generic-waiting-git-add-p",
        "generic question at the cursor",
        "(1/1) Stage this hunk [y,n,q,a,d,e,?]?",
    );
    assert_waiting(
        "generic-waiting-press-enter",
        "generic press enter",
        "Press Enter to continue...",
    );
}

#[test]
fn ordinary_output_is_not_waiting() {
    for name in [
        "generic-ordinary-cargo",
        "generic-ordinary-git-log",
        "generic-ordinary-test-run",
    ] {
        assert_eq!(classify(name), None, "{name}\n{}", show(name));
    }
}

#[test]
fn generic_prompts_count_for_every_kind_where_its_layout_is_absent() {
    // A CLI's wrapper asking before the CLI draws anything of its own.
    for kind in AgentKind::ALL {
        let m = ScreenRules::new(kind, vec![], vec![])
            .classify(&screen("generic-waiting-apt"))
            .unwrap_or_else(|| panic!("{kind:?}"));
        assert_eq!(m.rule, "generic [y/N]", "{kind:?}");
        let ordinary =
            ScreenRules::new(kind, vec![], vec![]).classify(&screen("generic-ordinary-test-run"));
        assert_eq!(ordinary, None, "{kind:?}");
    }
}

#[test]
fn a_kind_preset_is_not_read_for_another_kind() {
    // Claude's box means nothing to the generic rules.
    let m =
        ScreenRules::new(AgentKind::Generic, vec![], vec![]).classify(&screen("claude-code-idle"));
    assert_eq!(m, None);
    // A Codex approval read as generic: only its last row, a "Press enter"
    // hint, asks; the menu is not read.
    let m = ScreenRules::new(AgentKind::Generic, vec![], vec![])
        .classify(&screen("codex-waiting-approval"))
        .unwrap();
    assert_eq!(m.rule, "generic press enter");
}

// --- own patterns and auto answers ----------------------------------------

fn pattern(p: &str) -> Regex {
    Regex::new(p).unwrap()
}

fn lines(rows: &[&str], cursor_row: u16, cursor_col: u16) -> ScreenText {
    let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    rows.resize(24, String::new());
    ScreenText {
        rows,
        cursor_row,
        cursor_col,
    }
}

#[test]
fn waiting_patterns_match_the_asking_region() {
    let rules = ScreenRules::new(
        AgentKind::Generic,
        vec![
            pattern(r"Deploy now\?\s*$"),
            pattern(r"(?ms)^Pick a branch:.*"),
            pattern(r"(?m)^Choose a tag"),
        ],
        vec![],
    );
    let s = lines(&["building", "done", "Deploy now?"], 3, 0);
    let m = rules.classify(&s).unwrap();
    assert_eq!(m.rule, "waiting_patterns[0]");
    assert_eq!(
        m.seen,
        Seen::Waiting {
            question: "Deploy now?".into()
        }
    );

    let s = lines(&["Pick a branch:", "  main", "  dev"], 2, 5);
    let m = rules.classify(&s).unwrap();
    assert_eq!(m.rule, "waiting_patterns[1]");
    assert_eq!(
        m.seen,
        Seen::Waiting {
            question: "Pick a branch:".into()
        }
    );

    // A match must reach the end of the region: a question with options
    // under it is matched by a pattern that takes them in (as above), not
    // by its first row alone.
    let s = lines(&["Choose a tag:", "  v1", "  v2"], 2, 4);
    assert_eq!(rules.classify(&s), None);

    // Scrolled out of the asking region: not now.
    let mut rows = vec!["Deploy now?"];
    rows.extend(["log line"; 6]);
    assert_eq!(rules.classify(&lines(&rows, 7, 0)), None);
}

#[test]
fn waiting_patterns_never_see_the_input_box() {
    let rules = ScreenRules::new(
        AgentKind::ClaudeCode,
        vec![pattern(r"\(y/n\)\s*$")],
        vec![pattern(r"\(y/n\)")],
    );
    let m = rules.classify(&screen("claude-code-idle-typed")).unwrap();
    assert_eq!(m.seen, Seen::Idle);
    assert_eq!(m.auto_answer, None);
}

#[test]
fn auto_answer_is_the_first_pattern_matching_the_question() {
    let rules = ScreenRules::new(
        AgentKind::ClaudeCode,
        vec![],
        vec![
            pattern(r"create notes\.txt"),
            pattern(r"Do you want to proceed\?"),
            pattern(r"proceed"),
        ],
    );
    let m = rules.classify(&screen("claude-code-waiting-bash")).unwrap();
    assert_eq!(m.auto_answer, Some(1));
    let m = rules
        .classify(&screen("claude-code-waiting-write"))
        .unwrap();
    assert_eq!(m.auto_answer, Some(0));
    // Busy: nothing to answer.
    let m = rules.classify(&screen("claude-code-busy")).unwrap();
    assert_eq!(m.auto_answer, None);
}

#[test]
fn a_prompt_the_agent_has_an_answer_for_is_waiting() {
    // No preset knows "Overwrite build/out?": the rule's own pattern says
    // the agent asks it.
    let rules = ScreenRules::new(
        AgentKind::Generic,
        vec![],
        vec![
            pattern(r"^nothing$"),
            pattern(r"Overwrite \S+ \[keep/replace\]"),
        ],
    );
    let s = lines(&["compiling", "Overwrite build/out [keep/replace]:"], 1, 35);
    let m = rules.classify(&s).unwrap();
    assert_eq!(m.rule, "auto_answer[1]");
    assert_eq!(m.auto_answer, Some(1));
    assert_eq!(
        m.seen,
        Seen::Waiting {
            question: "Overwrite build/out [keep/replace]:".into()
        }
    );
    // Without the rule it is ordinary output.
    let plain = ScreenRules::new(AgentKind::Generic, vec![], vec![]);
    assert_eq!(plain.classify(&s), None);
}

#[test]
fn the_question_is_one_line_of_at_most_200_characters() {
    let long = format!("{} [y/N]", "Really ".repeat(60));
    let s = lines(&[&long], 0, long.len() as u16);
    let m = ScreenRules::new(AgentKind::Generic, vec![], vec![])
        .classify(&s)
        .unwrap();
    let Seen::Waiting { question } = m.seen else {
        panic!("{m:?}")
    };
    assert!(question.chars().count() <= QUESTION_MAX);
    assert!(!question.contains('\n'));
}

#[test]
fn a_marker_alone_on_its_row_takes_the_row_above() {
    let s = lines(&["Delete all 3 worktrees?", "[y/N]"], 1, 6);
    let m = ScreenRules::new(AgentKind::Generic, vec![], vec![])
        .classify(&s)
        .unwrap();
    assert_eq!(
        m.seen,
        Seen::Waiting {
            question: "Delete all 3 worktrees? [y/N]".into()
        }
    );
}

#[test]
fn a_question_needs_the_cursor_right_after_it() {
    let rules = ScreenRules::new(AgentKind::Generic, vec![], vec![]);
    let asked = "Overwrite config.toml?";
    let width = asked.len() as u16;
    assert!(rules.classify(&lines(&[asked], 0, width + 1)).is_some());
    assert!(rules.classify(&lines(&[asked], 0, width)).is_some());
    // Printed, and the program went on to the next line.
    assert_eq!(rules.classify(&lines(&[asked], 1, 0)), None);
    // The cursor elsewhere on the row.
    assert_eq!(rules.classify(&lines(&[asked], 0, 3)), None);
}

#[test]
fn a_password_prompt_needs_the_cursor_on_it() {
    let rules = ScreenRules::new(AgentKind::Generic, vec![], vec![]);
    let m = rules
        .classify(&lines(&["[sudo] password for dev:"], 0, 25))
        .unwrap();
    assert_eq!(m.rule, "generic password");
    assert_eq!(
        rules.classify(&lines(&["[sudo] password for dev:"], 1, 0)),
        None
    );
}

#[test]
fn an_answered_prompt_is_not_waiting() {
    let rules = ScreenRules::new(AgentKind::Generic, vec![], vec![]);
    assert_eq!(rules.classify(&lines(&["Continue? [y/N] y"], 0, 17)), None);
    assert_eq!(
        rules.classify(&lines(&["Continue? [y/N] y", "Removing build/"], 2, 0)),
        None
    );
}

#[test]
fn typed_text_and_ordinary_output_never_wait() {
    for name in [
        "claude-code-idle-typed",
        "claude-code-busy-typed",
        "codex-idle-typed",
        "codex-busy-typed",
        "gemini-idle-typed",
        "gemini-busy-typed",
        "aider-idle-typed",
    ] {
        assert_not_waiting(name);
    }
    // Ordinary output read with every kind's presets.
    for kind in AgentKind::ALL {
        for name in [
            "generic-ordinary-cargo",
            "generic-ordinary-git-log",
            "generic-ordinary-test-run",
        ] {
            let m = ScreenRules::new(kind, vec![], vec![]).classify(&screen(name));
            assert!(
                !m.as_ref()
                    .is_some_and(|m| matches!(m.seen, Seen::Waiting { .. })),
                "{kind:?} {name}: {m:?}"
            );
        }
    }
}

#[test]
fn an_answered_prompt_is_not_asked_again() {
    // The example rule of docs/CONFIG.md.
    let rules = ScreenRules::new(
        AgentKind::Generic,
        vec![],
        vec![pattern(r"Proceed\? \(y/n\)")],
    );
    // Asked: the cursor after it.
    let asked = lines(&["plan ready", "Proceed? (y/n) "], 1, 15);
    assert_eq!(rules.classify(&asked).unwrap().auto_answer, Some(0));
    // Answered: the answer echoed after it, on its row or with output
    // below it.
    for rows in [
        &["plan ready", "Proceed? (y/n) y"][..],
        &["Proceed? (y/n) y", "installing..."][..],
        &["Proceed? (y/n)", "installing..."][..],
    ] {
        let s = lines(rows, rows.len() as u16 - 1, 16);
        assert_eq!(rules.classify(&s), None, "{rows:?}");
    }
}

#[test]
fn an_auto_answer_is_for_the_question_asked_now_not_one_above_it() {
    let rules = ScreenRules::new(
        AgentKind::Generic,
        vec![],
        vec![pattern(r"Overwrite \S+\? \[y/N\]")],
    );
    let s = lines(
        &[
            "Overwrite a.txt? [y/N] y",
            "copied a.txt",
            "Delete b.txt? [y/N] ",
        ],
        2,
        20,
    );
    let m = rules.classify(&s).unwrap();
    assert_eq!(m.rule, "generic [y/N]");
    assert_eq!(m.auto_answer, None, "the Overwrite rule answers no Delete");
    assert_eq!(
        m.seen,
        Seen::Waiting {
            question: "Delete b.txt? [y/N]".into()
        }
    );
}

#[test]
fn a_pattern_that_matches_nothing_next_to_wide_characters_does_not_panic() {
    // The config refuses patterns that match empty text; the rules stay
    // safe with one anyway.
    for p in [r"x*", r"(?:y/n)?", r"(?m)^"] {
        let rules = ScreenRules::new(AgentKind::Generic, vec![pattern(p)], vec![pattern(p)]);
        for rows in [&["● ok"][..], &["✻ ok", "日本語"][..], &["", "é"][..]] {
            let _ = rules.classify(&lines(rows, 0, 0));
        }
    }
}

#[test]
fn a_long_prompt_typed_into_claude_code_s_box_is_still_its_input() {
    let rule = "─".repeat(60);
    let mut rows = vec!["✻ Welcome to Claude Code!", "", rule.as_str()];
    let typed = [
        "❯ 1. fix the parser",
        "2. then the lexer",
        "3. then the tests",
        "4. then the docs",
        "5. then the bench",
        "6. then the README",
        "7. then the CI",
        "8. then the release",
        "9. then the notes",
        "10. and tell me",
    ];
    rows.extend(typed);
    rows.push(rule.as_str());
    rows.push("? for shortcuts");
    let s = lines(&rows, 3, 20);
    let rules = ScreenRules::new(AgentKind::ClaudeCode, vec![], vec![]);
    let m = rules.classify(&s).unwrap();
    assert_eq!(m.seen, Seen::Idle, "{m:?}");
    assert_eq!(m.rule, "claude-code input box");
}

#[test]
fn arrow_key_menus_of_node_s_prompt_libraries_wait() {
    let rules = ScreenRules::new(AgentKind::Generic, vec![], vec![]);
    let asks = |rows: &[&str]| {
        rules
            .classify(&lines(rows, rows.len() as u16 - 1, 0))
            .map(|m| (m.seen, m.rule))
    };
    let menu = |q: &str| {
        Some((
            Seen::Waiting { question: q.into() },
            "generic arrow-key menu".to_string(),
        ))
    };
    // inquirer, before and after a key was pressed.
    let fresh = [
        "$ npm create app",
        "? Which framework? (Use arrow keys)",
        "❯ React",
        "  Vue",
        "  Svelte",
        "  Solid",
        "  Angular",
    ];
    assert_eq!(asks(&fresh), menu("Which framework?"));
    let moved = ["? Which framework?", "  React", "❯ Vue", "  Svelte"];
    assert_eq!(asks(&moved), menu("Which framework?"));
    // prompts.
    let prompts = [
        "? Pick a colour › - Use arrow-keys. Return to submit.",
        "❯   Red",
        "    Green",
    ];
    assert_eq!(asks(&prompts), menu("Pick a colour"));
    // Answered: redrawn without options, or with a tick.
    assert_eq!(asks(&["? Which framework? Vue", "installing vue"]), None);
    assert_eq!(asks(&["✔ Pick a colour › Red", "done"]), None);
    // A line that merely starts with a question mark.
    assert_eq!(asks(&["? for shortcuts"]), None);
}
