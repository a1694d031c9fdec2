//! Colours and text attributes of the UI, by scope.
//!
//! A theme is a TOML file, `themes/NAME.toml`: a `[palette]` of named
//! colours and a `[styles]` table mapping scopes (`"task.running"`) to a
//! colour or to `{ fg, bg, modifiers }`. The built-ins (`dark`, `light`,
//! `ansi16`) are compiled in; a file of the same name in the user's directory
//! (`~/.config/orch/themes/`) replaces one and may extend it with
//! `inherits`. The format and the scopes are documented at the top of
//! `themes/dark.toml`; [`SCOPES`] lists the scopes the UI uses.
//!
//! Styles may name palette colours, and those names are looked up after
//! inheritance: a theme that inherits another and redefines a palette colour
//! recolours every inherited style using it. `light` and `ansi16` are built
//! that way on `dark`.

#[cfg(test)]
#[path = "theme/tests.rs"]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use toml::de::{DeTable, DeValue};

use crate::tomldoc::named::{self, Named, Parent};
use crate::tomldoc::{did_you_mean, entries, toml_key, type_name, ConfigErrors, Doc, Value};

pub use crate::tomldoc::named::default_user_dir;
pub use crate::tomldoc::InheritError;

/// The scopes the UI asks for. Every built-in theme defines each of them; a
/// theme file may style only these, their parents (`"task"`) and scopes
/// below them (`"task.running.selected"`).
pub const SCOPES: &[&str] = &[
    "text",
    "text.dim",
    "text.error",
    "pane.border",
    "pane.border.focused",
    "pane.title",
    "pane.title.focused",
    "status_bar",
    "status_bar.key",
    "selection",
    "task.pending",
    "task.queued",
    "task.awaiting_approval",
    "task.running",
    "task.retrying",
    "task.done",
    "task.needs_review",
    "task.blocked",
    "task.rejected",
    "task.cancelled",
    "task.activity",
    "health.ok",
    "health.warn",
    "health.critical",
    "sparkline",
    "output.badge",
    "approval.risk.low",
    "approval.risk.medium",
    "approval.risk.high",
    "approval.risk.critical",
    "dialog.border",
    "dialog.title",
    "dialog.input",
    "help.key",
    "help.desc",
    "help.section",
    "diff.file",
    "diff.hunk",
    "diff.added",
    "diff.removed",
    "diff.match",
    "diff.match.current",
    "merge.unmerged",
    "merge.awaiting_approval",
    "merge.waiting",
    "merge.merged",
    "merge.conflict",
    "merge.never",
    "attention.waiting",
    "attention.idle",
];

const BUILTINS: &[(&str, &str)] = &[
    (
        "dark",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/themes/dark.toml")),
    ),
    (
        "light",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/themes/light.toml")),
    ),
    (
        "ansi16",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/themes/ansi16.toml")),
    ),
];

/// The 16 ANSI colours (and `reset`, the terminal's own colour), as written
/// in theme files.
pub const ANSI_COLORS: &[(&str, Color)] = &[
    ("reset", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("darkgray", Color::DarkGray),
    ("lightred", Color::LightRed),
    ("lightgreen", Color::LightGreen),
    ("lightyellow", Color::LightYellow),
    ("lightblue", Color::LightBlue),
    ("lightmagenta", Color::LightMagenta),
    ("lightcyan", Color::LightCyan),
    ("white", Color::White),
];

const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
    ("crossed_out", Modifier::CROSSED_OUT),
    ("slow_blink", Modifier::SLOW_BLINK),
    ("rapid_blink", Modifier::RAPID_BLINK),
    ("hidden", Modifier::HIDDEN),
];

const STYLE_KEYS: &[&str] = &["fg", "bg", "modifiers"];

const COLOR_FORMS: &str = "an ANSI colour name, \"#rrggbb\" or 0-255";

/// A colour as written in a style: a palette name (looked up once the
/// palette is complete) or a colour.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ColorRef {
    Palette(String),
    Color(Color),
}

