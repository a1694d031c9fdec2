//! What keymap and theme files have in common: finding a file by name in the
//! user's directory or among the built-ins, following `inherits = "..."`
//! chains, and reporting problems at a line and column.
//!
//! The theme module uses this too (`crate::ui::keymap::source`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::config::{ConfigError, ConfigErrors};

pub(crate) type Span = Range<usize>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;
pub(crate) type Key<'i> = Spanned<Cow<'i, str>>;

/// Why the parent named by `inherits` could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InheritError {
    /// No file or built-in has that name; `available` lists the names that
    /// exist, sorted.
    NotFound { available: Vec<String> },
    /// Following `inherits` came back to a file already being loaded;
    /// `chain` names each step, first and last the same.
    Cycle { chain: Vec<String> },
    /// The parent exists but has problems of its own.
    Invalid(ConfigErrors),
}

/// Where the parent of a file stands after its `inherits` key is read.
pub(crate) enum Parent<T> {
    /// No `inherits` key.
    None,
    /// The parent, loaded.
    Loaded(T),
    /// `inherits` is wrong or the parent is broken; that is already reported,
    /// and checks that compare with the parent should be skipped.
    Failed,
}

/// A kind of named file: keymaps or themes.
pub(crate) trait Named: Sized {
    /// `"keymap"` or `"theme"`, for messages.
    const KIND: &'static str;
    /// The directory holding these files, in the repository and in the
    /// user's configuration directory: `"keymaps"` or `"themes"`.
    const DIR: &'static str;
    /// Each built-in name with its text.
    const BUILTINS: &'static [(&'static str, &'static str)];

    /// Parse one file, asking `resolve` for the parent it inherits from.
    fn parse_file(
        src: &str,
        path: &Path,
        resolve: &dyn Fn(&str) -> Result<Self, InheritError>,
    ) -> Result<Self, ConfigErrors>;
}

/// The path shown in messages about a built-in file.
pub(crate) fn builtin_path<T: Named>(name: &str) -> PathBuf {
    PathBuf::from(format!("builtin:{}/{name}.toml", T::DIR))
}

/// Whether `name` may name a keymap or theme: ASCII letters, digits, `_`
/// and `-`. This keeps names from reaching outside the directory.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `$XDG_CONFIG_HOME/orch`, else `~/.config/orch`.
pub fn default_user_dir() -> Option<PathBuf> {
    user_dir_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`default_user_dir`] given the two variables. A relative or empty
/// `XDG_CONFIG_HOME` is ignored, as the XDG specification says.
pub(crate) fn user_dir_from(
    xdg_config_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    if let Some(xdg) = xdg_config_home.map(PathBuf::from) {
        if xdg.is_absolute() {
            return Some(xdg.join("orch"));
        }
    }
    let home = home.map(PathBuf::from)?;
    if home.as_os_str().is_empty() {
        return None;
    }
    Some(home.join(".config").join("orch"))
}

/// The built-in `name`, parsed; `None` if there is no such built-in.
pub(crate) fn builtin<T: Named>(name: &str) -> Option<Result<T, ConfigErrors>> {
    T::BUILTINS.iter().find(|(builtin, _)| *builtin == name)?;
    let loader = Loader::<T> {
        dir: None,
        stack: RefCell::new(Vec::new()),
        kind: std::marker::PhantomData,
    };
    Some(
        loader
            .load(name, false)
            .map_err(|error| top_error::<T>(name, None, error)),
    )
}

/// Load `name`: `dir/NAME.toml` when `dir` is given and that file exists,
/// else the built-in of that name.
///
/// A user file inherits from user files and built-ins alike, and may inherit
/// from the built-in of its own name (a user `default.toml` with
/// `inherits = "default"` extends the built-in default). Built-ins only ever
/// inherit from built-ins, so a user file cannot break them.
pub(crate) fn load<T: Named>(name: &str, dir: Option<&Path>) -> Result<T, ConfigErrors> {
    if !valid_name(name) {
        return Err(ConfigError::whole_file(
            dir.map_or_else(|| PathBuf::from(T::DIR), Path::to_path_buf),
            format!(
                "invalid {} name {name:?}: use only ASCII letters, digits, \"_\" and \"-\"",
                T::KIND
            ),
        )
        .into());
    }
    let loader = Loader::<T> {
        dir,
        stack: RefCell::new(Vec::new()),
        kind: std::marker::PhantomData,
    };
    loader
        .load(name, true)
        .map_err(|error| top_error::<T>(name, dir, error))
}

