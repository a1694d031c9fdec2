//! Tests of keymap files, including the fixtures under
//! `tests/fixtures/keymap`.
//!
//! Set `ORCH_BLESS_FIXTURES=1` to rewrite the `.expected` files from the
//! current output (then review the diff).

use crate::tomldoc::fixtures::{read, toml_files};
use std::fs;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyModifiers};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keymap");

fn chord(text: &str) -> KeyChord {
    match text.parse() {
        Ok(chord) => chord,
        Err(error) => panic!("{text:?}: {error}"),
    }
}

fn keys(text: &str) -> Vec<KeyChord> {
    match parse_keys(text) {
        Ok(keys) => keys,
        Err(error) => panic!("{text:?}: {error}"),
    }
}

fn builtin(name: &str) -> Keymap {
    match Keymap::builtin(name) {
        Some(Ok(keymap)) => keymap,
        Some(Err(errors)) => panic!("built-in keymap {name}:\n{errors}"),
        None => panic!("no built-in keymap {name}"),
    }
}

/// Parse `src` as `test.toml`, inheriting from the built-ins.
fn parse(src: &str) -> Result<Keymap, String> {
    Keymap::parse(src, Path::new("test.toml"), &Keymap::resolve_builtin).map_err(|e| e.to_string())
}

fn ok(src: &str) -> Keymap {
    match parse(src) {
        Ok(keymap) => keymap,
        Err(errors) => panic!("expected a valid keymap, got:\n{errors}"),
    }
}

fn err(src: &str) -> String {
    match parse(src) {
        Ok(keymap) => panic!("expected errors, got {keymap:#?}"),
        Err(errors) => errors,
    }
}

/// The result of typing `text` (one or more chords) from scratch in `ctx`.
fn press(keymap: &Keymap, ctx: Context, text: &str) -> Lookup {
    let keys = keys(text);
    let mut pending = Vec::new();
    let mut result = Lookup::NoMatch;
    for key in keys {
        result = keymap.lookup(ctx, &pending, key);
        match result {
            Lookup::Pending => pending.push(key),
            _ => pending.clear(),
        }
    }
    result
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        if let Err(error) = fs::create_dir_all(parent) {
            panic!("{}: {error}", parent.display());
        }
    }
    if let Err(error) = fs::write(path, text) {
        panic!("{}: {error}", path.display());
    }
}

fn temp_dir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("tempdir: {error}"),
    }
}

// ----- built-ins ------------------------------------------------------------

#[test]
fn every_builtin_loads() {
    assert_eq!(Keymap::builtin_names(), ["default", "vim"]);
    for name in Keymap::builtin_names() {
        let keymap = builtin(name);
        assert_eq!(keymap.name(), name);
        // Loading by name without a user directory gives the same.
        match Keymap::load(name, None) {
            Ok(loaded) => assert_eq!(loaded, keymap),
            Err(errors) => panic!("{errors}"),
        }
    }
    assert!(Keymap::builtin("emacs").is_none());
}

#[test]
fn default_binds_every_action() {
    let keymap = builtin("default");
    for action in Action::ALL {
        if *action == Action::None {
            continue;
        }
        let bound = Context::ALL
            .iter()
            .any(|ctx| keymap.bindings(*ctx).iter().any(|b| b.action == *action));
        assert!(bound, "default keymap does not bind {action}");
    }
}

