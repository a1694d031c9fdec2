//! What every TOML file orch reads (`orch.toml`, keymaps, themes) shares:
//! reading it as UTF-8 with positions, parsing it into a span-carrying tree
//! (a duplicate key named), typed getters that say "expected X for FIELD,
//! found Y", unknown keys with a did-you-mean, `file:line:column` for any
//! span, and files found by name with `inherits` chains.
//!
//! `config` and `ui::{keymap, theme}` each walk their own tables with
//! these; none of them imports from another.

mod doc;
mod error;
#[cfg(test)]
pub(crate) mod fixtures;
mod lines;
pub(crate) mod named;
mod read;
mod suggest;

pub(crate) use doc::{entries, toml_key, type_name, Doc, Key, Span, Value};
pub use error::{ConfigError, ConfigErrors};
pub use named::InheritError;
pub(crate) use read::read_text;
#[cfg(test)]
pub(crate) use read::text_of;
pub(crate) use suggest::{closest, did_you_mean};
