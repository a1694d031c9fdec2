//! Whether a checkout can skip libgit2's content filters. Loading the
//! filters of a file looks up its attributes, and libgit2 resolves every
//! file's directory with `realpath` for that (a `readlink` per path
//! component): a fifth of the time of checking out 20,000 files, measured.
//! When nothing could configure a filter, the lookups are skipped.

use std::path::{Path, PathBuf};

use git2::{Repository, Tree, TreeWalkMode, TreeWalkResult};

/// `true` when no content filter can apply to `tree` checked out in
/// `repo`: `core.autocrlf` is off, `core.attributesFile` unset, and there is
/// no attributes file anywhere libgit2 reads one (`info/attributes`, the
/// XDG and system `gitattributes`, a `.gitattributes` in the tree). Any
/// doubt answers `false`.
pub(super) fn cannot_apply(repo: &Repository, common_dir: &Path, tree: &Tree<'_>) -> bool {
    let Ok(config) = repo.config() else {
        return false;
    };
    match config.get_entry("core.autocrlf") {
        Ok(_) if config.get_bool("core.autocrlf").ok() != Some(false) => return false,
        Err(e) if e.code() != git2::ErrorCode::NotFound => return false,
        _ => {}
    }
    match config.get_entry("core.attributesFile") {
        Err(e) if e.code() == git2::ErrorCode::NotFound => {}
        _ => return false,
    }
    let xdg = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")),
    };
    let files = [
        Some(common_dir.join("info/attributes")),
        xdg.map(|dir| dir.join("git/attributes")),
        Some(PathBuf::from("/etc/gitattributes")),
    ];
    if files.iter().flatten().any(|file| file.exists()) {
        return false;
    }
    let mut found = false;
    let walked = tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        if entry.name_bytes() == b".gitattributes" {
            found = true;
            TreeWalkResult::Abort
        } else {
            TreeWalkResult::Ok
        }
    });
    match walked {
        Ok(()) => !found,
        // An abort is reported as an error: the file was found.
        Err(_) => false,
    }
}
