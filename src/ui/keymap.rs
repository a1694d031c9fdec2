//! Key bindings: which key does what in which pane.
//!
//! A keymap is a TOML file, `keymaps/NAME.toml`. The built-ins (`default`,
//! `vim`) are compiled in; a file of the same name in the user's directory
//! (`~/.config/orch/keymaps/`, see [`default_user_dir`]) replaces one, and
//! may extend it with `inherits`. The file format is documented at the top of
//! `keymaps/default.toml`.
//!
//! The UI turns each key event into a [`KeyChord`] with
//! [`KeyChord::from_event`], then asks [`Keymap::lookup`] what it means in the
//! focused [`Context`], keeping the chords of an unfinished sequence while the
//! answer is [`Lookup::Pending`]. While attached to a task's terminal, keys
//! that give [`Lookup::NoMatch`] go to the task (including any chords that
//! were pending).

#[path = "keymap/action.rs"]
mod action;
#[path = "keymap/chord.rs"]
mod chord;
#[cfg(test)]
#[path = "keymap/tests.rs"]
mod tests;

use std::path::{Path, PathBuf};

use toml::de::DeTable;

use crate::tomldoc::named::{self, Named, Parent};
use crate::tomldoc::{did_you_mean, entries, toml_key, ConfigErrors, Doc, Key, Span, Value};

pub use crate::tomldoc::named::default_user_dir;
pub use crate::tomldoc::InheritError;
pub use action::{Action, Context};
pub use chord::{format_keys, parse_keys, KeyChord, KeyParseError};

const BUILTINS: &[(&str, &str)] = &[
    (
        "default",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/keymaps/default.toml")),
    ),
    (
        "vim",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/keymaps/vim.toml")),
    ),
];

const BINDING_KEYS: &[&str] = &["keys", "action", "desc"];

/// One key binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The chords to press, one after another (usually just one).
    pub keys: Vec<KeyChord>,
    pub action: Action,
    /// For the help overlay: the file's `desc`, else the action's
    /// description.
    pub desc: String,
}

/// What a key press means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The keys so far complete a binding.
    Action(Action),
    /// The keys so far begin a longer binding: keep them and wait for more.
    Pending,
    /// The keys so far mean nothing here.
    NoMatch,
}

/// A loaded keymap: the bindings of each context, in file order (an
/// inherited binding keeps its place when overridden; new ones follow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    name: String,
    contexts: [Vec<Binding>; 7],
}

impl Keymap {
    /// A keymap with no bindings.
    pub fn empty(name: impl Into<String>) -> Keymap {
        Keymap {
            name: name.into(),
            contexts: Default::default(),
        }
    }

    /// The built-in keymap `name` (`"default"` or `"vim"`), or `None` if
    /// there is no such built-in.
    pub fn builtin(name: &str) -> Option<Result<Keymap, ConfigErrors>> {
        named::builtin::<Keymap>(name)
    }

