//! The policy, as plain functions: which level a mode gets from the
//! kernel's Landlock ABI ([`decide`]), and which paths an agent may write
//! ([`rules`]: paths in, rules out). Nothing here touches a file.

use std::path::{Path, PathBuf};

use super::{Grant, Level, Rule};
use crate::config::SandboxMode;

/// The first ABI that confines every way of changing a file: ABI 1 and 2
/// handle no `truncate(2)`, so an agent could still empty any file it may
/// open for reading.
pub const FULL_ABI: u8 = 3;

/// What the running kernel offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Landlock with this ABI.
    Available(u8),
    /// No Landlock, and why (not built in, disabled at boot).
    Unavailable(String),
}

/// What to do with an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start it as it is; record `level`.
    Unconfined(Level),
    /// Start it confined by the write rights of `abi`.
    Confine { abi: u8, level: Level },
    /// Do not start it: the cause.
    Refuse(String),
}

pub fn decide(mode: SandboxMode, support: &Support) -> Decision {
    match (mode, support) {
        (SandboxMode::None, _) => Decision::Unconfined(Level::None),
        (_, Support::Available(abi)) if *abi >= FULL_ABI => Decision::Confine {
            abi: *abi,
            level: Level::Worktree,
        },
        (SandboxMode::Worktree, Support::Available(abi)) => Decision::Refuse(format!(
            "sandbox = \"worktree\" needs Landlock ABI {FULL_ABI} (Linux 6.2) or later, and this \
             kernel has ABI {abi}, which cannot stop truncate(2); the agent was not started \
             (sandbox = \"best-effort\" runs it with what this kernel has)"
        )),
        (SandboxMode::Worktree, Support::Unavailable(why)) => Decision::Refuse(format!(
            "sandbox = \"worktree\" needs Landlock, and {why}; the agent was not started \
             (sandbox = \"best-effort\" runs it unconfined)"
        )),
        (SandboxMode::BestEffort, Support::Available(abi)) => Decision::Confine {
            abi: *abi,
            level: Level::Partial(*abi),
        },
        (SandboxMode::BestEffort, Support::Unavailable(_)) => {
            Decision::Unconfined(Level::Unavailable)
        }
    }
}

/// A path an agent may write besides its own, and whether it is a
/// directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    pub path: PathBuf,
    pub dir: bool,
}

/// What no agent may write, beyond its own worktree and git state; all
/// absolute and canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// The user's checkout (the main worktree).
    pub checkout: PathBuf,
    /// The git directory all worktrees share.
    pub common: PathBuf,
    /// orch's state directory.
    pub state_dir: PathBuf,
}

/// Every path the rules are made of; all absolute and canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The task's worktree.
    pub worktree: PathBuf,
    /// Its registration in the git directory (`<common>/worktrees/NAME`):
    /// HEAD, index, logs of this worktree only.
    pub admin: PathBuf,
    pub repo: Protected,
    /// The task's branch, `orch/TASK`.
    pub branch: String,
    /// Scratch directories written whole: the temp directory, `/dev/shm`.
    pub scratch: Vec<Extra>,
    /// The agent's `writable` paths that exist.
    pub writable: Vec<Extra>,
    /// Terminal and null devices.
    pub devices: Vec<Extra>,
}

/// Where git keeps `branch`'s ref and reflog under `common`: the ref's
/// directory (shared with every branch of the same prefix) and the reflog
/// file. A branch without a prefix would share `refs/heads/` itself with
/// every branch, which the rules refuse to grant.
pub fn branch_paths(common: &Path, branch: &str) -> Result<(PathBuf, PathBuf), String> {
    let bad = || format!("branch {branch:?} has no directory of its own under refs/heads/");
    let (prefix, name) = branch.rsplit_once('/').ok_or_else(bad)?;
    if prefix.is_empty() || name.is_empty() || branch.split('/').any(|p| p == ".." || p == ".") {
        return Err(bad());
    }
    Ok((
        common.join("refs/heads").join(prefix),
        common.join("logs/refs/heads").join(branch),
    ))
}

