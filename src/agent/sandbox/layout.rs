//! Finding the paths of a [`Layout`] on disk, and the two things a
//! confined agent's git needs made before it starts.
//!
//! Nothing a previous attempt's agent could have written is trusted: the
//! git directory comes from the user's checkout (`git::Repo::discover`),
//! and the worktree's link to its registration (`WORKTREE/.git`, which
//! the agent may rewrite) is accepted only when the registration, which
//! lives where no other agent may write, links back to the same worktree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::rules::{branch_paths, Extra, Layout, Protected};
use super::SandboxRequest;

/// Terminal and null devices a terminal program opens by name.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];
/// Shared memory (`shm_open`, POSIX semaphores): scratch space like /tmp.
const SHM: &str = "/dev/shm";

/// The layout for an agent in `worktree` whose extra environment is
/// `env`, and notes on what was left out (a `writable` path that does not
/// exist).
pub fn discover(
    request: &SandboxRequest,
    worktree: &Path,
    env: &[(String, String)],
) -> Result<(Layout, Vec<String>), String> {
    let repo = protected(&request.repo, &request.state_dir)?;
    let worktree = canonical(worktree)?;
    let admin = registration(&worktree)?;
    let (scratch, writable, notes) = extras(&request.writable, env);
    let devices = DEVICES
        .iter()
        .filter_map(|dev| {
            let meta = fs::metadata(dev).ok()?;
            Some(Extra {
                path: PathBuf::from(dev),
                dir: meta.is_dir(),
            })
        })
        .collect();
    let layout = Layout {
        worktree,
        admin,
        repo,
        branch: request.branch.clone(),
        scratch,
        writable,
        devices,
    };
    Ok((layout, notes))
}

/// The repository around `repo` (a path in the user's checkout) and orch's
/// state directory, canonical. A state directory that does not exist yet
/// (before the first run) is where it will be.
pub fn protected(repo: &Path, state_dir: &Path) -> Result<Protected, String> {
    let found = crate::git::Repo::discover(repo)
        .map_err(|e| format!("finding the repository to confine the agent in: {e}"))?;
    let state_dir = match fs::canonicalize(state_dir) {
        Ok(dir) => dir,
        Err(_) => std::path::absolute(state_dir)
            .map_err(|e| format!("resolving {}: {e}", state_dir.display()))?,
    };
    Ok(Protected {
        checkout: found.root().to_path_buf(),
        common: found.common_dir().to_path_buf(),
        state_dir,
    })
}

/// The scratch directories (the agent's temp directory, `/dev/shm`) and
/// the `writable` paths that exist, and a note for each that does not.
pub fn extras(
    writable: &[PathBuf],
    env: &[(String, String)],
) -> (Vec<Extra>, Vec<Extra>, Vec<String>) {
    let mut notes = Vec::new();
    let mut scratch = Vec::new();
    let temp = temp_dir(env);
    match extra(&temp) {
        Some(found) if found.dir => scratch.push(found),
        _ => notes.push(format!(
            "the temp directory {} is not a directory: not writable",
            temp.display()
        )),
    }
    if let Some(shm) = extra(Path::new(SHM)).filter(|e| e.dir && !scratch.contains(e)) {
        scratch.push(shm);
    }
    let mut found = Vec::new();
    for path in writable {
        match std::path::absolute(path).ok().and_then(|p| extra(&p)) {
            Some(extra) => found.push(extra),
            None => notes.push(format!(
                "writable path {} does not exist: not granted",
                path.display()
            )),
        }
    }
    (scratch, found, notes)
}

/// The directory git made for `worktree` in the common git directory,
/// once both ends of the link agree.
fn registration(worktree: &Path) -> Result<PathBuf, String> {
    let link = worktree.join(".git");
    let text = fs::read_to_string(&link)
        .map_err(|e| format!("reading {}: {e} (is it a git worktree?)", link.display()))?;
    let Some(target) = text.trim_end().strip_prefix("gitdir:") else {
        return Err(format!("{} does not name a git directory", link.display()));
    };
    let admin = canonical(&worktree.join(target.trim()))?;
    let back_file = admin.join("gitdir");
    let back = fs::read_to_string(&back_file)
        .map_err(|e| format!("reading {}: {e}", back_file.display()))?;
    let back = canonical(&admin.join(back.trim_end()))?;
    if back != link {
        return Err(format!(
            "the worktree's git link {} names {}, which belongs to {}: it was changed, so the \
             agent's git directory cannot be told",
            link.display(),
            admin.display(),
            back.display()
        ));
    }
    Ok(admin)
}

/// What the agent's temp directory is: `TMPDIR` as the agent will see it.
fn temp_dir(env: &[(String, String)]) -> PathBuf {
    match env.iter().rev().find(|(k, _)| k == "TMPDIR") {
        Some((_, dir)) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir(),
    }
}

fn extra(path: &Path) -> Option<Extra> {
    let path = fs::canonicalize(path).ok()?;
    let dir = fs::metadata(&path).ok()?.is_dir();
    Some(Extra { path, dir })
}

