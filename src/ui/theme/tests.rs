//! Tests of theme files, including the fixtures under
//! `tests/fixtures/theme`.
//!
//! Set `ORCH_BLESS_FIXTURES=1` to rewrite the `.expected` files from the
//! current output (then review the diff).

use crate::tomldoc::fixtures::{read, toml_files};
use std::fs;
use std::path::{Path, PathBuf};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/theme");

fn builtin(name: &str) -> Theme {
    match Theme::builtin(name) {
        Some(Ok(theme)) => theme,
        Some(Err(errors)) => panic!("built-in theme {name}:\n{errors}"),
        None => panic!("no built-in theme {name}"),
    }
}

fn parse(src: &str) -> Result<Theme, String> {
    Theme::parse(src, Path::new("test.toml"), &Theme::resolve_builtin).map_err(|e| e.to_string())
}

fn ok(src: &str) -> Theme {
    match parse(src) {
        Ok(theme) => theme,
        Err(errors) => panic!("expected a valid theme, got:\n{errors}"),
    }
}

fn err(src: &str) -> String {
    match parse(src) {
        Ok(theme) => panic!("expected errors, got {theme:#?}"),
        Err(errors) => errors,
    }
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

fn is_ansi(color: Color) -> bool {
    ANSI_COLORS.iter().any(|(_, ansi)| *ansi == color)
}

// ----- built-ins ------------------------------------------------------------

#[test]
fn every_builtin_loads_and_defines_every_scope() {
    assert_eq!(Theme::builtin_names(), ["dark", "light", "ansi16"]);
    for name in Theme::builtin_names() {
        let theme = builtin(name);
        assert_eq!(theme.name(), name);
        for scope in SCOPES {
            assert!(theme.defines(scope), "theme {name} does not define {scope}");
        }
        match Theme::load(name, None) {
            Ok(loaded) => assert_eq!(loaded, theme),
            Err(errors) => panic!("{errors}"),
        }
    }
    assert!(Theme::builtin("solarized").is_none());
}

#[test]
fn ansi16_uses_only_ansi_colours() {
    let theme = builtin("ansi16");
    for (scope, style) in &theme.styles {
        for color in [style.fg, style.bg, style.underline_color]
            .into_iter()
            .flatten()
        {
            assert!(is_ansi(color), "ansi16 {scope}: {color:?}");
        }
    }
    for (name, color) in &theme.palette {
        assert!(is_ansi(*color), "ansi16 palette {name}: {color:?}");
    }
}

/// `light` and `ansi16` are `dark` with another palette: each must replace
/// every colour of dark's palette, or dark's colours would leak into them.
#[test]
fn palette_swaps_replace_every_colour() {
    let dark = builtin("dark");
    for name in ["light", "ansi16"] {
        let src = BUILTINS
            .iter()
            .find(|(builtin, _)| *builtin == name)
            .map(|(_, src)| *src)
            .unwrap_or_default();
        let table: toml::Table = match toml::from_str(src) {
            Ok(table) => table,
            Err(error) => panic!("{name}: {error}"),
        };
        let own = table.get("palette").and_then(toml::Value::as_table);
        for colour in dark.palette.keys() {
            assert!(
                own.is_some_and(|own| own.contains_key(colour)),
                "{name} does not redefine dark's palette colour {colour}"
            );
        }
    }
    let light = builtin("light");
    assert_eq!(light.style("text").bg, Some(Color::Rgb(0xef, 0xf1, 0xf5)));
    assert_eq!(
        light.style("task.running"),
        Style::new().fg(Color::Rgb(0x20, 0x9f, 0xb5))
    );
}

#[test]
fn dark_styles() {
    let dark = builtin("dark");
    assert_eq!(
        dark.style("pane.border.focused"),
        Style::new()
            .fg(Color::Rgb(0x89, 0xb4, 0xfa))
            .add_modifier(Modifier::BOLD)
    );
    assert_eq!(dark.color("accent"), Some(Color::Rgb(0x89, 0xb4, 0xfa)));
    assert_eq!(dark.color("nope"), None);
}

// ----- lookup ---------------------------------------------------------------

#[test]
fn style_falls_back_along_the_dots() {
    let theme = ok(r#"
[styles]
"text" = "white"
"task" = { fg = "gray", modifiers = ["dim"] }
"task.running" = "blue"
"approval.risk" = "red"
"#);
    let blue = Style::new().fg(Color::Blue);
    assert_eq!(theme.style("task.running"), blue);
    assert_eq!(theme.style("task.running.selected"), blue);
    assert_eq!(theme.style("task.running.selected.deep"), blue);
    let task = Style::new().fg(Color::Gray).add_modifier(Modifier::DIM);
    assert_eq!(theme.style("task.done"), task);
    assert_eq!(theme.style("task"), task);
    assert_eq!(
        theme.style("approval.risk.high"),
        Style::new().fg(Color::Red)
    );
    let text = Style::new().fg(Color::White);
    assert_eq!(theme.style("health.ok"), text);
    assert_eq!(theme.style("sparkline"), text);
    assert_eq!(theme.style(""), text);
    assert!(theme.defines("task"));
    assert!(!theme.defines("task.done"));

    assert_eq!(ok("").style("task.running"), Style::default());
    assert_eq!(Theme::plain().style("text"), Style::default());
}

#[test]
fn without_colors_keeps_modifiers_only() {
    let theme = ok(r##"
[palette]
bg = "#101010"
[styles]
"text" = { fg = "white", bg = "bg" }
"selection" = { bg = "#303030" }
"status_bar" = { fg = "black", bg = "white", modifiers = ["bold"] }
"task.running" = { fg = "blue", modifiers = ["bold", "italic"] }
"task.done" = { fg = "green", bg = "bg" }
"##);
    let plain = theme.without_colors();
    assert_eq!(plain.name(), "test");
    assert_eq!(plain.style("text"), Style::new());
    assert_eq!(
        plain.style("task.running"),
        Style::new().add_modifier(Modifier::BOLD | Modifier::ITALIC)
    );
    // Styles that stood out by their background are reversed instead...
    assert_eq!(
        plain.style("selection"),
        Style::new().add_modifier(Modifier::REVERSED)
    );
    assert_eq!(
        plain.style("status_bar"),
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    );
    // ...but not those whose background is just the usual one.
    assert_eq!(plain.style("task.done"), Style::new());
    assert_eq!(plain.color("bg"), None);

    for name in Theme::builtin_names() {
        let plain = builtin(name).without_colors();
        for (scope, style) in &plain.styles {
            assert_eq!((style.fg, style.bg), (None, None), "{name} {scope}");
        }
        // The selected row and the status bar stay visible.
        for scope in ["selection", "status_bar"] {
            assert!(
                plain.style(scope).add_modifier.contains(Modifier::REVERSED),
                "{name} {scope}"
            );
        }
    }
}

// ----- colours --------------------------------------------------------------

#[test]
fn colours() {
    let theme = ok(r##"
[palette]
accent = "#A0b1C2"
red = "#ff0000"
[styles]
"text" = "reset"
"text.dim" = "dark_gray"
"text.error" = "Light-Red"
"pane.border" = 240
"pane.title" = "grey"
"pane.border.focused" = "accent"
"help.key" = { fg = "red", bg = 0 }
"help.desc" = "#000000"
"##);
    assert_eq!(theme.style("text").fg, Some(Color::Reset));
    assert_eq!(theme.style("text.dim").fg, Some(Color::DarkGray));
    assert_eq!(theme.style("text.error").fg, Some(Color::LightRed));
    assert_eq!(theme.style("pane.border").fg, Some(Color::Indexed(240)));
    assert_eq!(theme.style("pane.title").fg, Some(Color::Gray));
    assert_eq!(
        theme.style("pane.border.focused").fg,
        Some(Color::Rgb(0xa0, 0xb1, 0xc2))
    );
    // A palette colour may take an ANSI name; the palette wins.
    assert_eq!(
        theme.style("help.key"),
        Style::new().fg(Color::Rgb(255, 0, 0)).bg(Color::Indexed(0))
    );
    assert_eq!(theme.style("help.desc").fg, Some(Color::Rgb(0, 0, 0)));
}

#[test]
fn child_palette_recolours_inherited_styles() {
    let theme = ok(r##"
inherits = "dark"
[palette]
accent = "magenta"
[styles]
"task.running" = { fg = "accent", modifiers = ["underlined"] }
"##);
    assert_eq!(theme.style("dialog.border").fg, Some(Color::Magenta));
    assert_eq!(
        theme.style("task.running"),
        Style::new()
            .fg(Color::Magenta)
            .add_modifier(Modifier::UNDERLINED)
    );
    // The rest is dark's.
    assert_eq!(theme.style("task.done"), builtin("dark").style("task.done"));
}

#[test]
fn scopes_may_be_parents_or_children_of_known_ones() {
    ok(r#"
[styles]
"task" = "blue"
"approval" = "red"
"approval.risk" = "red"
"task.running.selected" = "green"
"help.key.pressed_2" = "green"
"#);
    assert_eq!(
        err("[styles]\n\"task.runing\" = \"blue\"\n"),
        "test.toml:2:1: unknown style scope \"task.runing\"; did you mean \"task.running\"?"
    );
}

// ----- user files -----------------------------------------------------------

#[test]
fn user_themes_override_extend_and_cycle() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("tempdir: {error}"),
    };
    let themes = dir.path().join("themes");
    write(
        &themes.join("dark.toml"),
        "inherits = \"dark\"\n[palette]\naccent = \"#ff00ff\"\n",
    );
    write(
        &themes.join("mine.toml"),
        "inherits = \"dark\"\n[styles]\n\"text\" = \"green\"\n",
    );
    write(&themes.join("x.toml"), "inherits = \"y\"\n");
    write(&themes.join("y.toml"), "inherits = \"x\"\n");

    let load = |name: &str| Theme::load(name, Some(dir.path())).map_err(|e| e.to_string());
    let dark = load("dark").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dark.color("accent"), Some(Color::Rgb(255, 0, 255)));
    // mine inherits the user's dark, which inherits the built-in one.
    let mine = load("mine").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mine.style("text"), Style::new().fg(Color::Green));
    assert_eq!(
        mine.style("dialog.border").fg,
        Some(Color::Rgb(255, 0, 255))
    );
    // Built-ins only inherit built-ins.
    let light = load("light").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(light, builtin("light"));

    let cycle = load("x").err().unwrap_or_default();
    assert_eq!(
        cycle,
        format!(
            "{}:1:12: inherited theme \"y\" has errors\n{}:1:12: theme inheritance cycle: x -> y -> x",
            themes.join("x.toml").display(),
            themes.join("y.toml").display()
        )
    );
    let unknown = load("drak").err().unwrap_or_default();
    assert_eq!(
        unknown,
        format!(
            "{}: no theme named \"drak\" (available: ansi16, dark, light, mine, x, y); did you mean \"dark\"?",
            themes.display()
        )
    );
    assert_eq!(
        Theme::available(Some(dir.path())),
        ["ansi16", "dark", "light", "mine", "x", "y"]
    );
}

// ----- fixtures -------------------------------------------------------------

/// Parse a fixture as if it were `NAME.toml`, inheriting from the built-ins.
fn parse_fixture(path: &Path) -> Result<Theme, ConfigErrors> {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    Theme::parse(&read(path), &name, &Theme::resolve_builtin)
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
    let theme = match parse_fixture(&Path::new(FIXTURES).join("valid/full.toml")) {
        Ok(theme) => theme,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(theme.name(), "full");
    for scope in SCOPES {
        assert!(theme.defines(scope), "{scope}");
    }
    assert_eq!(
        theme.style("task.awaiting_approval"),
        Style::new()
            .fg(Color::Indexed(214))
            .add_modifier(Modifier::BOLD | Modifier::SLOW_BLINK)
    );
}

#[test]
fn invalid_fixtures_give_the_expected_errors() {
    crate::tomldoc::fixtures::check_invalid(&Path::new(FIXTURES).join("invalid"), 5, |file| {
        parse_fixture(file).map(drop).map_err(|e| e.to_string())
    });
}