/// The rules for `layout`, or why no sound ruleset exists for it (a
/// granted path that would expose the checkout, the git directory or
/// orch's state).
pub fn rules(layout: &Layout) -> Result<Vec<Rule>, String> {
    let l = layout;
    let (common, worktrees) = (&l.repo.common, l.repo.state_dir.join("worktrees"));
    if !l.worktree.starts_with(&worktrees) || l.worktree == worktrees {
        return Err(format!(
            "{} is not one of orch's task worktrees (under {})",
            l.worktree.display(),
            worktrees.display()
        ));
    }
    if l.admin.parent() != Some(&common.join("worktrees")) {
        return Err(format!(
            "{} is not a worktree registration in {}",
            l.admin.display(),
            common.display()
        ));
    }
    let (ref_dir, reflog) = branch_paths(common, &l.branch)?;
    check_extras(&l.repo, &l.scratch, &l.writable)?;
    let mut out = vec![
        Rule::new(&l.worktree, Grant::Tree),
        Rule::new(&l.admin, Grant::Tree),
        Rule::new(common.join("objects"), Grant::Tree),
        Rule::new(ref_dir, Grant::Files),
        Rule::new(reflog, Grant::Write),
    ];
    for extra in l.scratch.iter().chain(&l.writable) {
        out.push(Rule::new(&extra.path, grant_for(extra)));
    }
    out.extend(
        l.devices
            .iter()
            .map(|extra| Rule::new(&extra.path, Grant::Write)),
    );
    Ok(out)
}

fn grant_for(extra: &Extra) -> Grant {
    if extra.dir {
        Grant::Tree
    } else {
        Grant::Write
    }
}

/// The paths granted besides the task's own (`scratch`: the temp
/// directories, `writable`: the agent's list) must not hold the checkout,
/// the git directory or orch's state, nor lie inside the last two (inside
/// the checkout is the user's explicit choice).
pub fn check_extras(repo: &Protected, scratch: &[Extra], writable: &[Extra]) -> Result<(), String> {
    let named = |what, extras: &[Extra]| {
        extras
            .iter()
            .map(move |e| (what, e.path.clone()))
            .collect::<Vec<_>>()
    };
    for (what, path) in named("the temp directory", scratch)
        .into_iter()
        .chain(named("writable path", writable))
    {
        check_extra(repo, what, &path)?;
    }
    Ok(())
}