fn canonical(path: &Path) -> Result<PathBuf, String> {
    fs::canonicalize(path).map_err(|e| format!("resolving {}: {e}", path.display()))
}

/// Make sure the branch's ref directory and its reflog exist: rules are
/// given to paths that exist, and a reflog git had to create would need
/// the right to create files beside every other branch's.
pub fn make_ref_paths(layout: &Layout) -> Result<(), String> {
    let (ref_dir, reflog) = branch_paths(&layout.repo.common, &layout.branch)?;
    let failed = |path: &Path, e: io::Error| format!("preparing {}: {e}", path.display());
    fs::create_dir_all(&ref_dir).map_err(|e| failed(&ref_dir, e))?;
    if let Some(dir) = reflog.parent() {
        fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    }
    fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&reflog)
        .map(drop)
        .map_err(|e| failed(&reflog, e))
}

/// Git settings for a confined agent, as `GIT_CONFIG_COUNT` entries after
/// any already in `env` or orch's environment: no automatic gc or
/// maintenance, which would repack refs (`packed-refs` is not writable)
/// and only fail after the commit anyway.
pub fn git_env(env: &[(String, String)]) -> Vec<(String, String)> {
    let inherited = std::env::var("GIT_CONFIG_COUNT").ok();
    let count = env
        .iter()
        .rev()
        .find(|(k, _)| k == "GIT_CONFIG_COUNT")
        .map(|(_, v)| v.clone())
        .or(inherited);
    config_entries(
        count.as_deref(),
        &[("gc.auto", "0"), ("maintenance.auto", "false")],
    )
}

/// `entries` appended to a `GIT_CONFIG_COUNT` list of `count` entries. A
/// count git would refuse is left alone (git says so itself).
fn config_entries(count: Option<&str>, entries: &[(&str, &str)]) -> Vec<(String, String)> {
    let Some(first) = count.map_or(Some(0), |c| c.trim().parse::<usize>().ok()) else {
        tracing::warn!(
            ?count,
            "GIT_CONFIG_COUNT is not a number: git settings not added"
        );
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .iter()
        .enumerate()
        .flat_map(|(i, (key, value))| {
            [
                (format!("GIT_CONFIG_KEY_{}", first + i), key.to_string()),
                (format!("GIT_CONFIG_VALUE_{}", first + i), value.to_string()),
            ]
        })
        .collect();
    out.push((
        "GIT_CONFIG_COUNT".into(),
        (first + entries.len()).to_string(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_settings_follow_the_ones_already_set() {
        let fresh = config_entries(None, &[("gc.auto", "0")]);
        assert_eq!(
            fresh,
            [
                ("GIT_CONFIG_KEY_0".to_string(), "gc.auto".to_string()),
                ("GIT_CONFIG_VALUE_0".to_string(), "0".to_string()),
                ("GIT_CONFIG_COUNT".to_string(), "1".to_string()),
            ]
        );
        let after = config_entries(
            Some("2"),
            &[("gc.auto", "0"), ("maintenance.auto", "false")],
        );
        assert_eq!(after[0], ("GIT_CONFIG_KEY_2".into(), "gc.auto".into()));
        assert_eq!(after[3], ("GIT_CONFIG_VALUE_3".into(), "false".into()));
        assert_eq!(after[4], ("GIT_CONFIG_COUNT".into(), "4".into()));
        assert!(config_entries(Some("many"), &[("gc.auto", "0")]).is_empty());
    }

    #[test]
    fn the_agent_s_tmpdir_is_its_temp_directory() {
        let env = vec![("TMPDIR".to_string(), "/var/tmp/agent".to_string())];
        assert_eq!(temp_dir(&env), PathBuf::from("/var/tmp/agent"));
        assert_eq!(temp_dir(&[]), std::env::temp_dir());
    }

    #[test]
    fn a_worktree_link_that_does_not_link_back_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = fs::canonicalize(dir.path()).expect("canonical");
        let (mine, other) = (root.join("wt/mine"), root.join("wt/other"));
        let admins = root.join("git/worktrees");
        for d in [&mine, &other, &admins.join("mine"), &admins.join("other")] {
            fs::create_dir_all(d).expect("mkdir");
        }
        for name in ["mine", "other"] {
            let wt = root.join("wt").join(name);
            let admin = admins.join(name);
            fs::write(wt.join(".git"), format!("gitdir: {}/\n", admin.display())).expect("link");
            fs::write(
                admin.join("gitdir"),
                format!("{}\n", wt.join(".git").display()),
            )
            .expect("back link");
        }
        assert_eq!(registration(&mine), Ok(admins.join("mine")));
        // An agent pointing its worktree at another's registration gets
        // nothing of it.
        fs::write(
            mine.join(".git"),
            format!("gitdir: {}\n", admins.join("other").display()),
        )
        .expect("rewrite");
        let err = registration(&mine).expect_err("other's registration");
        assert!(err.contains("it was changed"), "{err}");
        fs::write(mine.join(".git"), "not a link\n").expect("rewrite");
        assert!(registration(&mine).is_err());
    }
}
