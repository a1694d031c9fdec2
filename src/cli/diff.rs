//! `orch diff TASK [--stat]`: a task's changes against its merge base with
//! the base branch, from its worktree when it has one (so a running agent's
//! uncommitted work shows). Reads only: works with or without an orch
//! running. On a terminal it goes through the user's pager, coloured as git
//! colours; piped, it is plain text.

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::store::Store;
use crate::ui::pager::{colour_patch, colour_stat, Pager, LIKE_GIT};

/// `--stat` width when the output is not a terminal (as git).
const PIPE_WIDTH: usize = 80;

pub fn run(config_path: &Path, task: &str, stat: bool) -> i32 {
    let (config, repo, state_dir) = match crate::cli::config_and_repo(config_path) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let store = Store::open_read_only(&state_dir.join("state.db")).ok();
    if let Err(unknown) = super::known_task(Some(&config), store.as_ref(), task, &state_dir) {
        eprintln!("{unknown}");
        return 2;
    }
    // The base the run uses: the configured one, else the one the last
    // run used, else the branch checked out in the main worktree.
    let base = match &config.project.base_branch {
        Some(branch) => branch.clone(),
        None => match crate::cli::last_run_base(&state_dir, &repo)
            .map_or_else(|| repo.current_branch(), Ok)
        {
            Ok(branch) => branch,
            Err(err) => {
                eprintln!("orch: {err}");
                return 2;
            }
        },
    };
    let worktree = state_dir.join("worktrees").join(task);
    let diff = match repo.task_diff(task, &base, Some(&worktree)) {
        Ok(diff) => diff,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let terminal = std::io::stdout().is_terminal();
    if diff.files.is_empty() {
        if terminal {
            eprintln!("orch: orch/{task} has no changes against {base}");
        }
        return 0;
    }
    let colour = terminal && !crate::ui::no_color_wanted();
    let text = match (stat, colour) {
        (true, true) => colour_stat(&diff, terminal_width()),
        (true, false) => diff.stat_text(if terminal {
            terminal_width()
        } else {
            columns().unwrap_or(PIPE_WIDTH)
        }),
        (false, true) => colour_patch(&diff.patch_text()),
        (false, false) => diff.patch_text(),
    };
    if terminal {
        if let Some(pager) = Pager::from_env(repo.configured_pager()) {
            return match pager.show(text.as_bytes(), LIKE_GIT) {
                Ok(_) => 0,
                Err(err) => {
                    eprintln!("orch: cannot run the pager {:?}: {err}", pager.command);
                    1
                }
            };
        }
    }
    let mut out = std::io::stdout().lock();
    // A closed pipe (`orch diff x | head`) is the reader's choice, not a failure.
    crate::log_err(
        out.write_all(text.as_bytes()).and_then(|()| out.flush()),
        "writing the diff",
    );
    0
}

/// `$COLUMNS`, when set to a number.
fn columns() -> Option<usize> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|c| *c > 0)
}

fn terminal_width() -> usize {
    columns()
        .or_else(|| {
            crossterm::terminal::size()
                .ok()
                .map(|(c, _)| usize::from(c))
        })
        .unwrap_or(PIPE_WIDTH)
}