    /// The names of the built-in keymaps.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|(name, _)| *name).collect()
    }

    /// Every keymap name [`Keymap::load`] can find, sorted.
    pub fn available(user_dir: Option<&Path>) -> Vec<String> {
        named::available::<Keymap>(user_dir.map(|dir| dir.join(Self::DIR)).as_deref())
    }

    /// Load the keymap `name`: `USER_DIR/keymaps/NAME.toml` if it exists,
    /// else the built-in. An unknown name gives an error listing the
    /// available ones.
    pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Keymap, ConfigErrors> {
        let dir: Option<PathBuf> = user_dir.map(|dir| dir.join(Self::DIR));
        named::load::<Keymap>(name, dir.as_deref())
    }

    /// Parse keymap text read from `path` (its file stem is the keymap's
    /// name). `resolve_parent` supplies the keymap named by `inherits`;
    /// [`Keymap::resolve_builtin`] knows the built-ins.
    pub fn parse(
        src: &str,
        path: &Path,
        resolve_parent: &dyn Fn(&str) -> Result<Keymap, InheritError>,
    ) -> Result<Keymap, ConfigErrors> {
        Parser::parse(src, path, resolve_parent)
    }

    /// A `resolve_parent` for [`Keymap::parse`] that knows only the
    /// built-ins.
    pub fn resolve_builtin(name: &str) -> Result<Keymap, InheritError> {
        named::resolve_builtin::<Keymap>(name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What pressing `key` after the `pending` chords means in `ctx`.
    ///
    /// The bindings of `ctx` come first, then `[global]`'s. In
    /// [`Context::Attached`] only `[attached]` applies: everything else goes
    /// to the task.
    pub fn lookup(&self, ctx: Context, pending: &[KeyChord], key: KeyChord) -> Lookup {
        let order: &[Context] = match ctx {
            Context::Attached => &[Context::Attached],
            Context::Global => &[Context::Global],
            _ => &[ctx, Context::Global],
        };
        for ctx in order {
            match self.lookup_in(*ctx, pending, key) {
                Lookup::NoMatch => continue,
                found => return found,
            }
        }
        Lookup::NoMatch
    }

    fn lookup_in(&self, ctx: Context, pending: &[KeyChord], key: KeyChord) -> Lookup {
        let n = pending.len();
        let mut longer = false;
        for binding in &self.contexts[ctx.index()] {
            let keys = &binding.keys;
            if keys.len() <= n || keys[..n] != *pending || keys[n] != key {
                continue;
            }
            if keys.len() == n + 1 {
                return Lookup::Action(binding.action);
            }
            longer = true;
        }
        if longer {
            Lookup::Pending
        } else {
            Lookup::NoMatch
        }
    }

    /// The bindings of `ctx` alone (not `[global]`'s), in file order: one
    /// section of the help overlay.
    pub fn bindings(&self, ctx: Context) -> Vec<&Binding> {
        self.contexts[ctx.index()].iter().collect()
    }

    /// The keys of the first binding that runs `action` in `ctx` (counting
    /// `[global]` as [`Keymap::lookup`] does, and skipping bindings that a
    /// binding of `ctx` hides), written as in a keymap file: `"q"`,
    /// `"<C-]>"`, `"g g"`. For hints such as the status bar's.
    pub fn keys_for(&self, ctx: Context, action: Action) -> Option<String> {
        let order: &[Context] = match ctx {
            Context::Attached => &[Context::Attached],
            Context::Global => &[Context::Global],
            _ => &[ctx, Context::Global],
        };
        order
            .iter()
            .flat_map(|c| &self.contexts[c.index()])
            .filter(|binding| binding.action == action)
            .find(|binding| self.runs(ctx, &binding.keys, action))
            .map(|binding| format_keys(&binding.keys))
    }

    /// Whether typing `keys` in `ctx` runs `action`.
    fn runs(&self, ctx: Context, keys: &[KeyChord], action: Action) -> bool {
        let Some((last, pending)) = keys.split_last() else {
            return false;
        };
        (0..pending.len()).all(|i| self.lookup(ctx, &keys[..i], keys[i]) == Lookup::Pending)
            && self.lookup(ctx, pending, *last) == Lookup::Action(action)
    }
}

impl Named for Keymap {
    const KIND: &'static str = "keymap";
    const DIR: &'static str = "keymaps";
    const BUILTINS: &'static [(&'static str, &'static str)] = BUILTINS;

    fn parse_file(
        src: &str,
        path: &Path,
        resolve: &dyn Fn(&str) -> Result<Self, InheritError>,
    ) -> Result<Self, ConfigErrors> {
        Parser::parse(src, path, resolve)
    }
}

/// Where a binding was written in the file being parsed.
struct Origin {
    /// `global.quit`: the context table and the binding's label.
    place: String,
    keys_span: Span,
}

/// A binding while a file is being merged over its parent: `origin` is
/// `None` for an inherited one.
struct Entry {
    binding: Binding,
    origin: Option<Origin>,
}

/// A binding as read from the file, before merging.
struct RawBinding {
    keys: Vec<KeyChord>,
    keys_span: Span,
    action: Action,
    desc: Option<String>,
}

struct Parser<'s> {
    doc: Doc<'s>,
}