fn check_extra(repo: &Protected, what: &str, path: &Path) -> Result<(), String> {
    let protected = [
        (&repo.checkout, "the repository's checkout"),
        (&repo.common, "the repository's git directory"),
        (&repo.state_dir, "orch's state directory"),
    ];
    for (dir, name) in protected {
        if dir.starts_with(path) {
            return Err(format!(
                "{what} {} holds {name} {}: a confined agent could write it{}",
                path.display(),
                dir.display(),
                if what.starts_with("the temp") {
                    "; set TMPDIR to a directory outside the repository"
                } else {
                    ""
                }
            ));
        }
    }
    for (dir, name) in &protected[1..] {
        if path.starts_with(dir) {
            return Err(format!(
                "{what} {} is inside {name} {}: a confined agent must not write there",
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            worktree: "/src/app/.orch/worktrees/api".into(),
            admin: "/src/app/.git/worktrees/api".into(),
            repo: Protected {
                checkout: "/src/app".into(),
                common: "/src/app/.git".into(),
                state_dir: "/src/app/.orch".into(),
            },
            branch: "orch/api".into(),
            scratch: vec![
                Extra {
                    path: "/tmp".into(),
                    dir: true,
                },
                Extra {
                    path: "/dev/shm".into(),
                    dir: true,
                },
            ],
            writable: vec![
                Extra {
                    path: "/home/ada/.cache".into(),
                    dir: true,
                },
                Extra {
                    path: "/home/ada/.claude.json".into(),
                    dir: false,
                },
            ],
            devices: vec![
                Extra {
                    path: "/dev/null".into(),
                    dir: false,
                },
                Extra {
                    path: "/dev/pts".into(),
                    dir: true,
                },
            ],
        }
    }

    #[test]
    fn an_agent_writes_its_worktree_its_branch_and_scratch_space_only() {
        let rules = rules(&layout()).expect("rules");
        let expected = [
            ("/src/app/.orch/worktrees/api", Grant::Tree),
            ("/src/app/.git/worktrees/api", Grant::Tree),
            ("/src/app/.git/objects", Grant::Tree),
            ("/src/app/.git/refs/heads/orch", Grant::Files),
            ("/src/app/.git/logs/refs/heads/orch/api", Grant::Write),
            ("/tmp", Grant::Tree),
            ("/dev/shm", Grant::Tree),
            ("/home/ada/.cache", Grant::Tree),
            ("/home/ada/.claude.json", Grant::Write),
            ("/dev/null", Grant::Write),
            ("/dev/pts", Grant::Write),
        ];
        let got: Vec<(&str, Grant)> = rules
            .iter()
            .map(|r| (r.path.to_str().expect("utf-8"), r.grant))
            .collect();
        assert_eq!(got, expected);
        // Nothing of the user's or the shared git state is granted.
        for denied in [
            "/src/app/README.md",
            "/src/app/.git/config",
            "/src/app/.git/index",
            "/src/app/.git/hooks/pre-commit",
            "/src/app/.git/packed-refs",
            "/src/app/.git/refs/heads/main",
            "/src/app/.git/logs/refs/heads/orch/web",
            "/src/app/.git/worktrees/web/index",
            "/src/app/.orch/state.db",
            "/src/app/.orch/worktrees/web/README.md",
        ] {
            assert!(
                !rules.iter().any(|r| Path::new(denied).starts_with(&r.path)),
                "{denied} is writable"
            );
        }
    }

    #[test]
    fn a_branch_ref_directory_is_the_branch_prefix() {
        let common = Path::new("/r/.git");
        assert_eq!(
            branch_paths(common, "orch/a.b-c"),
            Ok((
                PathBuf::from("/r/.git/refs/heads/orch"),
                PathBuf::from("/r/.git/logs/refs/heads/orch/a.b-c")
            ))
        );
        assert_eq!(
            branch_paths(common, "orch/x/y").map(|(dir, _)| dir),
            Ok(PathBuf::from("/r/.git/refs/heads/orch/x"))
        );
        for bad in ["main", "/main", "orch/", "orch/../main", "./x"] {
            assert!(branch_paths(common, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_grant_that_would_expose_the_repository_is_refused() {
        let with_scratch = |path: &str| {
            let mut l = layout();
            l.scratch = vec![Extra {
                path: path.into(),
                dir: true,
            }];
            rules(&l)
        };
        let with_writable = |path: &str| {
            let mut l = layout();
            l.writable = vec![Extra {
                path: path.into(),
                dir: true,
            }];
            rules(&l)
        };
        // A repository under the temp directory (as in a test run).
        let err = with_scratch("/src").expect_err("temp holds the checkout");
        assert!(
            err.contains("holds the repository's checkout /src/app"),
            "{err}"
        );
        assert!(err.contains("set TMPDIR"), "{err}");
        for (path, says) in [
            ("/src/app", "holds the repository's checkout"),
            ("/", "holds the repository's checkout"),
            (
                "/src/app/.git/hooks",
                "inside the repository's git directory",
            ),
            ("/src/app/.git", "holds the repository's git directory"),
            ("/src/app/.orch/logs", "inside orch's state directory"),
            (
                "/src/app/.orch/worktrees/web",
                "inside orch's state directory",
            ),
        ] {
            let err = with_writable(path).expect_err(path);
            assert!(err.contains(says), "{path}: {err}");
        }
        // Inside the checkout, outside .git and .orch: the user's choice.
        assert!(with_writable("/src/app/target").is_ok());
        assert!(with_writable("/home/ada").is_ok());
    }

    #[test]
    fn foreign_places_are_not_taken_for_the_task_s_own() {
        let mut l = layout();
        l.worktree = "/src/app".into();
        assert!(rules(&l).is_err_and(|e| e.contains("not one of orch's task worktrees")));
        let mut l = layout();
        l.admin = "/src/app/.git".into();
        assert!(rules(&l).is_err_and(|e| e.contains("not a worktree registration")));
        let mut l = layout();
        l.branch = "api".into();
        assert!(rules(&l).is_err_and(|e| e.contains("no directory of its own")));
    }

    #[test]
    fn each_mode_gets_what_the_kernel_can_do() {
        let none = Support::Unavailable("Landlock is not enabled in this kernel".into());
        assert_eq!(
            decide(SandboxMode::None, &Support::Available(7)),
            Decision::Unconfined(Level::None)
        );
        for mode in [SandboxMode::Worktree, SandboxMode::BestEffort] {
            for abi in [3, 6, 7] {
                assert_eq!(
                    decide(mode, &Support::Available(abi)),
                    Decision::Confine {
                        abi,
                        level: Level::Worktree
                    }
                );
            }
        }
        assert_eq!(
            decide(SandboxMode::BestEffort, &Support::Available(2)),
            Decision::Confine {
                abi: 2,
                level: Level::Partial(2)
            }
        );
        assert_eq!(
            decide(SandboxMode::BestEffort, &none),
            Decision::Unconfined(Level::Unavailable)
        );
        let Decision::Refuse(old) = decide(SandboxMode::Worktree, &Support::Available(1)) else {
            panic!("ABI 1 cannot confine truncation");
        };
        assert!(old.contains("has ABI 1"), "{old}");
        let Decision::Refuse(missing) = decide(SandboxMode::Worktree, &none) else {
            panic!("no Landlock, no worktree sandbox");
        };
        assert!(missing.contains("not enabled in this kernel"), "{missing}");
        assert!(missing.contains("not started"), "{missing}");
    }

    #[test]
    fn levels_read_as_recorded() {
        assert_eq!(Level::None.to_string(), "none");
        assert_eq!(Level::Worktree.to_string(), "worktree");
        assert_eq!(Level::Partial(2).to_string(), "partial (ABI 2)");
        assert_eq!(Level::Unavailable.to_string(), "unavailable");
    }
}