#[test]
fn default_keys() {
    let keymap = builtin("default");
    let cases = [
        (Context::Tasks, "q", Action::AppQuit),
        (Context::Tasks, "?", Action::AppHelp),
        (Context::Tasks, "<Tab>", Action::FocusNext),
        (Context::Output, "<S-Tab>", Action::FocusPrev),
        (Context::Tasks, "<Enter>", Action::TaskAttach),
        (Context::Tasks, "r", Action::TaskRetry),
        (Context::Tasks, "c", Action::TaskCancel),
        (Context::Tasks, "s", Action::TaskSkip),
        (Context::Tasks, "l", Action::TaskLogs),
        (Context::Tasks, "i", Action::TaskDetails),
        (Context::Approvals, "i", Action::TaskDetails),
        (Context::Tasks, "g", Action::TasksToggleGrouping),
        // Reviewing and landing work, from any pane.
        (Context::Tasks, "d", Action::TaskDiff),
        (Context::Approvals, "d", Action::TaskDiff),
        (Context::Output, "D", Action::TaskPager),
        (Context::Tasks, "m", Action::TaskMerge),
        (Context::Health, "R", Action::TaskResolve),
        (Context::Tasks, "F", Action::TaskRetryFresh),
        (Context::Diff, "<Enter>", Action::DiffOpen),
        (Context::Diff, "<Esc>", Action::DiffBack),
        (Context::Diff, "q", Action::DiffClose),
        (Context::Diff, "/", Action::DiffSearch),
        (Context::Diff, "n", Action::DiffNextMatch),
        (Context::Diff, "N", Action::DiffPrevMatch),
        (Context::Diff, "]", Action::DiffNextFile),
        (Context::Diff, "}", Action::DiffNextHunk),
        (Context::Diff, "<PageDown>", Action::NavPageDown),
        (Context::Diff, "<Up>", Action::NavUp),
        (Context::Diff, "d", Action::TaskDiff),
        (Context::Diff, "m", Action::TaskMerge),
        (Context::Tasks, "<Up>", Action::NavUp),
        (Context::Tasks, "<PageDown>", Action::OutputPageDown),
        (Context::Tasks, "<End>", Action::OutputBottom),
        (Context::Output, "<Up>", Action::OutputScrollUp),
        (Context::Output, "<Home>", Action::OutputTop),
        (Context::Approvals, "a", Action::ApprovalApprove),
        (Context::Approvals, "x", Action::ApprovalReject),
        (Context::Approvals, "<Home>", Action::NavTop),
        (Context::Health, "<PageUp>", Action::NavPageUp),
        (Context::Attached, "<C-]>", Action::AttachedDetach),
    ];
    for (ctx, text, action) in cases {
        assert_eq!(
            press(&keymap, ctx, text),
            Lookup::Action(action),
            "{ctx} {text}"
        );
    }
    // Task keys belong to the task list only.
    assert_eq!(press(&keymap, Context::Health, "r"), Lookup::NoMatch);
}

#[test]
fn vim_adds_to_default() {
    let keymap = builtin("vim");
    let cases = [
        (Context::Tasks, "j", Action::NavDown),
        (Context::Tasks, "k", Action::NavUp),
        (Context::Tasks, "<Down>", Action::NavDown),
        (Context::Tasks, "g g", Action::NavTop),
        (Context::Tasks, "G", Action::NavBottom),
        (Context::Tasks, "<C-d>", Action::NavPageDown),
        (Context::Tasks, "t", Action::TasksToggleGrouping),
        (Context::Tasks, "l", Action::FocusNext),
        (Context::Tasks, "L", Action::TaskLogs),
        (Context::Tasks, "r", Action::TaskRetry),
        (Context::Tasks, "<C-w> w", Action::FocusNext),
        (Context::Output, "j", Action::OutputScrollDown),
        (Context::Output, "g g", Action::OutputTop),
        (Context::Output, "<C-u>", Action::OutputPageUp),
        (Context::Approvals, "g g", Action::NavTop),
        (Context::Approvals, "a", Action::ApprovalApprove),
        (Context::Attached, "<C-]>", Action::AttachedDetach),
        (Context::Diff, "j", Action::NavDown),
        (Context::Diff, "G", Action::NavBottom),
        (Context::Diff, "] c", Action::DiffNextHunk),
        (Context::Diff, "[ c", Action::DiffPrevHunk),
        (Context::Diff, "] f", Action::DiffNextFile),
        (Context::Diff, "n", Action::DiffNextMatch),
    ];
    for (ctx, text, action) in cases {
        assert_eq!(
            press(&keymap, ctx, text),
            Lookup::Action(action),
            "{ctx} {text}"
        );
    }
    assert_eq!(press(&keymap, Context::Diff, "]"), Lookup::Pending);
    // The overridden and unbound default keys.
    assert_eq!(press(&keymap, Context::Tasks, "g"), Lookup::Pending);
    assert_eq!(
        keymap.keys_for(Context::Tasks, Action::TaskLogs).as_deref(),
        Some("L")
    );
    // The inherited bindings keep their order; new ones follow.
    let tasks: Vec<String> = keymap
        .bindings(Context::Tasks)
        .iter()
        .map(|b| format_keys(&b.keys))
        .collect();
    assert_eq!(tasks, ["<Enter>", "r", "c", "s", "i", "t", "L"]);
}

