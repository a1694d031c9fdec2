//! Fixture-driven tests shared by every parsed file format (`orch.toml`,
//! keymaps, themes): each `invalid/NAME.toml` must fail with exactly the
//! text in `NAME.expected`. `ORCH_BLESS_FIXTURES=1` rewrites the expected
//! files from the current output (review the diff before committing).

use std::fs;
use std::path::{Path, PathBuf};

/// The `.toml` files in `dir`, sorted.
pub(crate) fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => panic!("{}: {error}", dir.display()),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

pub(crate) fn read(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => panic!("{}: {error}", path.display()),
    }
}

/// Check every invalid fixture in `dir` (at least `min` of them) against
/// its `.expected` file; `parse` returns the errors' display text.
pub(crate) fn check_invalid(dir: &Path, min: usize, parse: impl Fn(&Path) -> Result<(), String>) {
    let files = toml_files(dir);
    assert!(
        files.len() >= min,
        "invalid fixtures missing in {}",
        dir.display()
    );
    let bless = std::env::var_os("ORCH_BLESS_FIXTURES").is_some();
    let mut failures = Vec::new();
    for file in &files {
        let expected_path = file.with_extension("expected");
        let actual = match parse(file) {
            Ok(()) => {
                failures.push(format!("{}: parsed without errors", file.display()));
                continue;
            }
            Err(errors) => errors,
        };
        if bless {
            if let Err(error) = fs::write(&expected_path, format!("{actual}\n")) {
                panic!("cannot write {}: {error}", expected_path.display());
            }
            continue;
        }
        let expected = read(&expected_path);
        let expected = expected.strip_suffix('\n').unwrap_or(&expected);
        if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                file.display()
            ));
        }
    }
    // Every .expected file belongs to a fixture.
    if let Ok(entries) = fs::read_dir(dir) {
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.extension().is_some_and(|ext| ext == "expected")
                && !path.with_extension("toml").exists()
            {
                failures.push(format!("{}: no matching .toml", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
