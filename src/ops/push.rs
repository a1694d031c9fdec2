//! `git push` with the user's own git: the CLI, because libgit2 here is
//! built without network transports, and because the CLI is what knows
//! the user's credential helpers, SSH keys and `remote.*` settings.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::hooks::HookOutcome;
use super::process;
use crate::config::Policy;
use crate::engine::policy::backoff_delay;

/// Failed pushes are tried again this many times.
pub const PUSH_RETRIES: u32 = 5;
/// The first retry's delay; it doubles each time up to [`PUSH_BACKOFF_MAX`].
pub const PUSH_BACKOFF: Duration = Duration::from_secs(10);
pub const PUSH_BACKOFF_MAX: Duration = Duration::from_secs(10 * 60);

/// Push `refspec` (`orch/t`, `refs/heads/main:refs/heads/main`) to
/// `remote` (a remote's name or a URL) from the repository at `repo_root`.
/// Blocks until git is done or `timeout` passes (then git and whatever it
/// started are killed). git has no input and no terminal: a credential it
/// would have to ask for fails the push instead of waiting.
///
/// The error names the remote and the refspec, says how git ended and
/// gives git's own message.
pub fn push(
    repo_root: &Path,
    remote: &str,
    refspec: &str,
    timeout: Duration,
) -> Result<(), String> {
    let mut command = Command::new("git");
    command
        .args(["push", "--quiet", "--"])
        .args([remote, refspec])
        .current_dir(repo_root)
        .env("GIT_TERMINAL_PROMPT", "0");
    let run = process::run(command, timeout, process::GRACE);
    let how = match &run.outcome {
        HookOutcome::Exited(0) => return Ok(()),
        HookOutcome::FailedToStart(why) => format!("cannot run git: {why}"),
        other => format!("git {other}"),
    };
    let message = run.output.trim();
    let mut error = format!("pushing {refspec} to {remote}: {how}");
    if !message.is_empty() {
        error.push_str(": ");
        error.push_str(message);
    }
    tracing::info!(remote, refspec, "{error}");
    Err(error)
}

/// How long to wait before trying a push again after `failures` failed
/// ones (1 for the first failure), with `jitter` in `0..=1`; `None` once
/// [`PUSH_RETRIES`] retries have failed too. The same doubling backoff as
/// a task's retries.
pub fn retry_delay(failures: u32, jitter: f64) -> Option<Duration> {
    if failures == 0 || failures > PUSH_RETRIES {
        return None;
    }
    let policy = Policy {
        backoff: PUSH_BACKOFF,
        backoff_max: PUSH_BACKOFF_MAX,
        ..Policy::default()
    };
    Some(backoff_delay(&policy, failures, jitter))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A repository with one commit on `main` and a bare remote `origin`.
    fn repo_and_remote() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("repo");
        let bare = dir.path().join("remote.git");
        std::fs::create_dir(&repo).expect("mkdir");
        git(dir.path(), &["init", "--quiet", "--bare", "remote.git"]);
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(repo.join("a.txt"), "a\n").expect("write");
        git(&repo, &["add", "a.txt"]);
        git(
            &repo,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "commit",
                "--quiet",
                "-m",
                "a",
            ],
        );
        git(&repo, &["branch", "orch/t"]);
        let url = bare.display().to_string();
        git(&repo, &["remote", "add", "origin", &url]);
        (dir, repo, bare)
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn a_push_to_a_bare_remote_lands_the_ref() {
        let (_dir, repo, bare) = repo_and_remote();
        assert_eq!(push(&repo, "origin", "orch/t", LONG), Ok(()));
        assert_eq!(
            git(&bare, &["rev-parse", "refs/heads/orch/t"]),
            git(&repo, &["rev-parse", "orch/t"])
        );
        let url = bare.display().to_string();
        assert_eq!(push(&repo, &url, "main:refs/heads/trunk", LONG), Ok(()));
        assert_eq!(
            git(&bare, &["rev-parse", "refs/heads/trunk"]),
            git(&repo, &["rev-parse", "main"])
        );
    }

    #[test]
    fn a_missing_remote_names_itself_and_gits_message() {
        let (_dir, repo, _bare) = repo_and_remote();
        let error = push(&repo, "upstream", "orch/t", LONG).expect_err("no such remote");
        assert!(
            error.starts_with("pushing orch/t to upstream: git exited with status 128: "),
            "{error}"
        );
        assert!(
            error.contains("'upstream' does not appear to be a git repository"),
            "{error}"
        );
        // A ref that does not exist: git's own words.
        let error = push(&repo, "origin", "orch/none", LONG).expect_err("no such ref");
        assert!(
            error.contains("src refspec orch/none does not match any"),
            "{error}"
        );
    }

    #[test]
    fn a_push_that_hangs_is_killed_at_its_timeout() {
        let (_dir, repo, _bare) = repo_and_remote();
        // An "ssh" that never answers.
        let ssh = repo.join("fake-ssh");
        std::fs::write(&ssh, "#!/bin/sh\nsleep 300\n").expect("write");
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&ssh, mode).expect("chmod");
        git(
            &repo,
            &["config", "core.sshCommand", &ssh.display().to_string()],
        );
        let error = push(
            &repo,
            "ssh://example.invalid/x.git",
            "orch/t",
            Duration::from_millis(500),
        )
        .expect_err("timed out");
        assert!(
            error.starts_with(
                "pushing orch/t to ssh://example.invalid/x.git: git timed out and was killed"
            ),
            "{error}"
        );
    }

    #[test]
    fn retries_back_off_and_stop() {
        assert_eq!(retry_delay(0, 0.0), None);
        assert_eq!(retry_delay(1, 0.0), Some(PUSH_BACKOFF));
        assert_eq!(retry_delay(2, 0.0), Some(PUSH_BACKOFF * 2));
        assert_eq!(retry_delay(3, 1.0), Some(PUSH_BACKOFF.mul_f64(4.4)));
        assert_eq!(retry_delay(PUSH_RETRIES, 0.0), Some(PUSH_BACKOFF * 16));
        assert_eq!(retry_delay(PUSH_RETRIES + 1, 0.0), None);
    }
}
