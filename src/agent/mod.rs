//! An agent: one command in a pseudo-terminal.
//!
//! - `backend`: agents behind the traits the engine and views use
//!   (`AgentBackend`, `AgentTerminal`), the local PTY backend, and the
//!   registry of running agents' terminals.
//! - `pty`: spawn in a PTY as its own session, the reader thread that feeds
//!   every byte to the screen, the log and the output tap (for clients that
//!   attach later), stopping the whole tree without touching recycled pids.
//! - `screen`: the live terminal (vt100 without its own scrollback) plus
//!   `history`, a compact ring of the rows that scrolled off the top.
//! - `log_file`: the raw bytes on disk, size-capped.
//! - `proc_tree`: an agent's processes under `/proc`, as pidfd handles.
//! - `sampler`: CPU and memory of each agent's tree, once a second.
//! - `activity`: file changes in an agent's worktree, a heartbeat signal.
//! - `which`: finding a program the way the agent's exec would.
//! - `sandbox`: confining an agent's writes with Landlock, through the
//!   `orch __confine` trampoline.
//! - `reaper`: orch as its agents' child subreaper: orphans found by the
//!   marks in their environment, and reaped when they exit.
//! - `token`: each attempt's `ORCH_TOKEN` and the registry of those of
//!   running attempts.
//! - `waiting`: is an agent busy, idle or waiting for an answer: what its
//!   screen and the operating system say.

pub mod activity;
pub mod backend;
pub mod history;
pub mod kinds;
pub mod log_file;
pub mod proc_tree;
pub mod pty;
pub mod reaper;
pub mod sampler;
pub mod sandbox;
pub mod screen;
pub mod token;
pub mod waiting;
pub mod which;