/// The names that [`load`] can find, sorted.
pub(crate) fn available<T: Named>(dir: Option<&Path>) -> Vec<String> {
    let mut names: BTreeSet<String> = T::BUILTINS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    if let Some(entries) = dir.and_then(|dir| std::fs::read_dir(dir).ok()) {
        for path in entries.filter_map(|entry| entry.ok().map(|entry| entry.path())) {
            if path.extension().is_some_and(|ext| ext == "toml") {
                if let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) {
                    if valid_name(stem) {
                        names.insert(stem.to_owned());
                    }
                }
            }
        }
    }
    names.into_iter().collect()
}

/// The error [`load`] returns when `name` itself cannot be had.
fn top_error<T: Named>(name: &str, dir: Option<&Path>, error: InheritError) -> ConfigErrors {
    let place = dir.map_or_else(|| PathBuf::from(T::DIR), Path::to_path_buf);
    match error {
        InheritError::Invalid(errors) => errors,
        InheritError::NotFound { available } => ConfigError::whole_file(
            place,
            format!(
                "no {} named {name:?} (available: {}){}",
                T::KIND,
                available.join(", "),
                did_you_mean(name, available.iter().map(String::as_str))
            ),
        )
        .into(),
        InheritError::Cycle { chain } => ConfigError::whole_file(
            place,
            format!("{} inheritance cycle: {}", T::KIND, chain.join(" -> ")),
        )
        .into(),
    }
}

/// Loads files by name, remembering which are being loaded to catch cycles.
struct Loader<'d, T> {
    dir: Option<&'d Path>,
    /// The files being loaded, outermost first: name and whether it is the
    /// user's file (rather than the built-in).
    stack: RefCell<Vec<(String, bool)>>,
    kind: std::marker::PhantomData<T>,
}

impl<T: Named> Loader<'_, T> {
    /// Load `name`, from the user's directory when `allow_user` and it is
    /// there, else from the built-ins.
    fn load(&self, name: &str, allow_user: bool) -> Result<T, InheritError> {
        let dir = self.dir.filter(|_| allow_user);
        let not_found = || InheritError::NotFound {
            available: available::<T>(dir),
        };
        if !valid_name(name) {
            return Err(not_found());
        }
        let user_path = dir
            .map(|dir| dir.join(format!("{name}.toml")))
            .filter(|path| path.is_file());
        let (src, path, is_user): (Cow<'static, str>, PathBuf, bool) = match user_path {
            Some(path) => match std::fs::read_to_string(&path) {
                Ok(src) => (Cow::Owned(src), path, true),
                Err(error) => {
                    return Err(InheritError::Invalid(
                        ConfigError::whole_file(path, format!("cannot read: {error}")).into(),
                    ))
                }
            },
            None => match T::BUILTINS.iter().find(|(builtin, _)| *builtin == name) {
                Some((_, src)) => (Cow::Borrowed(*src), builtin_path::<T>(name), false),
                None => return Err(not_found()),
            },
        };

        {
            let mut stack = self.stack.borrow_mut();
            if let Some(at) = stack
                .iter()
                .position(|(loading, user)| loading == name && *user == is_user)
            {
                let mut chain: Vec<String> = stack[at..].iter().map(|(n, _)| n.clone()).collect();
                chain.push(name.to_owned());
                return Err(InheritError::Cycle { chain });
            }
            stack.push((name.to_owned(), is_user));
        }
        tracing::debug!(kind = T::KIND, name, path = %path.display(), "loading");

        let resolve = |parent: &str| -> Result<T, InheritError> {
            if is_user && parent == name {
                // A user file extending the built-in it replaces.
                return match T::BUILTINS.iter().any(|(builtin, _)| *builtin == name) {
                    true => self.load(parent, false),
                    false => Err(InheritError::Cycle {
                        chain: vec![name.to_owned(), name.to_owned()],
                    }),
                };
            }
            self.load(parent, is_user)
        };
        let result = T::parse_file(&src, &path, &resolve).map_err(InheritError::Invalid);
        self.stack.borrow_mut().pop();
        result
    }
}

