//! Commands that talk to the orch running here (the server, or a
//! foreground `--no-tui` run) over its socket: `stop`, `attach`,
//! `approve`, `reject`, `task add`, and the task commands and `worktree
//! merge` when something runs (with nothing running those take the run
//! lock and act on state.db themselves: `cli::act`). `events` reads
//! state.db and follows the running orch's wake-ups.

use std::path::{Path, PathBuf};

use crate::control::client::{self, ClientError};
use crate::control::protocol::{Command, Reply};
use crate::engine::message::NewTask;
use crate::engine::Request;

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            eprintln!("orch: cannot start the async runtime: {err}");
            None
        }
    }
}

fn nothing_running(state_dir: &Path, what: &str) -> i32 {
    eprintln!(
        "orch: nothing is running here ({}); {what} needs a running orch: start one with `orch` or `orch --no-tui`",
        state_dir.display()
    );
    1
}

/// Print a reply; its exit status.
fn said(reply: Reply) -> i32 {
    if reply.ok {
        println!("{}", reply.message);
    } else {
        eprintln!("{}", reply.message);
    }
    reply.code
}

/// Send `command`; `None` when nothing runs here.
fn send(state_dir: &Path, command: Command) -> Result<Option<Reply>, i32> {
    let runtime = runtime().ok_or(1)?;
    match runtime.block_on(client::command(state_dir, command)) {
        Ok(reply) => Ok(Some(reply)),
        Err(ClientError::NotRunning(_)) => Ok(None),
        Err(err) => {
            eprintln!("orch: {err}");
            Err(1)
        }
    }
}

fn state_dir(config_path: &Path) -> PathBuf {
    super::state_dir_for(config_path)
}

/// `orch task retry|resolve|cancel|skip` and `orch worktree merge`.
pub fn act(config_path: &Path, request: Request) -> i32 {
    let dir = state_dir(config_path);
    let command = match request.clone() {
        Request::Retry { task, fresh } => Command::Retry { task, fresh },
        Request::Resolve { task } => Command::Resolve { task },
        Request::Cancel { task } => Command::Cancel { task },
        Request::Skip { task, reason } => Command::Skip { task, reason },
        Request::Merge { task } => Command::Merge { task },
        _ => return super::act::run(config_path, request),
    };
    match send(&dir, command) {
        Ok(Some(reply)) => said(reply),
        Ok(None) => super::act::run(config_path, request),
        Err(code) => code,
    }
}

pub fn add_task(config_path: &Path, task: NewTask) -> i32 {
    // An agent's subtask goes to the orch that runs the agent.
    if let Some(socket) = std::env::var_os("ORCH_SOCKET").filter(|s| !s.is_empty()) {
        let Some(runtime) = runtime() else {
            return 1;
        };
        return match runtime.block_on(client::command_at(
            Path::new(&socket),
            Command::AddTask(task),
        )) {
            Ok(reply) => said(reply),
            Err(err) => {
                eprintln!("orch: no orch answers on ORCH_SOCKET: {err}");
                1
            }
        };
    }
    let dir = state_dir(config_path);
    match send(&dir, Command::AddTask(task)) {
        Ok(Some(reply)) => said(reply),
        Ok(None) => nothing_running(&dir, "adding a task"),
        Err(code) => code,
    }
}

pub fn approve(config_path: &Path, task: &str, reason: Option<String>) -> i32 {
    let dir = state_dir(config_path);
    let command = Command::Approve {
        task: task.to_string(),
        reason,
    };
    match send(&dir, command) {
        Ok(Some(reply)) => said(reply),
        Ok(None) => nothing_running(&dir, "approving"),
        Err(code) => code,
    }
}

pub fn reject(config_path: &Path, task: &str, reason: String) -> i32 {
    let dir = state_dir(config_path);
    if reason.trim().is_empty() {
        eprintln!("orch: a rejection needs a reason (--reason)");
        return 2;
    }
    let command = Command::Reject {
        task: task.to_string(),
        reason,
    };
    match send(&dir, command) {
        Ok(Some(reply)) => said(reply),
        Ok(None) => nothing_running(&dir, "rejecting"),
        Err(code) => code,
    }
}

/// `orch stop`: 0 once the server has ended, or when nothing ran.
pub fn stop(config_path: &Path) -> i32 {
    let dir = state_dir(config_path);
    let Some(runtime) = runtime() else { return 1 };
    match runtime.block_on(client::stop(&dir)) {
        Ok(code) => code,
        Err(ClientError::NotRunning(_)) => match crate::session::lock_holder(&dir) {
            Some(pid) => {
                eprintln!(
                        "orch: an orch (pid {pid}) holds {} but does not answer on its socket; \
                         it may be a one-off command finishing, or an older orch: `kill {pid}` stops it",
                        dir.display()
                    );
                1
            }
            None => {
                println!("orch: nothing is running here; nothing to stop");
                0
            }
        },
        Err(err) => {
            eprintln!("orch: {err}");
            1
        }
    }
}

/// `orch attach TASK`.
pub fn attach(config_path: &Path, task: &str) -> i32 {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!("orch: attach needs a terminal (stdin and stdout)");
        return 2;
    }
    let dir = state_dir(config_path);
    let Some(runtime) = runtime() else { return 1 };
    match runtime.block_on(client::attach(&dir, task)) {
        Ok(code) => code,
        Err(ClientError::NotRunning(_)) => nothing_running(&dir, "attaching"),
        Err(err) => {
            eprintln!("orch: {err}");
            1
        }
    }
}

/// `orch events [--follow] [--json]`.
pub fn events(config_path: &Path, follow: bool, json: bool) -> i32 {
    let dir = state_dir(config_path);
    if !follow {
        return super::events::run(&dir, json, None);
    }
    match client::Watcher::start(&dir) {
        Some(mut watcher) => super::events::run(&dir, json, Some(&mut watcher)),
        None => {
            let code = super::events::run(&dir, json, None);
            eprintln!("orch: nothing is running here; no more events will come");
            code
        }
    }
}
