//! Keys as written in keymap files (`q`, `<C-a>`, `<S-Tab>`, `g g`) and as
//! read from the terminal.

use std::fmt;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tomldoc::closest;

/// One key press: a key and the modifiers held with it.
///
/// Chords are kept in a normal form so that what a file says and what the
/// terminal reports compare equal:
///
/// * a character never carries SHIFT: Shift+a is `Char('A')`, Shift+1 is
///   whatever character the terminal sends (`'!'`);
/// * Shift+Tab is `Tab` with SHIFT (crossterm's `BackTab`);
/// * META counts as ALT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

/// Named keys: the canonical name (used for display) first, then aliases.
/// Matching is case-insensitive.
const NAMED_KEYS: &[(&str, &[&str], KeyCode)] = &[
    ("Enter", &["cr", "return"], KeyCode::Enter),
    ("Esc", &["escape"], KeyCode::Esc),
    ("Tab", &[], KeyCode::Tab),
    ("BS", &["backspace"], KeyCode::Backspace),
    ("Space", &[], KeyCode::Char(' ')),
    ("Del", &["delete"], KeyCode::Delete),
    ("Ins", &["insert"], KeyCode::Insert),
    ("Up", &[], KeyCode::Up),
    ("Down", &[], KeyCode::Down),
    ("Left", &[], KeyCode::Left),
    ("Right", &[], KeyCode::Right),
    ("Home", &[], KeyCode::Home),
    ("End", &[], KeyCode::End),
    ("PageUp", &["pgup"], KeyCode::PageUp),
    ("PageDown", &["pgdn", "pgdown"], KeyCode::PageDown),
];

/// Modifier prefixes inside `<...>`, in display order. `M-` (meta) is read as
/// `A-`.
const MODIFIERS: &[(char, KeyModifiers)] = &[
    ('C', KeyModifiers::CONTROL),
    ('A', KeyModifiers::ALT),
    ('S', KeyModifiers::SHIFT),
    ('D', KeyModifiers::SUPER),
    ('H', KeyModifiers::HYPER),
];

const EXPECTED_NAMES: &str =
    "a single character, Enter, Esc, Tab, BS, Space, Del, Ins, Up, Down, Left, Right, Home, End, PageUp, PageDown or F1-F12";

impl KeyChord {
    pub const fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        Self { code, mods }
    }

    /// A key with no modifiers.
    pub const fn plain(code: KeyCode) -> Self {
        Self::new(code, KeyModifiers::NONE)
    }

    /// The chord for a key event from the terminal, in normal form (see
    /// [`KeyChord`]). The event's kind (press, repeat, release) is ignored.
    pub fn from_event(ev: &KeyEvent) -> KeyChord {
        let mut mods = ev.modifiers;
        if mods.contains(KeyModifiers::META) {
            mods.remove(KeyModifiers::META);
            mods.insert(KeyModifiers::ALT);
        }
        let code = match ev.code {
            KeyCode::BackTab => {
                mods.insert(KeyModifiers::SHIFT);
                KeyCode::Tab
            }
            // Legacy terminals send Ctrl+\ ] ^ _ as the bytes 0x1C-0x1F,
            // which crossterm reports as Ctrl+4 to Ctrl+7.
            KeyCode::Char(c @ '4'..='7') if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(match c {
                    '4' => '\\',
                    '5' => ']',
                    '6' => '^',
                    _ => '_',
                })
            }
            code => code,
        };
        Self::normalised(code, mods)
    }

    /// Apply the normal form: characters never carry SHIFT.
    fn normalised(code: KeyCode, mut mods: KeyModifiers) -> KeyChord {
        let code = match code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(uppercase(c).unwrap_or(c))
            }
            code => code,
        };
        KeyChord { code, mods }
    }
}

/// The single-character uppercase form of `c`, if it has one that differs.
fn uppercase(c: char) -> Option<char> {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if u != c => Some(u),
        _ => None,
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name: String = match self.code {
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) if self.mods.is_empty() => return write!(f, "{c}"),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::BackTab => "S-Tab".to_owned(),
            code => match NAMED_KEYS.iter().find(|(_, _, named)| *named == code) {
                Some((name, _, _)) => (*name).to_owned(),
                None => format!("{code:?}"),
            },
        };
        f.write_str("<")?;
        for (letter, modifier) in MODIFIERS {
            if self.mods.contains(*modifier) {
                write!(f, "{letter}-")?;
            }
        }
        write!(f, "{name}>")
    }
}