// ----- lookup ---------------------------------------------------------------

const SEQUENCES: &str = r#"
[global]
quit = { keys = "q", action = "app.quit" }
top = { keys = "g g", action = "nav.top" }
bottom = { keys = "g e", action = "nav.bottom" }
deep = { keys = "<C-a> z <Enter>", action = "app.redraw" }

[tasks]
retry = { keys = "r", action = "task.retry" }
quit_here = { keys = "q", action = "task.cancel" }

[attached]
detach = { keys = "<C-a> d", action = "attached.detach" }
"#;

#[test]
fn sequences_are_pending_then_match() {
    let keymap = ok(SEQUENCES);
    let g = chord("g");
    assert_eq!(keymap.lookup(Context::Tasks, &[], g), Lookup::Pending);
    assert_eq!(
        keymap.lookup(Context::Tasks, &[g], g),
        Lookup::Action(Action::NavTop)
    );
    assert_eq!(
        keymap.lookup(Context::Tasks, &[g], chord("e")),
        Lookup::Action(Action::NavBottom)
    );
    assert_eq!(
        keymap.lookup(Context::Tasks, &[g], chord("x")),
        Lookup::NoMatch
    );
    let (ca, z) = (chord("<C-a>"), chord("z"));
    assert_eq!(keymap.lookup(Context::Output, &[], ca), Lookup::Pending);
    assert_eq!(keymap.lookup(Context::Output, &[ca], z), Lookup::Pending);
    assert_eq!(
        keymap.lookup(Context::Output, &[ca, z], chord("<Enter>")),
        Lookup::Action(Action::AppRedraw)
    );
    assert_eq!(press(&keymap, Context::Tasks, "x"), Lookup::NoMatch);
}

#[test]
fn context_comes_before_global() {
    let keymap = ok(SEQUENCES);
    assert_eq!(
        press(&keymap, Context::Tasks, "q"),
        Lookup::Action(Action::TaskCancel)
    );
    assert_eq!(
        press(&keymap, Context::Output, "q"),
        Lookup::Action(Action::AppQuit)
    );
    assert_eq!(
        press(&keymap, Context::Global, "q"),
        Lookup::Action(Action::AppQuit)
    );
    assert_eq!(
        press(&keymap, Context::Global, "r"),
        Lookup::NoMatch,
        "the global context sees only [global]"
    );
}

#[test]
fn attached_sees_only_its_own_bindings() {
    let keymap = ok(SEQUENCES);
    assert_eq!(press(&keymap, Context::Attached, "q"), Lookup::NoMatch);
    assert_eq!(press(&keymap, Context::Attached, "g"), Lookup::NoMatch);
    let ca = chord("<C-a>");
    assert_eq!(keymap.lookup(Context::Attached, &[], ca), Lookup::Pending);
    assert_eq!(
        keymap.lookup(Context::Attached, &[ca], chord("d")),
        Lookup::Action(Action::AttachedDetach)
    );
    // `<C-a> z` is global, so not a sequence while attached.
    assert_eq!(
        keymap.lookup(Context::Attached, &[ca], chord("z")),
        Lookup::NoMatch
    );
    // And [attached] means nothing elsewhere.
    assert_eq!(
        keymap.lookup(Context::Tasks, &[ca], chord("d")),
        Lookup::NoMatch
    );
}