/// A style as written, before palette names are looked up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct RawStyle {
    fg: Option<ColorRef>,
    bg: Option<ColorRef>,
    modifiers: Modifier,
}

/// A loaded theme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    name: String,
    palette: BTreeMap<String, Color>,
    raw: HashMap<String, RawStyle>,
    /// `raw` with the palette applied.
    styles: HashMap<String, Style>,
}

impl Theme {
    /// A theme that styles nothing: every scope is `Style::default()`.
    pub fn plain() -> Theme {
        Theme {
            name: "plain".to_owned(),
            palette: BTreeMap::new(),
            raw: HashMap::new(),
            styles: HashMap::new(),
        }
    }

    /// The built-in theme `name` (`"dark"`, `"light"`, `"ansi16"`), or
    /// `None` if there is no such built-in.
    pub fn builtin(name: &str) -> Option<Result<Theme, ConfigErrors>> {
        named::builtin::<Theme>(name)
    }

    /// The names of the built-in themes.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|(name, _)| *name).collect()
    }

    /// Every theme name [`Theme::load`] can find, sorted.
    pub fn available(user_dir: Option<&Path>) -> Vec<String> {
        named::available::<Theme>(user_dir.map(|dir| dir.join(Self::DIR)).as_deref())
    }

    /// Load the theme `name`: `USER_DIR/themes/NAME.toml` if it exists, else
    /// the built-in. An unknown name gives an error listing the available
    /// ones.
    pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Theme, ConfigErrors> {
        let dir: Option<PathBuf> = user_dir.map(|dir| dir.join(Self::DIR));
        named::load::<Theme>(name, dir.as_deref())
    }

    /// Parse theme text read from `path` (its file stem is the theme's
    /// name). `resolve_parent` supplies the theme named by `inherits`;
    /// [`Theme::resolve_builtin`] knows the built-ins.
    pub fn parse(
        src: &str,
        path: &Path,
        resolve_parent: &dyn Fn(&str) -> Result<Theme, InheritError>,
    ) -> Result<Theme, ConfigErrors> {
        Parser::parse(src, path, resolve_parent)
    }

    /// A `resolve_parent` for [`Theme::parse`] that knows only the
    /// built-ins.
    pub fn resolve_builtin(name: &str) -> Result<Theme, InheritError> {
        named::resolve_builtin::<Theme>(name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The style of `scope`: its own if the theme defines it, else that of
    /// the nearest defined parent (`"task.running.selected"`, then
    /// `"task.running"`, then `"task"`), else `"text"`'s, else
    /// `Style::default()`. Allocates nothing.
    pub fn style(&self, scope: &str) -> Style {
        let mut scope = scope;
        loop {
            if let Some(style) = self.styles.get(scope) {
                return *style;
            }
            match scope.rfind('.') {
                Some(dot) => scope = &scope[..dot],
                None => break,
            }
        }
        self.styles.get("text").copied().unwrap_or_default()
    }

    /// Whether the theme itself (or one it inherits) styles `scope`, without
    /// falling back.
    pub fn defines(&self, scope: &str) -> bool {
        self.styles.contains_key(scope)
    }

    /// The palette colour `name`, for the odd widget that needs a colour
    /// rather than a style.
    pub fn color(&self, name: &str) -> Option<Color> {
        self.palette.get(name).copied()
    }

    /// This theme for `NO_COLOR`: the same modifiers with no colours. A style
    /// that stood out by its background (one differing from `"text"`'s, such
    /// as the selected row or the status bar) is `reversed` instead, so it
    /// still stands out. The palette is emptied.
    pub fn without_colors(&self) -> Theme {
        let text_bg = self.styles.get("text").and_then(|style| style.bg);
        let styles = self
            .styles
            .iter()
            .map(|(scope, style)| {
                let mut plain = Style::new();
                plain.add_modifier = style.add_modifier;
                plain.sub_modifier = style.sub_modifier;
                if style.bg.is_some() && style.bg != text_bg {
                    plain = plain.add_modifier(Modifier::REVERSED);
                }
                (scope.clone(), plain)
            })
            .collect();
        Theme {
            name: self.name.clone(),
            palette: BTreeMap::new(),
            raw: self.raw.clone(),
            styles,
        }
    }
}

impl Named for Theme {
    const KIND: &'static str = "theme";
    const DIR: &'static str = "themes";
    const BUILTINS: &'static [(&'static str, &'static str)] = BUILTINS;

    fn parse_file(
        src: &str,
        path: &Path,
        resolve: &dyn Fn(&str) -> Result<Self, InheritError>,
    ) -> Result<Self, ConfigErrors> {
        Parser::parse(src, path, resolve)
    }
}

/// Why a colour could not be read.
enum ColorProblem {
    Unknown,
    BadHex,
}

/// A colour written as text: an ANSI name (case, `_`, `-` and spaces are
/// ignored, `grey` is `gray`) or `#rrggbb`.
fn parse_color(text: &str) -> Result<Color, ColorProblem> {
    if let Some(hex) = text.strip_prefix('#') {
        let bytes = hex.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_hexdigit) {
            return Err(ColorProblem::BadHex);
        }
        let channel = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16);
        return match (channel(0), channel(2), channel(4)) {
            (Ok(r), Ok(g), Ok(b)) => Ok(Color::Rgb(r, g, b)),
            _ => Err(ColorProblem::BadHex),
        };
    }
    let normal: String = text
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_lowercase()
        .replace("grey", "gray");
    ANSI_COLORS
        .iter()
        .find(|(name, _)| *name == normal)
        .map(|(_, color)| *color)
        .ok_or(ColorProblem::Unknown)
}