/// Write a key sequence as in a keymap file: chords separated by spaces.
pub fn format_keys(keys: &[KeyChord]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a `keys` string could not be read. `offset` is the byte offset of the
/// offending key in the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParseError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for KeyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KeyParseError {}

impl FromStr for KeyChord {
    type Err = KeyParseError;

    /// One chord: `q`, `?`, `<C-a>`, `<S-Tab>`, `<F5>`...
    fn from_str(token: &str) -> Result<Self, Self::Err> {
        parse_chord(token).map_err(|message| KeyParseError { offset: 0, message })
    }
}

/// A `keys` string: one or more chords separated by whitespace.
pub fn parse_keys(text: &str) -> Result<Vec<KeyChord>, KeyParseError> {
    let mut keys = Vec::new();
    for (offset, token) in tokens(text) {
        let chord = parse_chord(token).map_err(|message| KeyParseError { offset, message })?;
        keys.push(chord);
    }
    if keys.is_empty() {
        return Err(KeyParseError {
            offset: 0,
            message: "no keys given".to_owned(),
        });
    }
    Ok(keys)
}

/// The whitespace-separated tokens of `text`, with their byte offsets.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(char::is_whitespace)
        .filter(|token| !token.is_empty())
        .map(move |token| (token.as_ptr() as usize - text.as_ptr() as usize, token))
}

fn parse_chord(token: &str) -> Result<KeyChord, String> {
    let mut chars = token.chars();
    let (Some(first), rest) = (chars.next(), chars.as_str()) else {
        return Err("no keys given".to_owned());
    };
    if rest.is_empty() {
        return Ok(KeyChord::plain(KeyCode::Char(first)));
    }
    if first != '<' {
        let mut message = format!(
            "{token:?} is not one key: a key is a single character or a name in angle brackets such as <Enter>"
        );
        if !token.contains(['<', '>']) {
            let spaced: Vec<String> = token.chars().map(String::from).collect();
            message.push_str(&format!(
                "; to press keys one after another, separate them with spaces ({:?})",
                spaced.join(" ")
            ));
        }
        return Err(message);
    }
    let Some(inner) = rest.strip_suffix('>') else {
        return Err(format!("unterminated key {token:?}: missing \">\""));
    };
    if inner.is_empty() {
        return Err(format!("empty key name {token:?}"));
    }

    // Modifiers: one letter and a dash each, as long as something follows.
    let mut mods = KeyModifiers::NONE;
    let mut name = inner;
    loop {
        let mut chars = name.chars();
        let (Some(letter), Some('-')) = (chars.next(), chars.next()) else {
            break;
        };
        let after = chars.as_str();
        if after.is_empty() {
            break;
        }
        let modifier = match letter.to_ascii_uppercase() {
            'M' => Some(KeyModifiers::ALT),
            upper => MODIFIERS
                .iter()
                .find(|(m, _)| *m == upper)
                .map(|(_, modifier)| *modifier),
        };
        match modifier {
            Some(modifier) => mods.insert(modifier),
            None => {
                return Err(format!(
                    "unknown modifier \"{letter}-\" in {token:?} (expected C- for Ctrl, A- or M- for Alt, S- for Shift, D- for Super or H- for Hyper)"
                ))
            }
        }
        name = after;
    }

    let code = key_code(name).ok_or_else(|| {
        let candidates = NAMED_KEYS
            .iter()
            .map(|(name, _, _)| *name)
            .chain(["BackTab", "F1", "F12"]);
        let suggestion = closest(name, candidates)
            .map(|candidate| format!("; did you mean <{candidate}>?"))
            .unwrap_or_default();
        format!("unknown key name {name:?} in {token:?} (expected {EXPECTED_NAMES}){suggestion}")
    })?;
    if code == KeyCode::BackTab {
        mods.insert(KeyModifiers::SHIFT);
        return Ok(KeyChord::new(KeyCode::Tab, mods));
    }
    if let KeyCode::Char(c) = code {
        if mods.contains(KeyModifiers::SHIFT) && uppercase(c).is_none() {
            return Err(format!(
                "Shift with a character key is written as the character it types (\"A\", \"!\", \"?\"), not {token:?}"
            ));
        }
    }
    Ok(KeyChord::normalised(code, mods))
}

