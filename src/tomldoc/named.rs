//! Files found by name, as keymaps and themes are: in the user's directory
//! or among the built-ins, following `inherits = "..."` chains, with cycles
//! and broken parents reported at the `inherits` value.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::doc::Doc;
use super::error::{ConfigError, ConfigErrors};
use super::read::read_text;
use super::suggest::did_you_mean;

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
            Some(path) => match read_text(&path) {
                Ok(src) => (Cow::Owned(src), path, true),
                Err(error) => return Err(InheritError::Invalid(error.into())),
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

impl Doc<'_> {
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
                self.add_foreign(errors);
                Parent::Failed
            }
        }
    }
}

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
}