/// What is wrong with a scope's spelling, if anything.
fn scope_syntax_ok(scope: &str) -> bool {
    scope.split('.').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Whether `scope` is one of [`SCOPES`], a parent of one, or below one.
fn scope_known(scope: &str) -> bool {
    SCOPES.iter().any(|known| {
        *known == scope
            || known
                .strip_prefix(scope)
                .is_some_and(|rest| rest.starts_with('.'))
            || scope
                .strip_prefix(known)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

struct Parser<'s> {
    doc: Doc<'s>,
    palette: BTreeMap<String, Color>,
    /// Palette names of this file whose colour is wrong (already reported).
    broken: HashSet<String>,
}

impl<'s> Parser<'s> {
    fn parse(
        src: &'s str,
        path: &'s Path,
        resolve: &dyn Fn(&str) -> Result<Theme, InheritError>,
    ) -> Result<Theme, ConfigErrors> {
        let mut parser = Parser {
            doc: Doc::new(src, path),
            palette: BTreeMap::new(),
            broken: HashSet::new(),
        };
        let name = parser.doc.name();
        let empty = |name: String| Theme {
            name,
            ..Theme::plain()
        };
        let Some(document) = parser.doc.parse() else {
            return parser.doc.finish(empty(name));
        };
        let top = document.get_ref();
        parser.doc.unknown_top_level(top, &["palette", "styles"]);

        let mut raw = HashMap::new();
        // When the parent is missing or broken, palette names it would have
        // defined cannot be checked.
        let mut palette_known = true;
        match parser.doc.inherits::<Theme>(top, resolve) {
            Parent::None => {}
            Parent::Loaded(parent) => {
                parser.palette = parent.palette;
                raw = parent.raw;
            }
            Parent::Failed => palette_known = false,
        }

        if let Some(table) = top
            .get("palette")
            .and_then(|value| parser.doc.table("[palette]", value))
        {
            parser.palette_table(table);
        }
        if let Some(table) = top
            .get("styles")
            .and_then(|value| parser.doc.table("[styles]", value))
        {
            parser.styles_table(table, &mut raw, palette_known);
        }

        let styles = raw
            .iter()
            .map(|(scope, style)| (scope.clone(), resolve_style(style, &parser.palette)))
            .collect();
        let theme = Theme {
            name,
            palette: parser.palette,
            raw,
            styles,
        };
        parser.doc.finish(theme)
    }

    fn palette_table(&mut self, table: &DeTable<'_>) {
        for (key, value) in entries(table) {
            let name = key.get_ref();
            let field = format!("palette.{}", toml_key(name));
            let name_ok = name.chars().next().is_some_and(|c| c.is_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
            if !name_ok {
                self.doc.error(
                    key.span(),
                    format!(
                        "invalid palette name {name:?}: start with a letter and use only letters, digits, \"_\" and \"-\""
                    ),
                );
                continue;
            }
            if let DeValue::String(text) = value.get_ref() {
                let own = table.contains_key(text.as_ref()) && text.as_ref() != name.as_ref();
                if own || self.palette.contains_key(text.as_ref()) {
                    self.doc.error(
                        value.span(),
                        format!(
                            "{field} names the palette colour {text:?}; palette colours must be written out ({COLOR_FORMS})"
                        ),
                    );
                    self.broken.insert(name.to_string());
                    continue;
                }
            }
            match self.color_literal(&field, value, &[]) {
                Some(color) => {
                    self.palette.insert(name.to_string(), color);
                }
                None => {
                    self.broken.insert(name.to_string());
                }
            }
        }
    }

    fn styles_table(
        &mut self,
        table: &DeTable<'_>,
        raw: &mut HashMap<String, RawStyle>,
        palette_known: bool,
    ) {
        for (key, value) in entries(table) {
            let scope = key.get_ref();
            if !scope_syntax_ok(scope) {
                self.doc.error(
                    key.span(),
                    format!(
                        "invalid style scope {scope:?}: use lowercase words separated by dots, such as \"task.running\""
                    ),
                );
                continue;
            }
            if !scope_known(scope) {
                let mut message = format!("unknown style scope {scope:?}");
                let suggestion = did_you_mean(scope, SCOPES.iter().copied());
                if suggestion.is_empty() {
                    message.push_str(" (the scopes are listed at the top of themes/dark.toml)");
                } else {
                    message.push_str(&suggestion);
                }
                self.doc.error(key.span(), message);
                continue;
            }
            let field = format!("styles.{}", toml_key(scope));
            if let Some(style) = self.style(&field, value, palette_known) {
                raw.insert(scope.to_string(), style);
            }
        }
    }

    /// A style: a colour (the foreground) or `{ fg, bg, modifiers }`.
    fn style(&mut self, field: &str, value: &Value<'_>, palette_known: bool) -> Option<RawStyle> {
        let DeValue::Table(table) = value.get_ref() else {
            return match value.get_ref() {
                DeValue::String(_) | DeValue::Integer(_) => {
                    let fg = self.color_ref(field, value, palette_known)?;
                    Some(RawStyle {
                        fg: Some(fg),
                        ..RawStyle::default()
                    })
                }
                _ => {
                    self.doc.expected(
                        "a colour or a table like { fg = \"blue\", modifiers = [\"bold\"] }",
                        field,
                        value,
                    );
                    None
                }
            };
        };
        self.doc
            .unknown_keys(table, STYLE_KEYS, &format!("in {field}"));
        let mut ok = true;
        let mut color = |this: &mut Self, key: &str| -> Option<ColorRef> {
            let value = table.get(key)?;
            let color = this.color_ref(&format!("{field}.{key}"), value, palette_known);
            ok &= color.is_some();
            color
        };
        let fg = color(self, "fg");
        let bg = color(self, "bg");
        let modifiers = match table.get("modifiers") {
            Some(value) => self.modifiers(&format!("{field}.modifiers"), value),
            None => Some(Modifier::empty()),
        };
        let modifiers = modifiers?;
        ok.then_some(RawStyle { fg, bg, modifiers })
    }

    fn modifiers(&mut self, field: &str, value: &Value<'_>) -> Option<Modifier> {
        let DeValue::Array(items) = value.get_ref() else {
            self.doc
                .expected("an array of modifier names", field, value);
            return None;
        };
        let mut modifiers = Modifier::empty();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let Some(name) = self.doc.string(&format!("{field}[{i}]"), item) else {
                ok = false;
                continue;
            };
            match MODIFIERS.iter().find(|(known, _)| *known == name) {
                Some((_, modifier)) => modifiers |= *modifier,
                None => {
                    let names: Vec<&str> = MODIFIERS.iter().map(|(name, _)| *name).collect();
                    self.doc.error(
                        item.span(),
                        format!(
                            "unknown modifier {name:?} in {field} (expected one of: {}){}",
                            names.join(", "),
                            did_you_mean(name, names.iter().copied()),
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(modifiers)
    }

    /// A colour in a style: a palette name or a colour.
    fn color_ref(
        &mut self,
        field: &str,
        value: &Value<'_>,
        palette_known: bool,
    ) -> Option<ColorRef> {
        if let DeValue::String(text) = value.get_ref() {
            if self.palette.contains_key(text.as_ref()) {
                return Some(ColorRef::Palette(text.to_string()));
            }
            if self.broken.contains(text.as_ref()) {
                return None;
            }
            if !palette_known && !text.starts_with('#') && parse_color(text).is_err() {
                // Perhaps a colour of the palette we could not load.
                return None;
            }
        }
        let palette: Vec<String> = self.palette.keys().cloned().collect();
        self.color_literal(field, value, &palette)
            .map(ColorRef::Color)
    }

    /// A colour written out: an ANSI name, `#rrggbb` or an index. `palette`
    /// lists the palette names, for suggestions.
    fn color_literal(
        &mut self,
        field: &str,
        value: &Value<'_>,
        palette: &[String],
    ) -> Option<Color> {
        let message = match value.get_ref() {
            DeValue::String(text) => match parse_color(text) {
                Ok(color) => return Some(color),
                Err(ColorProblem::BadHex) => format!(
                    "invalid colour {text:?} for {field}: expected \"#\" and six hex digits (\"#rrggbb\")"
                ),
                Err(ColorProblem::Unknown) => {
                    let forms = if palette.is_empty() {
                        COLOR_FORMS.to_owned()
                    } else {
                        format!("a palette colour, {COLOR_FORMS}")
                    };
                    let candidates = palette
                        .iter()
                        .map(String::as_str)
                        .chain(ANSI_COLORS.iter().map(|(name, _)| *name));
                    let mut message = format!(
                        "unknown colour {text:?} for {field} (expected {forms})"
                    );
                    if text.parse::<u8>().is_ok() {
                        message.push_str(&format!("; write colour numbers without quotes: {text}"));
                    } else {
                        message.push_str(&did_you_mean(text, candidates));
                    }
                    message
                }
            },
            DeValue::Integer(integer) => {
                match i64::from_str_radix(integer.as_str(), integer.radix()) {
                    Ok(index) => match u8::try_from(index) {
                        Ok(index) => return Some(Color::Indexed(index)),
                        Err(_) => format!(
                            "colour index {index} for {field} is out of range (expected 0-255)"
                        ),
                    },
                    Err(_) => format!(
                        "colour index {integer} for {field} is out of range (expected 0-255)"
                    ),
                }
            }
            other => format!(
                "expected a colour ({COLOR_FORMS}) for {field}, found {}",
                type_name(other)
            ),
        };
        self.doc.error(value.span(), message);
        None
    }
}

fn resolve_style(raw: &RawStyle, palette: &BTreeMap<String, Color>) -> Style {
    let color = |color: &Option<ColorRef>| match color {
        Some(ColorRef::Color(color)) => Some(*color),
        Some(ColorRef::Palette(name)) => palette.get(name).copied(),
        None => None,
    };
    let mut style = Style::new().add_modifier(raw.modifiers);
    style.fg = color(&raw.fg);
    style.bg = color(&raw.bg);
    style
}