/// The key a name inside `<...>` stands for.
fn key_code(name: &str) -> Option<KeyCode> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(KeyCode::Char(c));
    }
    let lower = name.to_ascii_lowercase();
    if lower == "backtab" {
        return Some(KeyCode::BackTab);
    }
    if let Some(n) = lower.strip_prefix('f') {
        if !n.starts_with('0') {
            if let Ok(n @ 1..=12) = n.parse::<u8>() {
                return Some(KeyCode::F(n));
            }
        }
    }
    NAMED_KEYS
        .iter()
        .find(|(canonical, aliases, _)| {
            canonical.eq_ignore_ascii_case(&lower) || aliases.contains(&lower.as_str())
        })
        .map(|(_, _, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEventKind, KeyEventState};

    fn chord(text: &str) -> KeyChord {
        match text.parse() {
            Ok(chord) => chord,
            Err(error) => panic!("{text:?}: {error}"),
        }
    }

    fn error(text: &str) -> String {
        match parse_keys(text) {
            Ok(keys) => panic!("{text:?} parsed as {keys:?}"),
            Err(error) => error.message,
        }
    }

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyChord {
        KeyChord::from_event(&KeyEvent {
            code,
            modifiers: mods,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        })
    }

    const C: KeyModifiers = KeyModifiers::CONTROL;
    const A: KeyModifiers = KeyModifiers::ALT;
    const S: KeyModifiers = KeyModifiers::SHIFT;
    const NONE: KeyModifiers = KeyModifiers::NONE;

    #[test]
    fn parses_chords() {
        let cases = [
            ("q", KeyChord::new(KeyCode::Char('q'), NONE)),
            ("?", KeyChord::new(KeyCode::Char('?'), NONE)),
            ("G", KeyChord::new(KeyCode::Char('G'), NONE)),
            ("<", KeyChord::new(KeyCode::Char('<'), NONE)),
            ("ä", KeyChord::new(KeyCode::Char('ä'), NONE)),
            ("<C-a>", KeyChord::new(KeyCode::Char('a'), C)),
            ("<c-a>", KeyChord::new(KeyCode::Char('a'), C)),
            ("<A-x>", KeyChord::new(KeyCode::Char('x'), A)),
            ("<M-x>", KeyChord::new(KeyCode::Char('x'), A)),
            ("<C-]>", KeyChord::new(KeyCode::Char(']'), C)),
            ("<C-->", KeyChord::new(KeyCode::Char('-'), C)),
            ("<C->>", KeyChord::new(KeyCode::Char('>'), C)),
            ("<S-a>", KeyChord::new(KeyCode::Char('A'), NONE)),
            ("<C-S-a>", KeyChord::new(KeyCode::Char('A'), C)),
            ("<S-Tab>", KeyChord::new(KeyCode::Tab, S)),
            ("<BackTab>", KeyChord::new(KeyCode::Tab, S)),
            ("<Enter>", KeyChord::new(KeyCode::Enter, NONE)),
            ("<cr>", KeyChord::new(KeyCode::Enter, NONE)),
            ("<ESC>", KeyChord::new(KeyCode::Esc, NONE)),
            ("<BS>", KeyChord::new(KeyCode::Backspace, NONE)),
            ("<Space>", KeyChord::new(KeyCode::Char(' '), NONE)),
            ("<C-Space>", KeyChord::new(KeyCode::Char(' '), C)),
            ("<PgDn>", KeyChord::new(KeyCode::PageDown, NONE)),
            ("<Del>", KeyChord::new(KeyCode::Delete, NONE)),
            ("<F1>", KeyChord::new(KeyCode::F(1), NONE)),
            ("<F12>", KeyChord::new(KeyCode::F(12), NONE)),
            ("<C-A-Up>", KeyChord::new(KeyCode::Up, C | A)),
            ("<S-Home>", KeyChord::new(KeyCode::Home, S)),
        ];
        for (text, expected) in cases {
            assert_eq!(chord(text), expected, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        let canonical = [
            "q",
            "?",
            "G",
            "<",
            ">",
            "-",
            "ä",
            "<C-a>",
            "<A-x>",
            "<C-A>",
            "<C-]>",
            "<C-->",
            "<C-A-Up>",
            "<S-Tab>",
            "<Enter>",
            "<Esc>",
            "<Tab>",
            "<BS>",
            "<Space>",
            "<C-Space>",
            "<Up>",
            "<Down>",
            "<Left>",
            "<Right>",
            "<Home>",
            "<End>",
            "<PageUp>",
            "<PageDown>",
            "<Del>",
            "<Ins>",
            "<F1>",
            "<F12>",
            "<S-F5>",
            "<D-s>",
            "<H-x>",
        ];
        for text in canonical {
            let parsed = chord(text);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(chord(&parsed.to_string()), parsed);
        }
        // Aliases and other spellings display canonically.
        for (text, shown) in [
            ("<c-a>", "<C-a>"),
            ("<M-x>", "<A-x>"),
            ("<S-a>", "A"),
            ("<return>", "<Enter>"),
            ("<backtab>", "<S-Tab>"),
            ("<pgup>", "<PageUp>"),
            ("<a>", "a"),
            ("<S-C-a>", "<C-A>"),
        ] {
            assert_eq!(chord(text).to_string(), shown, "{text}");
        }
    }

    #[test]
    fn sequences() {
        let keys = parse_keys("g g").unwrap_or_default();
        assert_eq!(keys, [chord("g"), chord("g")]);
        let keys = parse_keys("  <C-a>\tz ").unwrap_or_default();
        assert_eq!(keys, [chord("<C-a>"), chord("z")]);
        assert_eq!(format_keys(&keys), "<C-a> z");
    }

    #[test]
    fn bad_keys() {
        assert_eq!(error(""), "no keys given");
        assert_eq!(error("   "), "no keys given");
        assert_eq!(error("<C-ä"), "unterminated key \"<C-ä\": missing \">\"");
        assert_eq!(
            error("<Foo>"),
            "unknown key name \"Foo\" in \"<Foo>\" (expected a single character, Enter, Esc, Tab, BS, Space, Del, Ins, Up, Down, Left, Right, Home, End, PageUp, PageDown or F1-F12)"
        );
        assert!(error("<Entr>").ends_with("; did you mean <Enter>?"));
        assert!(error("<F13>").starts_with("unknown key name \"F13\""));
        assert!(error("<F0>").starts_with("unknown key name \"F0\""));
        assert_eq!(error("<>"), "empty key name \"<>\"");
        assert_eq!(
            error("<X-a>"),
            "unknown modifier \"X-\" in \"<X-a>\" (expected C- for Ctrl, A- or M- for Alt, S- for Shift, D- for Super or H- for Hyper)"
        );
        assert_eq!(
            error("gg"),
            "\"gg\" is not one key: a key is a single character or a name in angle brackets such as <Enter>; to press keys one after another, separate them with spaces (\"g g\")"
        );
        assert!(error("<S-1>").contains("Shift with a character key"));
        let at = parse_keys("g <Nope>").err().map(|e| e.offset);
        assert_eq!(at, Some(2));
    }

    #[test]
    fn events_are_normalised() {
        assert_eq!(ev(KeyCode::Char('q'), NONE), chord("q"));
        assert_eq!(ev(KeyCode::Char('A'), S), chord("A"));
        assert_eq!(ev(KeyCode::Char('a'), S), chord("A"));
        assert_eq!(ev(KeyCode::Char('?'), S), chord("?"));
        assert_eq!(ev(KeyCode::BackTab, S), chord("<S-Tab>"));
        assert_eq!(ev(KeyCode::BackTab, NONE), chord("<S-Tab>"));
        assert_eq!(ev(KeyCode::Tab, S), chord("<S-Tab>"));
        assert_eq!(ev(KeyCode::Char('a'), C), chord("<C-a>"));
        assert_eq!(ev(KeyCode::Char(']'), C), chord("<C-]>"));
        assert_eq!(ev(KeyCode::Char('5'), C), chord("<C-]>"));
        assert_eq!(ev(KeyCode::Char('4'), C), chord("<C-\\>"));
        assert_eq!(ev(KeyCode::Char('5'), NONE), chord("5"));
        assert_eq!(ev(KeyCode::Char('x'), KeyModifiers::META), chord("<A-x>"));
        assert_eq!(ev(KeyCode::Enter, NONE), chord("<Enter>"));
        assert_eq!(ev(KeyCode::PageUp, S), chord("<S-PageUp>"));
        assert_eq!(ev(KeyCode::Char(' '), NONE), chord("<Space>"));
        assert_eq!(ev(KeyCode::F(3), NONE).to_string(), "<F3>");
    }
}