#[test]
fn keys_for_finds_working_keys() {
    let keymap = builtin("default");
    assert_eq!(
        keymap.keys_for(Context::Tasks, Action::AppQuit).as_deref(),
        Some("q")
    );
    assert_eq!(
        keymap.keys_for(Context::Tasks, Action::AppHelp).as_deref(),
        Some("?")
    );
    assert_eq!(
        keymap
            .keys_for(Context::Attached, Action::AttachedDetach)
            .as_deref(),
        Some("<C-]>")
    );
    assert_eq!(keymap.keys_for(Context::Attached, Action::AppQuit), None);
    assert_eq!(keymap.keys_for(Context::Health, Action::TaskRetry), None);
    assert_eq!(
        builtin("vim")
            .keys_for(Context::Tasks, Action::NavTop)
            .as_deref(),
        Some("g g")
    );

    // A global binding hidden by the context's own is not offered.
    let keymap = ok(SEQUENCES);
    assert_eq!(keymap.keys_for(Context::Tasks, Action::AppQuit), None);
    assert_eq!(
        keymap.keys_for(Context::Output, Action::AppQuit).as_deref(),
        Some("q")
    );
    assert_eq!(
        keymap
            .keys_for(Context::Output, Action::AppRedraw)
            .as_deref(),
        Some("<C-a> z <Enter>")
    );
}