/// A [`Named::parse_file`] resolver that knows only the built-ins.
pub(crate) fn resolve_builtin<T: Named>(name: &str) -> Result<T, InheritError> {
    match builtin::<T>(name) {
        Some(Ok(parent)) => Ok(parent),
        Some(Err(errors)) => Err(InheritError::Invalid(errors)),
        None => Err(InheritError::NotFound {
            available: available::<T>(None),
        }),
    }
}

/// One file being checked: its text, and the problems found so far.
pub(crate) struct Doc<'s> {
    path: &'s Path,
    src: &'s str,
    lines: crate::config::LineIndex,
    errors: Vec<ConfigError>,
    /// Problems in other files (a broken parent), reported after ours.
    foreign: Vec<ConfigError>,
}

impl<'s> Doc<'s> {
    pub(crate) fn new(src: &'s str, path: &'s Path) -> Self {
        Self {
            path,
            src,
            lines: crate::config::LineIndex::new(src),
            errors: Vec::new(),
            foreign: Vec::new(),
        }
    }

    /// The file's name without `.toml`: the keymap's or theme's name.
    pub(crate) fn name(&self) -> String {
        self.path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Parse the text as TOML, reporting a syntax error if it is not.
    pub(crate) fn parse(&mut self) -> Option<Spanned<DeTable<'s>>> {
        match DeTable::parse(self.src) {
            Ok(document) => Some(document),
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                let mut message = format!("invalid TOML: {}", error.message());
                // The parser says only "duplicate key"; name it.
                if error.message() == "duplicate key" {
                    if let Some(key) = self.src.get(span.clone()).filter(|key| !key.is_empty()) {
                        message.push_str(&format!(" {:?}", key.trim_matches(['"', '\'']).trim()));
                    }
                }
                self.error(span, message);
                None
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        self.lines.position(self.src, offset)
    }

    pub(crate) fn line_of(&self, span: &Span) -> usize {
        self.position(span.start).0
    }

    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty() || !self.foreign.is_empty()
    }

