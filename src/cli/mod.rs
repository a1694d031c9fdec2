//! The command line (clap) and the dispatch to each command.

mod act;
mod agent;
mod check;
mod diff;
pub mod events;
mod init;
mod logs;
mod plain_log;
mod remote;
mod run;
mod status;
mod worktree;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::engine::Request;

#[derive(Debug, Parser)]
#[command(
    name = "orch",
    version,
    about = "A terminal control room for running many AI coding agents at once on one repository",
    long_about = "Runs the plan in orch.toml: each task's agent in its own pseudo-terminal, \
                  git worktree and branch, with dependencies, approvals, retries, timeouts and \
                  health checks. State lives in .orch/state.db, so an interrupted run resumes.\n\n\
                  Exit status of a run: 0 every task done (and merged, where merge = \"auto\"); \
                  1 some task ended needs_review, blocked, rejected or cancelled, or a merge \
                  conflicted or was left waiting; 2 bad usage or config; 3 an approval was still \
                  pending when the run gave up; 130 interrupted."
)]
pub struct Cli {
    /// The plan to run.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "orch.toml",
        env = "ORCH_CONFIG"
    )]
    pub config: PathBuf,

    /// Run headless: progress lines on stdout instead of the control room.
    #[arg(long)]
    pub no_tui: bool,

    /// Write a JUnit XML report (one testcase per task) when the run ends.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Write a JSON report (tasks, attempts, stages) when the run ends.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Approve every gate: tasks that need approval before they start and
    /// merges that need it (`approval = "before_merge"`).
    #[arg(long)]
    pub approve_all: bool,

    /// Headless: how long a task may wait for approval before it is rejected.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg, default_value = "0s")]
    pub approval_timeout: Duration,

    /// Control room colours: a theme name (dark, light, ansi16, or your own
    /// in ~/.config/orch/themes/). Overrides `theme` in the `ui` table of orch.toml.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,

    /// Control room keys: a keymap name (default, vim, or your own in
    /// ~/.config/orch/keymaps/). Overrides `keymap` in the `ui` table of orch.toml.
    #[arg(long, value_name = "NAME")]
    pub keymap: Option<String>,

    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Write a commented orch.toml for this repository: its base branch,
    /// the agent CLIs installed here (claude, codex, aider, gemini) and a
    /// first task to edit. Never overwrites one.
    Init,
    /// Print shell completions for orch (bash, zsh, fish, elvish,
    /// powershell), e.g. `orch completions bash > ~/.local/share/bash-completion/completions/orch`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Validate the config and check each agent's command is on PATH; run nothing.
    Check,
    /// Show tasks and agents from state.db (works with or without a running orch).
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Task worktrees: merge a done one, list them (and leftovers), or remove finished ones.
    Worktree {
        #[command(subcommand)]
        action: WorktreeCmd,
    },
    /// Change the plan: add a task, retry, resolve a merge conflict, cancel,
    /// skip. Goes to the running orch here; with none running, retry,
    /// resolve, cancel and skip are recorded and run at the next start.
    Task {
        #[command(subcommand)]
        action: TaskCmd,
    },
    /// Print the output of a task's attempt: on a terminal as the agent's
    /// terminal showed it, in plain text (--plain); piped, the raw bytes
    /// with their escape codes (--raw).
    Logs {
        task: String,
        /// Which attempt (default: the latest).
        #[arg(long)]
        attempt: Option<u32>,
        /// Keep printing output as the attempt runs.
        #[arg(long, short)]
        follow: bool,
        /// Plain text through the screen model: redraws applied, no escape
        /// codes (the default on a terminal).
        #[arg(long, conflicts_with = "raw")]
        plain: bool,
        /// The bytes the agent wrote, escape codes and all (the default
        /// when piped).
        #[arg(long)]
        raw: bool,
    },
    /// Stop this repository's server: agents are stopped cleanly (their
    /// attempts saved as interrupted), state is saved, the next start resumes.
    Stop,
    /// Attach this terminal to a running agent's terminal; Ctrl-] detaches
    /// (the agent keeps running).
    Attach { task: String },
    /// Approve a task waiting at a gate (before it starts, or before its merge).
    Approve {
        task: String,
        /// Recorded with the approval.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a task waiting at a gate; the reason is recorded and shown.
    Reject {
        task: String,
        #[arg(long)]
        reason: String,
    },
    /// Every event in state.db (state changes, merges, notes), oldest first;
    /// with --follow, new ones as they happen, until the run ends.
    Events {
        #[arg(long, short)]
        follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// For agents orch runs: say you are alive, how far you are and what
    /// you are doing; shown in the control room and `orch status`. Uses
    /// ORCH_SOCKET and ORCH_TOKEN from the environment orch gave the agent.
    Heartbeat {
        /// Percent done, 0 to 100 (kept until the next heartbeat says otherwise).
        #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(0..=100))]
        progress: Option<u8>,
        /// What you are doing, in one line (up to 200 characters; "" clears it).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// You asked something and wait for the answer: you join the
        /// attention queue with this question, and are never taken for
        /// stalled (input_timeout decides how long you may wait).
        #[arg(long, value_name = "QUESTION", conflicts_with_all = ["idle", "busy"])]
        waiting: Option<String>,
        /// You finished your turn and wait for the next prompt.
        #[arg(long, conflicts_with = "busy")]
        idle: bool,
        /// You are working (again).
        #[arg(long)]
        busy: bool,
        /// The conversation you are in, for a later attempt to resume
        /// (the agent's `resume` command gets it as {session_id}).
        #[arg(long, value_name = "ID")]
        session_id: Option<String>,
    },
    /// Messages between agents: `send` one to a task's agent (from an
    /// agent, or from you), `poll` for your own (agents only).
    Msg {
        #[command(subcommand)]
        action: MsgCmd,
    },
    /// What an agent CLI's own hooks run (not for direct use): Claude Code's
    /// hooks with the event's JSON on stdin, Codex's notify with it as the
    /// last argument; told to orch as a heartbeat. Prints nothing, always
    /// exits 0: a hook must never disturb its agent.
    #[command(name = "__hook", hide = true)]
    Hook {
        /// The agent's kind: claude-code or codex.
        kind: String,
        /// The event's JSON (Codex); read from stdin when missing.
        payload: Option<String>,
    },
    /// The server process `orch` starts in the background (not for direct use).
    #[command(name = "__server", hide = true)]
    Server {
        #[arg(long, default_value_t = 120)]
        cols: u16,
        #[arg(long, default_value_t = 40)]
        rows: u16,
    },
    /// The trampoline a confined agent starts through (not for direct use):
    /// restrict this process with Landlock, then exec the command.
    #[command(name = "__confine", hide = true)]
    Confine {
        /// The Landlock ABI whose write rights are handled.
        #[arg(long)]
        abi: u8,
        /// A directory to write anything beneath.
        #[arg(long, value_name = "DIR")]
        tree: Vec<PathBuf>,
        /// A directory to create, write and remove files in.
        #[arg(long, value_name = "DIR")]
        files: Vec<PathBuf>,
        /// A file (or the files beneath a directory) to write in place.
        #[arg(long, value_name = "PATH")]
        write: Vec<PathBuf>,
        /// The agent's program and arguments.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Show a task's changes against its merge base with the base branch,
    /// including uncommitted work in its worktree (through your pager on a
    /// terminal).
    Diff {
        task: String,
        /// Only the files changed, with counts, like `git diff --stat`.
        #[arg(long)]
        stat: bool,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum TaskCmd {
    /// Add a task to the running plan (kept in state.db, so a restart or an
    /// edit of orch.toml keeps it). Adding an id that exists changes nothing
    /// and says its state.
    Add {
        #[arg(long)]
        id: String,
        /// One of the config's agents.
        #[arg(long)]
        agent: String,
        #[arg(long)]
        prompt: String,
        /// Tasks that must be done first (repeat, or separate with commas).
        #[arg(long, value_delimiter = ',')]
        depends_on: Vec<String>,
        #[arg(long)]
        title: Option<String>,
        /// Add it as a subtask of this task: it starts from that task's
        /// work, and that task waits for it, then runs again with its
        /// subtasks' work merged in.
        #[arg(long)]
        parent: Option<String>,
    },
    /// Queue a task that needs review, was rejected or is retrying.
    Retry {
        task: String,
        /// Start anew from the base branch; the old branch is kept under a
        /// backup name (also for a done task that is not merged).
        #[arg(long)]
        fresh: bool,
    },
    /// Hand a merge conflict back to the task's agent: a new attempt in its
    /// worktree with the base merged in and the conflict markers in place.
    Resolve { task: String },
    /// Mark the task cancelled (final); its branch is kept.
    Cancel { task: String },
    /// Mark the task done without running it.
    Skip {
        task: String,
        /// Recorded with the skip.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum MsgCmd {
    /// Send a message to a task's agent. It is kept in state.db until an
    /// agent of that task reads it with `orch msg poll`, also when the task
    /// has not started yet or orch restarts in between.
    Send {
        /// The task whose agent it is for.
        #[arg(long, value_name = "TASK")]
        to: String,
        /// The message (up to 4096 bytes; lines allowed). Read from stdin
        /// when missing or `-`.
        text: Option<String>,
    },
    /// For agents orch runs: print the messages for your task, oldest
    /// first, each once (`#ID from TASK: TEXT`). Exit 0 whether or not any
    /// came.
    Poll {
        /// Wait this long for the first message when none is there (up to 1h).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
        wait: Option<Duration>,
        /// One JSON object a line: id, from, from_attempt, text, sent_at (unix ms).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorktreeCmd {
    /// Merge a done task's branch onto the base branch (a no-fast-forward
    /// merge commit). Exit 0 merged, 1 conflict or waiting, 3 waiting for
    /// the merge's approval.
    Merge { task: String },
    /// Every task worktree with its task's state, head and whether it is
    /// dirty, then the worktrees and orch branches state.db has no record of.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove the worktrees of the named tasks, or of every merged,
    /// cancelled or skipped task, and delete the branches already in the
    /// base branch; says what it keeps and why. Needs no orch running here.
    Cleanup {
        /// Tasks whose worktrees to remove (default: every merged, cancelled or skipped task).
        tasks: Vec<String>,
        /// Also remove the named tasks' worktrees with uncommitted changes (they are lost).
        #[arg(long)]
        force: bool,
        /// Say what would be removed and kept, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

/// Run the command line; returns the process exit status.
pub fn main() -> i32 {
    crate::panic_guard::install();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
        }
    };
    let needs_config = !matches!(
        cli.command,
        Some(Sub::Status { .. })
            | Some(Sub::Init)
            | Some(Sub::Completions { .. })
            | Some(Sub::Logs { .. })
            | Some(Sub::Events { .. })
            | Some(Sub::Confine { .. })
            | Some(Sub::Heartbeat { .. })
            | Some(Sub::Msg { .. })
            | Some(Sub::Hook { .. })
    ) && !agent_adding_a_task(&cli.command);
    if needs_config {
        if let Some(message) = missing_config(&cli.config) {
            eprintln!("{message}");
            return 2;
        }
    }
    match &cli.command {
        Some(Sub::Init) => init::run(&cli.config),
        Some(Sub::Completions { shell }) => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "orch", &mut std::io::stdout());
            0
        }
        Some(Sub::Check) => check::run(&cli.config),
        Some(Sub::Status { json }) => status::run(&cli.config, *json),
        Some(Sub::Logs {
            task,
            attempt,
            follow,
            plain,
            raw,
        }) => {
            use std::io::IsTerminal;
            let plain = *plain || (!*raw && std::io::stdout().is_terminal());
            logs::run(&cli.config, task, *attempt, *follow, plain)
        }
        Some(Sub::Task { action }) => match task_request(action) {
            Ok(request) => remote::act(&cli.config, request),
            Err(new) => remote::add_task(&cli.config, *new),
        },
        Some(Sub::Stop) => remote::stop(&cli.config),
        Some(Sub::Attach { task }) => remote::attach(&cli.config, task),
        Some(Sub::Approve { task, reason }) => remote::approve(&cli.config, task, reason.clone()),
        Some(Sub::Reject { task, reason }) => remote::reject(&cli.config, task, reason.clone()),
        Some(Sub::Events { follow, json }) => remote::events(&cli.config, *follow, *json),
        Some(Sub::Heartbeat {
            progress,
            note,
            waiting,
            idle,
            busy,
            session_id,
        }) => {
            use crate::agent::waiting::Seen;
            let activity = match (waiting, idle, busy) {
                (Some(question), _, _) => Some(Seen::Waiting {
                    question: question.clone(),
                }),
                (None, true, _) => Some(Seen::Idle),
                (None, false, true) => Some(Seen::Busy),
                (None, false, false) => None,
            };
            agent::heartbeat(agent::Beat {
                progress: *progress,
                note: note.clone(),
                activity,
                session_id: session_id.clone(),
            })
        }
        Some(Sub::Hook { kind, payload }) => agent::hook(kind, payload.clone()),
        Some(Sub::Msg { action }) => match action {
            MsgCmd::Send { to, text } => agent::msg_send(&cli.config, to, text.clone()),
            MsgCmd::Poll { wait, json } => agent::msg_poll(wait.unwrap_or_default(), *json),
        },
        Some(Sub::Server { cols, rows }) => {
            crate::control::daemon::server_main(&crate::control::daemon::ServerArgs {
                config: cli.config.clone(),
                cols: *cols,
                rows: *rows,
            })
        }
        Some(Sub::Confine {
            abi,
            tree,
            files,
            write,
            command,
        }) => {
            use crate::agent::sandbox::{trampoline, Confine};
            let rules = trampoline::rules(tree.clone(), files.clone(), write.clone());
            trampoline::run(&Confine { abi: *abi, rules }, command)
        }
        Some(Sub::Diff { task, stat }) => diff::run(&cli.config, task, *stat),
        Some(Sub::Worktree { action }) => match action {
            WorktreeCmd::Merge { task } => {
                remote::act(&cli.config, Request::Merge { task: task.clone() })
            }
            WorktreeCmd::List { json } => worktree::list(&cli.config, *json),
            WorktreeCmd::Cleanup {
                tasks,
                force,
                dry_run,
            } => worktree::cleanup(&cli.config, tasks, *force, *dry_run),
        },
        None => run::run(&cli),
    }
}

/// The request a task command makes; adding a task is its own kind.
fn task_request(action: &TaskCmd) -> Result<Request, Box<crate::engine::message::NewTask>> {
    Ok(match action.clone() {
        TaskCmd::Retry { task, fresh } => Request::Retry { task, fresh },
        TaskCmd::Resolve { task } => Request::Resolve { task },
        TaskCmd::Cancel { task } => Request::Cancel { task },
        TaskCmd::Skip { task, reason } => Request::Skip { task, reason },
        TaskCmd::Add {
            id,
            agent,
            prompt,
            depends_on,
            title,
            parent,
        } => {
            return Err(Box::new(crate::engine::message::NewTask {
                id,
                agent,
                prompt,
                title,
                depends_on,
                parent,
            }))
        }
    })
}

/// A task the plan (`config`, where it loads) or the store knows; else the
/// message for an unknown one, with a suggestion.
fn known_task(
    config: Option<&crate::config::Config>,
    store: Option<&crate::store::Store>,
    task: &str,
    state_dir: &std::path::Path,
) -> Result<(), String> {
    let in_plan = config.is_some_and(|c| c.tasks.iter().any(|t| t.id == task));
    if in_plan || store.is_some_and(|s| s.task(task).ok().flatten().is_some()) {
        return Ok(());
    }
    let ids: Vec<String> = match (config, store) {
        (Some(c), _) => c.tasks.iter().map(|t| t.id.clone()).collect(),
        (None, Some(s)) => s
            .tasks()
            .map(|rows| rows.into_iter().map(|r| r.id).collect())
            .unwrap_or_default(),
        (None, None) => Vec::new(),
    };
    let from = config.map_or_else(
        || state_dir.display().to_string(),
        |c| c.path.display().to_string(),
    );
    Err(format!(
        "orch: no task {task:?} in {from}{}",
        crate::tomldoc::did_you_mean(task, ids.iter().map(String::as_str))
    ))
}

/// The config at `path`, its repository and its state directory, for the
/// commands that read them; an error is printed and its exit status
/// returned.
fn config_and_repo(
    path: &std::path::Path,
) -> Result<(crate::config::Config, crate::git::Repo, PathBuf), i32> {
    let config = crate::session::load_config(path).map_err(|err| {
        eprintln!("{err}");
        err.exit_code()
    })?;
    let repo = crate::git::Repo::discover(&config.root).map_err(|err| {
        eprintln!("orch: {err}");
        2
    })?;
    let state_dir = crate::session::absolute(&config.root.join(&config.project.state_dir));
    Ok((config, repo, state_dir))
}

/// The base branch the latest run here used, when the config names none:
/// what a command run later (a merge, a diff) must use, whatever branch is
/// checked out now.
pub(crate) use run::init_tracing_to;

pub(crate) fn last_run_base(
    state_dir: &std::path::Path,
    repo: &crate::git::Repo,
) -> Option<String> {
    let db = state_dir.join("state.db");
    if !db.exists() {
        return None;
    }
    let store = crate::store::Store::open_read_only(&db).ok()?;
    let base = store.last_run_base().ok().flatten()?;
    repo.check_branch(&base).is_ok().then_some(base)
}

/// A missing config file gets a hint instead of a parse error.
/// `orch task add` from an agent (`ORCH_SOCKET` is set): it goes to the
/// orch that started the agent, whatever config the agent's directory has.
fn agent_adding_a_task(command: &Option<Sub>) -> bool {
    matches!(
        command,
        Some(Sub::Task {
            action: TaskCmd::Add { .. }
        })
    ) && std::env::var_os("ORCH_SOCKET").is_some_and(|s| !s.is_empty())
}

fn missing_config(path: &std::path::Path) -> Option<String> {
    if path.exists() {
        return None;
    }
    let dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    Some(format!(
        "orch: no {} here ({dir}); `orch init` writes one for this repository, or pass --config PATH",
        path.display()
    ))
}

/// Where the state lives for commands that only read it: from the config if
/// it loads, else the default `.orch` next to it.
fn state_dir_for(config_path: &std::path::Path) -> PathBuf {
    match crate::config::load(config_path) {
        Ok(config) => crate::session::absolute(&config.root.join(&config.project.state_dir)),
        Err(_) => {
            let root = config_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            crate::session::absolute(&root.join(".orch"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::sandbox::{trampoline, Confine, Grant, Rule};

    #[test]
    fn the_trampoline_s_command_line_reads_back_as_it_was_written() {
        let confine = Confine {
            abi: 7,
            rules: vec![
                Rule::new("/r/.orch/worktrees/a b", Grant::Tree),
                Rule::new("/tmp", Grant::Tree),
                Rule::new("/r/.git/refs/heads/orch", Grant::Files),
                Rule::new("/dev/null", Grant::Write),
            ],
        };
        let argv = ["--print".to_string(), "--config".into(), "-x".into()];
        let mut line = vec![std::ffi::OsString::from("orch")];
        line.extend(trampoline::args(&confine, "claude".as_ref(), &argv));
        let cli = Cli::try_parse_from(line).expect("parses");
        let Some(Sub::Confine {
            abi,
            tree,
            files,
            write,
            command,
        }) = cli.command
        else {
            panic!("not __confine: {:?}", cli.command);
        };
        assert_eq!(abi, 7);
        assert_eq!(trampoline::rules(tree, files, write), confine.rules);
        // The agent's own options are its own, even those orch has too.
        assert_eq!(command, ["claude", "--print", "--config", "-x"]);
    }
}