#[test]
fn bindings_are_in_file_order_with_descriptions() {
    let keymap = ok(r#"
[global]
zz = { keys = "z", action = "app.quit", desc = "Leave" }
aa = { keys = "a", action = "app.help" }
"#);
    let global = keymap.bindings(Context::Global);
    assert_eq!(
        global,
        [
            &Binding {
                keys: vec![chord("z")],
                action: Action::AppQuit,
                desc: "Leave".into()
            },
            &Binding {
                keys: vec![chord("a")],
                action: Action::AppHelp,
                desc: Action::AppHelp.description().into()
            },
        ]
    );
    assert!(keymap.bindings(Context::Tasks).is_empty());
}

#[test]
fn events_look_up_like_file_keys() {
    use crossterm::event::KeyEvent;
    let keymap = builtin("default");
    let backtab = KeyChord::from_event(&KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(
        keymap.lookup(Context::Tasks, &[], backtab),
        Lookup::Action(Action::FocusPrev)
    );
    // Legacy terminals report Ctrl+] as Ctrl+5.
    let ctrl_5 = KeyChord::from_event(&KeyEvent::new(KeyCode::Char('5'), KeyModifiers::CONTROL));
    assert_eq!(
        keymap.lookup(Context::Attached, &[], ctrl_5),
        Lookup::Action(Action::AttachedDetach)
    );
    let shift_g = KeyChord::from_event(&KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
    assert_eq!(
        builtin("vim").lookup(Context::Tasks, &[], shift_g),
        Lookup::Action(Action::NavBottom)
    );
}

// ----- inheritance ----------------------------------------------------------

#[test]
fn inheritance_overrides_in_place_and_unbinds() {
    let keymap = ok(r#"
inherits = "default"

[global]
quit = { keys = "q", action = "none" }
quit_ctrl_c = { keys = "<C-c>", action = "none" }
quit_upper = { keys = "Q", action = "app.quit", desc = "Quit orch" }
help = { keys = "?", action = "app.redraw" }

[tasks]
no_skip = { keys = "s", action = "none" }
"#);
    assert_eq!(keymap.name(), "test");
    assert_eq!(press(&keymap, Context::Tasks, "q"), Lookup::NoMatch);
    assert_eq!(
        press(&keymap, Context::Tasks, "Q"),
        Lookup::Action(Action::AppQuit)
    );
    assert_eq!(
        press(&keymap, Context::Tasks, "?"),
        Lookup::Action(Action::AppRedraw)
    );
    assert_eq!(press(&keymap, Context::Tasks, "s"), Lookup::NoMatch);
    assert_eq!(
        press(&keymap, Context::Tasks, "r"),
        Lookup::Action(Action::TaskRetry)
    );
    let global: Vec<String> = keymap
        .bindings(Context::Global)
        .iter()
        .map(|b| format_keys(&b.keys))
        .collect();
    // "?" kept its place; "q" is gone; "Q" is last.
    assert_eq!(global.first().map(String::as_str), Some("?"));
    assert_eq!(global.last().map(String::as_str), Some("Q"));
    assert!(!global.contains(&"q".to_owned()));
    assert_eq!(
        keymap.keys_for(Context::Tasks, Action::AppQuit).as_deref(),
        Some("Q")
    );
}

#[test]
fn user_dir_overrides_and_extends_builtins() {
    let dir = temp_dir();
    let keymaps = dir.path().join("keymaps");
    // A user default.toml that extends the built-in default.
    write(
        &keymaps.join("default.toml"),
        "inherits = \"default\"\n[global]\nquit = { keys = \"Q\", action = \"app.quit\" }\n",
    );
    // A user keymap that inherits the user's default.
    write(
        &keymaps.join("mine.toml"),
        "inherits = \"default\"\n[tasks]\nretry = { keys = \"R\", action = \"task.retry\" }\n",
    );
    let default = match Keymap::load("default", Some(dir.path())) {
        Ok(keymap) => keymap,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(
        press(&default, Context::Tasks, "Q"),
        Lookup::Action(Action::AppQuit)
    );
    assert_eq!(
        press(&default, Context::Tasks, "q"),
        Lookup::Action(Action::AppQuit)
    );

    let mine = match Keymap::load("mine", Some(dir.path())) {
        Ok(keymap) => keymap,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(mine.name(), "mine");
    assert_eq!(
        press(&mine, Context::Tasks, "Q"),
        Lookup::Action(Action::AppQuit)
    );
    assert_eq!(
        press(&mine, Context::Tasks, "R"),
        Lookup::Action(Action::TaskRetry)
    );

    // The built-in vim still inherits the built-in default, not the user's.
    let vim = match Keymap::load("vim", Some(dir.path())) {
        Ok(keymap) => keymap,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(press(&vim, Context::Tasks, "Q"), Lookup::NoMatch);

    assert_eq!(
        Keymap::available(Some(dir.path())),
        ["default", "mine", "vim"]
    );
}

#[test]
fn unknown_names_list_what_exists() {
    let dir = temp_dir();
    write(&dir.path().join("keymaps/mine.toml"), "");
    let error = match Keymap::load("vin", Some(dir.path())) {
        Ok(_) => panic!("loaded a keymap that does not exist"),
        Err(errors) => errors.to_string(),
    };
    let place = dir.path().join("keymaps");
    assert_eq!(
        error,
        format!(
            "{}: no keymap named \"vin\" (available: default, mine, vim); did you mean \"vim\"?",
            place.display()
        )
    );
    let error = Keymap::load("../x", None).map_err(|e| e.to_string()).err();
    assert_eq!(
        error.as_deref(),
        Some("keymaps: invalid keymap name \"../x\": use only ASCII letters, digits, \"_\" and \"-\"")
    );
}

#[test]
fn inheritance_cycles_are_reported() {
    let dir = temp_dir();
    let keymaps = dir.path().join("keymaps");
    write(&keymaps.join("a.toml"), "inherits = \"b\"\n");
    write(&keymaps.join("b.toml"), "inherits = \"a\"\n");
    write(&keymaps.join("me.toml"), "inherits = \"me\"\n");
    let error = match Keymap::load("a", Some(dir.path())) {
        Ok(_) => panic!("loaded a cycle"),
        Err(errors) => errors.to_string(),
    };
    let (a, b) = (keymaps.join("a.toml"), keymaps.join("b.toml"));
    assert_eq!(
        error,
        format!(
            "{}:1:12: inherited keymap \"b\" has errors\n{}:1:12: keymap inheritance cycle: a -> b -> a",
            a.display(),
            b.display()
        )
    );
    let error = match Keymap::load("me", Some(dir.path())) {
        Ok(_) => panic!("loaded a cycle"),
        Err(errors) => errors.to_string(),
    };
    assert_eq!(
        error,
        format!(
            "{}:1:12: keymap inheritance cycle: me -> me",
            keymaps.join("me.toml").display()
        )
    );
}

#[test]
fn a_user_file_that_is_not_utf8_is_reported_at_the_byte() {
    let dir = temp_dir();
    let path = dir.path().join("keymaps").join("mine.toml");
    write(&path, "[global]\n");
    if let Err(error) = fs::write(
        &path,
        b"[global]\nquit = { keys = \"q\", desc = \"Qui\xFEt\" }\n",
    ) {
        panic!("{}: {error}", path.display());
    }
    let error = match Keymap::load("mine", Some(dir.path())) {
        Ok(_) => panic!("loaded a file that is not UTF-8"),
        Err(errors) => errors.to_string(),
    };
    assert_eq!(
        error,
        format!(
            "{}:2:33: invalid UTF-8: byte 0xFE is not valid here; save the file as UTF-8",
            path.display()
        )
    );
}

#[test]
fn errors_in_a_user_parent_are_reported_with_its_path() {
    let dir = temp_dir();
    let keymaps = dir.path().join("keymaps");
    write(
        &keymaps.join("base.toml"),
        "[global]\nquit = { keys = \"q\", action = \"app.quitt\" }\n",
    );
    write(&keymaps.join("child.toml"), "inherits = \"base\"\n");
    let error = match Keymap::load("child", Some(dir.path())) {
        Ok(_) => panic!("loaded a broken parent"),
        Err(errors) => errors.to_string(),
    };
    assert_eq!(
        error,
        format!(
            "{}:1:12: inherited keymap \"base\" has errors\n{}:2:31: unknown action \"app.quitt\" in global.quit; did you mean \"app.quit\"?",
            keymaps.join("child.toml").display(),
            keymaps.join("base.toml").display()
        )
    );
}

// ----- errors ---------------------------------------------------------------

#[test]
fn every_error_is_reported_at_once() {
    let out = err(r#"
[global]
a = { keys = "<Foo>", action = "app.quit" }
b = { keys = "q", action = "app.qiut" }
c = { keys = "x" }
"#);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.starts_with("test.toml:3:15: invalid keys for global.a: unknown key name \"Foo\""),
        "{out}"
    );
}

#[test]
fn action_suggestions() {
    assert_eq!(suggest_action("app.qiut"), "; did you mean \"app.quit\"?");
    assert_eq!(suggest_action("retry"), "; did you mean \"task.retry\"?");
    assert_eq!(
        suggest_action("tasks.retry"),
        "; did you mean \"task.retry\"?"
    );
    assert_eq!(
        suggest_action("page_up"),
        "; did you mean \"nav.page_up\" or \"output.page_up\"?"
    );
    assert_eq!(suggest_action("frobnicate"), "");
}

// ----- fixtures -------------------------------------------------------------

/// Parse a fixture as if it were `NAME.toml`, inheriting from the built-ins.
fn parse_fixture(path: &Path) -> Result<Keymap, ConfigErrors> {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    Keymap::parse(&read(path), &name, &Keymap::resolve_builtin)
}

#[test]
fn valid_fixtures_load() {
    let files = toml_files(&Path::new(FIXTURES).join("valid"));
    assert!(files.len() >= 3, "valid fixtures missing");
    for file in files {
        if let Err(errors) = parse_fixture(&file) {
            panic!("{}:\n{errors}", file.display());
        }
    }
}

#[test]
fn full_fixture() {
    let keymap = match parse_fixture(&Path::new(FIXTURES).join("valid/full.toml")) {
        Ok(keymap) => keymap,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(keymap.name(), "full");
    assert_eq!(
        press(&keymap, Context::Tasks, "<F5>"),
        Lookup::Action(Action::TaskRetry)
    );
    assert_eq!(
        press(&keymap, Context::Tasks, "<C-a> z"),
        Lookup::Action(Action::TasksToggleGrouping)
    );
    assert_eq!(
        press(&keymap, Context::Attached, "<A-d>"),
        Lookup::Action(Action::AttachedDetach)
    );
    assert_eq!(
        keymap
            .bindings(Context::Global)
            .iter()
            .map(|b| b.desc.as_str())
            .collect::<Vec<_>>(),
        ["Leave", "Show or hide help", "Next pane", "Previous pane"]
    );
}

#[test]
fn invalid_fixtures_give_the_expected_errors() {
    crate::tomldoc::fixtures::check_invalid(&Path::new(FIXTURES).join("invalid"), 6, |file| {
        parse_fixture(file).map(drop).map_err(|e| e.to_string())
    });
}