impl<'s> Parser<'s> {
    fn parse(
        src: &'s str,
        path: &'s Path,
        resolve: &dyn Fn(&str) -> Result<Keymap, InheritError>,
    ) -> Result<Keymap, ConfigErrors> {
        let mut parser = Parser {
            doc: Doc::new(src, path),
        };
        let name = parser.doc.name();
        let Some(document) = parser.doc.parse() else {
            return parser.doc.finish(Keymap::empty(name));
        };
        let top = document.get_ref();
        let tables: Vec<&str> = Context::ALL.iter().map(Context::name).collect();
        parser.doc.unknown_top_level(top, &tables);

        let parent = parser.doc.inherits::<Keymap>(top, resolve);
        let (parent, compare_with_parent) = match parent {
            Parent::None => (None, true),
            Parent::Loaded(parent) => (Some(parent), true),
            Parent::Failed => (None, false),
        };
        let mut contexts: [Vec<Entry>; 7] = Default::default();
        if let Some(parent) = &parent {
            for (entries, bindings) in contexts.iter_mut().zip(&parent.contexts) {
                entries.extend(bindings.iter().map(|binding| Entry {
                    binding: binding.clone(),
                    origin: None,
                }));
            }
        }

        for ctx in Context::ALL {
            if let Some(table) = top
                .get(ctx.name())
                .and_then(|value| parser.doc.table(&format!("[{ctx}]"), value))
            {
                let list = &mut contexts[ctx.index()];
                parser.context(ctx, table, list, parent.as_ref(), compare_with_parent);
            }
        }
        for (ctx, list) in Context::ALL.iter().zip(&contexts) {
            parser.check_prefixes(*ctx, list, parent.as_ref());
        }

        let keymap = Keymap {
            name,
            contexts: contexts.map(|list| list.into_iter().map(|entry| entry.binding).collect()),
        };
        parser.doc.finish(keymap)
    }

    /// Read one context's table and merge it into `list`.
    fn context(
        &mut self,
        ctx: Context,
        table: &DeTable<'_>,
        list: &mut Vec<Entry>,
        parent: Option<&Keymap>,
        compare_with_parent: bool,
    ) {
        for (label, value) in entries(table) {
            let place = format!("{ctx}.{}", toml_key(label.get_ref()));
            let Some(raw) = self.binding(ctx, &place, label, value) else {
                continue;
            };
            let same_keys = |entry: &&Entry| entry.binding.keys == raw.keys;
            if let Some(Origin {
                place: other,
                keys_span,
            }) = list
                .iter()
                .filter(same_keys)
                .find_map(|entry| entry.origin.as_ref())
            {
                let line = self.doc.line_of(keys_span);
                self.doc.error(
                    raw.keys_span,
                    format!(
                        "keys {:?} in {place} are already bound by {other} (line {line})",
                        format_keys(&raw.keys)
                    ),
                );
                continue;
            }
            let existing = list.iter().position(|entry| entry.binding.keys == raw.keys);
            if raw.action == Action::None {
                match existing {
                    Some(at) => {
                        list.remove(at);
                    }
                    None if compare_with_parent => {
                        self.nothing_to_unbind(ctx, &place, &raw, parent);
                    }
                    None => {}
                }
                continue;
            }
            let entry = Entry {
                binding: Binding {
                    desc: raw
                        .desc
                        .unwrap_or_else(|| raw.action.description().to_owned()),
                    keys: raw.keys,
                    action: raw.action,
                },
                origin: Some(Origin {
                    place,
                    keys_span: raw.keys_span,
                }),
            };
            match existing {
                Some(at) => list[at] = entry,
                None => list.push(entry),
            }
        }
    }

    fn nothing_to_unbind(
        &mut self,
        ctx: Context,
        place: &str,
        raw: &RawBinding,
        parent: Option<&Keymap>,
    ) {
        let keys = format_keys(&raw.keys);
        let message = match parent {
            None => format!(
                "{place} unbinds {keys:?}, but this keymap inherits nothing (action = \"none\" only removes inherited bindings)"
            ),
            Some(parent) => {
                let mut message = format!(
                    "{place} unbinds {keys:?}, which is not bound in [{ctx}] of keymap {:?}",
                    parent.name
                );
                let in_global = parent.contexts[Context::Global.index()]
                    .iter()
                    .any(|binding| binding.keys == raw.keys);
                if in_global && !matches!(ctx, Context::Global | Context::Attached) {
                    message.push_str(
                        " (it is bound in [global]: unbind it there, or bind it to another action here)",
                    );
                }
                message
            }
        };
        self.doc.error(raw.keys_span.clone(), message);
    }

    /// Read one binding; `None` if it is unusable (already reported).
    fn binding(
        &mut self,
        ctx: Context,
        place: &str,
        label: &Key<'_>,
        value: &Value<'_>,
    ) -> Option<RawBinding> {
        let toml::de::DeValue::Table(table) = value.get_ref() else {
            self.doc.expected(
                "a table like { keys = \"q\", action = \"app.quit\" }",
                place,
                value,
            );
            return None;
        };
        self.doc
            .unknown_keys(table, BINDING_KEYS, &format!("in {place}"));

        let keys = match table.get("keys") {
            Some(value) => self.keys(place, value),
            None => {
                self.doc
                    .error(label.span(), format!("missing \"keys\" in {place}"));
                None
            }
        };
        let action = match table.get("action") {
            Some(value) => self.action(ctx, place, value),
            None => {
                self.doc
                    .error(label.span(), format!("missing \"action\" in {place}"));
                None
            }
        };
        let desc = table
            .get("desc")
            .and_then(|value| self.doc.string(&format!("{place}.desc"), value))
            .map(str::to_owned);
        let (keys, keys_span) = keys?;
        Some(RawBinding {
            keys,
            keys_span,
            action: action?,
            desc,
        })
    }

