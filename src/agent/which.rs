//! Finding the program an agent command names, the way a shell would.
//!
//! We look the program up ourselves before spawning so that a typo in a
//! config file becomes a clear "command not found" instead of a child that
//! dies at once with a message buried in its terminal.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Resolve `program` to an executable file.
///
/// * A name containing `/` is a path: relative paths are taken relative to
///   `cwd` (the agent's working directory, not ours).
/// * A bare name is searched for in `path_var` (or, when `None`, in our own
///   `PATH`). Relative and empty entries in the search path are relative to
///   `cwd`, as `execvp` and portable-pty treat them.
///
/// Returns `None` when nothing executable is found (directories and files
/// without execute permission do not count).
pub fn find_program(program: &str, cwd: &Path, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let candidate = cwd.join(program);
        return is_executable_file(&candidate).then_some(candidate);
    }
    let own_path;
    let search = match path_var {
        Some(p) => p,
        None => {
            own_path = std::env::var_os("PATH")?;
            own_path.as_os_str()
        }
    };
    std::env::split_paths(search)
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| is_executable_file(candidate))
}

/// A regular file (after following symlinks) that we may execute.
fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    // access(2) asks the kernel, which knows about ACLs and read-only mounts
    // that the mode bits do not tell.
    rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}

/// The running orch program, for agents to call back (`ORCH_BIN`, their
/// hooks): its path, or, once that file was replaced or removed (a rebuild
/// under a running server), `/proc/PID/exe`, which still runs this very
/// build as long as orch does.
pub fn orch_program() -> String {
    match std::env::current_exe() {
        Ok(path) if path.exists() && !path.to_string_lossy().ends_with(" (deleted)") => {
            path.display().to_string()
        }
        _ => format!("/proc/{}/exe", std::process::id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn make_file(path: &Path, mode: u32) {
        fs::write(path, "#!/bin/sh\n").expect("write");
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn searches_the_given_path_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::create_dir_all(&a).expect("mkdir");
        fs::create_dir_all(&b).expect("mkdir");
        make_file(&a.join("tool"), 0o644); // not executable: skipped
        make_file(&b.join("tool"), 0o755);
        make_file(&a.join("other"), 0o755);
        let path = std::env::join_paths([&a, &b]).expect("join");
        assert_eq!(
            find_program("tool", Path::new("/"), Some(&path)),
            Some(b.join("tool"))
        );
        assert_eq!(
            find_program("other", Path::new("/"), Some(&path)),
            Some(a.join("other"))
        );
        assert_eq!(find_program("missing", Path::new("/"), Some(&path)), None);
    }

    #[test]
    fn paths_with_a_slash_are_relative_to_cwd() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("bin")).expect("mkdir");
        make_file(&dir.path().join("bin/run"), 0o755);
        assert_eq!(
            find_program("bin/run", dir.path(), Some(OsStr::new(""))),
            Some(dir.path().join("bin/run"))
        );
        assert_eq!(
            find_program("./bin/run", dir.path(), None),
            Some(dir.path().join("./bin/run"))
        );
        // A directory is not a program.
        assert_eq!(find_program("./bin", dir.path(), None), None);
        assert_eq!(find_program("", dir.path(), None), None);
    }

    #[test]
    fn falls_back_to_our_own_path() {
        assert!(find_program("sh", Path::new("/"), None).is_some());
    }
}