    /// `Ok(value)` if nothing was reported, else every problem: this file's
    /// sorted by position, then any found in the files it inherits from.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if !self.has_errors() {
            return Ok(value);
        }
        let mut errors = ConfigErrors(self.errors);
        errors.sort();
        errors.0.extend(self.foreign);
        Err(errors)
    }

    /// Where the text of a string value starts, if its source can be indexed
    /// like its text (no escapes): lets an error point inside the string.
    pub(crate) fn string_start(&self, span: &Span, text: &str) -> Option<usize> {
        let raw = self.src.get(span.clone())?;
        let quote = raw.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let inner = raw.strip_prefix(quote)?.strip_suffix(quote)?;
        (inner == text).then_some(span.start + quote.len_utf8())
    }

    /// Report every key of `table` not in `allowed`. `place` ends the
    /// message, e.g. `"in global.quit"`.
    pub(crate) fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], place: &str) {
        for (key, _) in entries(table) {
            let name = key.get_ref();
            if allowed.contains(&name.as_ref()) {
                continue;
            }
            self.error(key.span(), unknown_key_message(name, allowed, place));
        }
    }

    /// Report unknown top-level keys, calling a table a table.
    pub(crate) fn unknown_top_level(&mut self, top: &DeTable<'_>, tables: &[&str]) {
        for (key, value) in entries(top) {
            let name = key.get_ref();
            if name == "inherits" || tables.contains(&name.as_ref()) {
                continue;
            }
            let message = if value.get_ref().is_table() {
                format!(
                    "unknown table [{}] (expected one of: {}){}",
                    toml_key(name),
                    tables
                        .iter()
                        .map(|table| format!("[{table}]"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    did_you_mean(name, tables.iter().copied()),
                )
            } else {
                let mut allowed = vec!["inherits"];
                allowed.extend_from_slice(tables);
                format!(
                    "unknown key {name:?} at the top level (expected one of: {}){}",
                    allowed.join(", "),
                    did_you_mean(name, allowed.iter().copied()),
                )
            };
            self.error(key.span(), message);
        }
    }

    pub(crate) fn expected(&mut self, what: &str, field: &str, value: &Value<'_>) {
        self.error(
            value.span(),
            format!(
                "expected {what} for {field}, found {}",
                type_name(value.get_ref())
            ),
        );
    }

    pub(crate) fn table<'v, 'i>(
        &mut self,
        field: &str,
        value: &'v Value<'i>,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.expected("a table", field, value);
                None
            }
        }
    }

    pub(crate) fn string<'v>(&mut self, field: &str, value: &'v Value<'_>) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.as_ref()),
            _ => {
                self.expected("a string", field, value);
                None
            }
        }
    }

    /// Read `inherits` and load the parent it names with `resolve`.
    pub(crate) fn inherits<T: Named>(
        &mut self,
        top: &DeTable<'_>,
        resolve: &dyn Fn(&str) -> Result<T, InheritError>,
    ) -> Parent<T> {
        let Some(value) = top.get("inherits") else {
            return Parent::None;
        };
        let Some(name) = self.string("inherits", value) else {
            return Parent::Failed;
        };
        match resolve(name) {
            Ok(parent) => Parent::Loaded(parent),
            Err(InheritError::NotFound { available }) => {
                self.error(
                    value.span(),
                    format!(
                        "unknown {} {name:?} in inherits (available: {}){}",
                        T::KIND,
                        available.join(", "),
                        did_you_mean(name, available.iter().map(String::as_str)),
                    ),
                );
                Parent::Failed
            }
            Err(InheritError::Cycle { chain }) => {
                self.error(
                    value.span(),
                    format!("{} inheritance cycle: {}", T::KIND, chain.join(" -> ")),
                );
                Parent::Failed
            }
            Err(InheritError::Invalid(errors)) => {
                self.error(
                    value.span(),
                    format!("inherited {} {name:?} has errors", T::KIND),
                );
                self.foreign.extend(errors);
                Parent::Failed
            }
        }
    }
}

/// The entries of a table in file order (the TOML map may sort them).
pub(crate) fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// Type names in messages: the same words as the config file's.
pub(crate) use crate::config::type_name;

/// A key as it would be written in TOML: bare when possible, else quoted.
pub(crate) fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// "Did you mean": the same rule and wording as the config file's.
pub(crate) use crate::config::suggest::{closest, did_you_mean, unknown_key_message};

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn user_dir_prefers_absolute_xdg() {
        let dir = |xdg: Option<&str>, home: Option<&str>| {
            user_dir_from(xdg.map(OsString::from), home.map(OsString::from))
        };
        assert_eq!(
            dir(Some("/x/cfg"), Some("/home/u")),
            Some(PathBuf::from("/x/cfg/orch"))
        );
        assert_eq!(
            dir(Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.config/orch"))
        );
        assert_eq!(
            dir(Some(""), Some("/home/u")),
            Some(PathBuf::from("/home/u/.config/orch"))
        );
        assert_eq!(dir(None, None), None);
        assert_eq!(dir(None, Some("")), None);
    }

    #[test]
    fn names() {
        assert!(valid_name("my-theme_2"));
        assert!(!valid_name(""));
        assert!(!valid_name("../etc"));
        assert!(!valid_name("a b"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("defualt", ["default", "vim"]), Some("default"));
        assert_eq!(closest("zzz", ["default", "vim"]), None);
        assert_eq!(did_you_mean("bold", ["bold"]), "");
    }

    #[test]
    fn positions_count_characters() {
        let doc = Doc::new("ab\nä = 1\n", Path::new("x.toml"));
        assert_eq!(doc.position(0), (1, 1));
        assert_eq!(doc.position(3), (2, 1));
        assert_eq!(doc.position(6), (2, 3));
    }
}