    fn keys(&mut self, place: &str, value: &Value<'_>) -> Option<(Vec<KeyChord>, Span)> {
        let text = self.doc.string(&format!("{place}.keys"), value)?;
        match parse_keys(text) {
            Ok(keys) => Some((keys, value.span())),
            Err(error) => {
                let at = self
                    .doc
                    .span_in_string(&value.span(), text, error.offset..error.offset);
                self.doc
                    .error(at, format!("invalid keys for {place}: {error}"));
                None
            }
        }
    }

    fn action(&mut self, ctx: Context, place: &str, value: &Value<'_>) -> Option<Action> {
        let name = self.doc.string(&format!("{place}.action"), value)?;
        let Some(action) = Action::from_name(name) else {
            self.doc.error(
                value.span(),
                format!("unknown action {name:?} in {place}{}", suggest_action(name)),
            );
            return None;
        };
        let attached = ctx == Context::Attached;
        if action != Action::None && action.is_attached() != attached {
            let message = if attached {
                let allowed: Vec<&str> = Action::ALL
                    .iter()
                    .filter(|action| action.is_attached())
                    .map(Action::name)
                    .collect();
                format!(
                    "action {name:?} cannot be bound in [attached]: there every key but the bound ones goes to the task, so only {} (or \"none\") may be bound",
                    allowed.join(", ")
                )
            } else {
                format!("action {name:?} can only be bound in [attached]")
            };
            self.doc.error(value.span(), message);
            return None;
        }
        Some(action)
    }

    /// Report bindings of one context where one's keys begin another's: the
    /// shorter would always win, so the longer could never be typed.
    fn check_prefixes(&mut self, ctx: Context, list: &[Entry], parent: Option<&Keymap>) {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                let (short, long) = if a.binding.keys.len() < b.binding.keys.len() {
                    (a, b)
                } else {
                    (b, a)
                };
                if !long.binding.keys.starts_with(&short.binding.keys) {
                    continue;
                }
                // Report at the binding written later in this file.
                let (reported, other, reported_is_long) = match (&short.origin, &long.origin) {
                    (None, None) => continue,
                    (Some(_), None) => (short, long, false),
                    (None, Some(_)) => (long, short, true),
                    (Some(s), Some(l)) if s.keys_span.start > l.keys_span.start => {
                        (short, long, false)
                    }
                    (Some(_), Some(_)) => (long, short, true),
                };
                let Some(origin) = &reported.origin else {
                    continue;
                };
                let where_other = match &other.origin {
                    Some(o) => format!("by {} (line {})", o.place, self.doc.line_of(&o.keys_span)),
                    None => format!(
                        "in [{ctx}] of keymap {:?}",
                        parent.map_or("", |parent| parent.name.as_str())
                    ),
                };
                let relation = if reported_is_long {
                    "begin with"
                } else {
                    "begin the sequence"
                };
                let mut message = format!(
                    "keys {:?} in {} {relation} {:?}, bound to {} {where_other}; a key cannot both run an action and begin a sequence",
                    format_keys(&reported.binding.keys),
                    origin.place,
                    format_keys(&other.binding.keys),
                    other.binding.action,
                );
                if other.origin.is_none() {
                    message.push_str(" (unbind it with action = \"none\", or choose other keys)");
                }
                self.doc.error(origin.keys_span.clone(), message);
            }
        }
    }
}

/// `; did you mean ...?` for a misspelt action: a close spelling, else the
/// actions whose last part is the same (`"retry"` → `"task.retry"`).
fn suggest_action(name: &str) -> String {
    let names = Action::ALL.iter().map(Action::name);
    let close = did_you_mean(name, names.clone());
    if !close.is_empty() {
        return close;
    }
    let last = |name: &str| name.rsplit('.').next().unwrap_or(name).to_owned();
    let wanted = last(name);
    let same_end: Vec<String> = names
        .filter(|candidate| last(candidate) == wanted)
        .map(|candidate| format!("{candidate:?}"))
        .collect();
    match same_end.as_slice() {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        [init @ .., last] => format!("; did you mean {} or {last}?", init.join(", ")),
    }
}
