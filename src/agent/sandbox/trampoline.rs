//! `orch __confine`: the program a confined agent's PTY really starts.
//!
//! portable-pty's command builder has no hook that runs in the child
//! before exec, so the agent's command becomes `/proc/self/exe __confine
//! --abi N RULES... -- AGENT ARGV...`: orch itself (the binary that is
//! running, even if the file was replaced since), which restricts itself
//! and then execs the agent in its place. The pid, session and terminal
//! portable-pty set up are the agent's, as without a sandbox.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use super::{kernel, Confine, Grant, Rule};

/// The running orch, as the child of a fork sees it.
pub const SELF_EXE: &str = "/proc/self/exe";
/// The hidden subcommand.
pub const SUBCOMMAND: &str = "__confine";

/// Exit status when the sandbox could not be applied (the agent never ran).
pub const EXIT_CONFINE_FAILED: i32 = 125;
/// Exit status when the agent's program could not be run, as a shell says.
const EXIT_NOT_RUN: i32 = 126;
const EXIT_NOT_FOUND: i32 = 127;

/// The arguments after [`SELF_EXE`] that run `program` (as it would be
/// passed to exec: a path, or a name looked up on `PATH`) with `args`
/// under `confine`.
pub fn args(confine: &Confine, program: &OsStr, args: &[String]) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![
        SUBCOMMAND.into(),
        "--abi".into(),
        confine.abi.to_string().into(),
    ];
    for rule in &confine.rules {
        out.push(rule.grant.flag().into());
        out.push(rule.path.clone().into_os_string());
    }
    out.push("--".into());
    out.push(program.to_os_string());
    out.extend(args.iter().map(OsString::from));
    out
}

/// The rules as the subcommand's options read them back.
pub fn rules(tree: Vec<PathBuf>, files: Vec<PathBuf>, write: Vec<PathBuf>) -> Vec<Rule> {
    let with = |paths: Vec<PathBuf>, grant| paths.into_iter().map(move |p| Rule::new(p, grant));
    with(tree, Grant::Tree)
        .chain(with(files, Grant::Files))
        .chain(with(write, Grant::Write))
        .collect()
}

/// The subcommand: restrict, then become `command`. Returns only on
/// failure, with the exit status; what went wrong is printed on the
/// agent's terminal, which is the only place anyone will see it.
pub fn run(confine: &Confine, command: &[OsString]) -> i32 {
    let Some((program, rest)) = command.split_first() else {
        eprintln!("orch: sandbox: no command to run");
        return EXIT_CONFINE_FAILED;
    };
    if let Err(cause) = kernel::restrict(confine) {
        eprintln!("orch: sandbox: {cause}; the agent was not started");
        return EXIT_CONFINE_FAILED;
    }
    let error = std::process::Command::new(program).args(rest).exec();
    eprintln!("orch: cannot run {}: {error}", program.to_string_lossy());
    if error.kind() == std::io::ErrorKind::NotFound {
        EXIT_NOT_FOUND
    } else {
        EXIT_NOT_RUN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_carries_every_rule_and_the_agent_s_argv_verbatim() {
        let confine = Confine {
            abi: 6,
            rules: vec![
                Rule::new("/r/.orch/worktrees/a", Grant::Tree),
                Rule::new("/r/.git/refs/heads/orch", Grant::Files),
                Rule::new("/dev/null", Grant::Write),
            ],
        };
        let argv = args(
            &confine,
            OsStr::new("claude"),
            &["--print".into(), "-- not an option".into()],
        );
        let text: Vec<&str> = argv.iter().map(|a| a.to_str().expect("utf-8")).collect();
        assert_eq!(
            text,
            [
                "__confine",
                "--abi",
                "6",
                "--tree",
                "/r/.orch/worktrees/a",
                "--files",
                "/r/.git/refs/heads/orch",
                "--write",
                "/dev/null",
                "--",
                "claude",
                "--print",
                "-- not an option",
            ]
        );
        let back = rules(
            vec!["/r/.orch/worktrees/a".into()],
            vec!["/r/.git/refs/heads/orch".into()],
            vec!["/dev/null".into()],
        );
        assert_eq!(back, confine.rules);
    }
}
