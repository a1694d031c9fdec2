//! Running a `[hooks]` command: its argv directly (no shell), in its own
//! session, for at most its timeout.

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::process;
use crate::agent::pty::signal_name;

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutcome {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal (not by orch: that is [`HookOutcome::TimedOut`]).
    Signalled(i32),
    /// Still running at its timeout, so orch killed it and everything it
    /// started.
    TimedOut,
    /// Could not be started: why.
    FailedToStart(String),
}

impl HookOutcome {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        *self == HookOutcome::Exited(0)
    }
}

impl fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookOutcome::Exited(code) => write!(f, "exited with status {code}"),
            HookOutcome::Signalled(sig) => match signal_name(*sig) {
                Some(name) => write!(f, "killed by signal {sig} ({name})"),
                None => write!(f, "killed by signal {sig}"),
            },
            HookOutcome::TimedOut => f.write_str("timed out and was killed"),
            HookOutcome::FailedToStart(why) => write!(f, "failed to start: {why}"),
        }
    }
}

/// A finished hook: how it ended and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    pub outcome: HookOutcome,
    /// Its stdout and stderr as they interleaved, at most
    /// [`OUTPUT_LIMIT`] bytes: the tail, after a line saying how much
    /// came before it.
    pub output: String,
}

/// The most output kept of one run.
pub const OUTPUT_LIMIT: usize = process::OUTPUT_LIMIT;

/// Longest last line shown in [`HookRun::summary`].
const SUMMARY_LINE_MAX: usize = 200;

impl HookRun {
    /// One line for the event log: the outcome, and the last line the hook
    /// printed (cut to a couple of hundred characters).
    pub fn summary(&self) -> String {
        let last = self
            .output
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty());
        match last {
            Some(line) if line.chars().count() > SUMMARY_LINE_MAX => {
                let cut: String = line.chars().take(SUMMARY_LINE_MAX).collect();
                format!("{}: {cut}...", self.outcome)
            }
            Some(line) => format!("{}: {line}", self.outcome),
            None => self.outcome.to_string(),
        }
    }
}

impl fmt::Display for HookRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Run `argv[0]` with the rest as its arguments in `cwd`, with no input
/// and no terminal, until it exits or `timeout` passes; then whatever it
/// left running (its process group, its session, its descendants) gets
/// SIGTERM and, after a short grace, SIGKILL. Blocks until all of that is
/// done; never leaves a process behind that it can find.
pub fn run_hook(argv: &[String], cwd: &Path, timeout: Duration) -> HookRun {
    let Some((program, args)) = argv.split_first() else {
        return process::not_started("the hook's command is empty".to_string());
    };
    if !cwd.is_dir() {
        return process::not_started(format!("{} is not a directory", cwd.display()));
    }
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd);
    let run = process::run(command, timeout, process::GRACE);
    match run.outcome {
        HookOutcome::FailedToStart(why) => HookRun {
            outcome: HookOutcome::FailedToStart(format!("{program}: {why}")),
            ..run
        },
        _ => run,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::agent::proc_tree::is_alive;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    fn run_sh(script: &str, timeout: Duration) -> (tempfile::TempDir, HookRun) {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = run_hook(&sh(script), dir.path(), timeout);
        (dir, run)
    }

    fn pid_in(dir: &Path, name: &str) -> u32 {
        let text = std::fs::read_to_string(dir.join(name)).expect("pid file");
        text.trim().parse().expect("a pid")
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn success_keeps_stdout_and_stderr_in_order() {
        let (dir, run) = run_sh("echo out; echo err >&2; pwd > where", LONG);
        assert_eq!(run.outcome, HookOutcome::Exited(0));
        assert!(run.outcome.success());
        assert_eq!(run.output, "out\nerr\n");
        assert_eq!(run.summary(), "exited with status 0: err");
        let cwd = std::fs::read_to_string(dir.path().join("where")).expect("where");
        assert_eq!(
            std::fs::canonicalize(cwd.trim()).ok(),
            std::fs::canonicalize(dir.path()).ok()
        );
    }

    #[test]
    fn a_failing_hook_says_its_status() {
        let (_dir, run) = run_sh("echo 'no token' >&2; exit 3", LONG);
        assert_eq!(run.outcome, HookOutcome::Exited(3));
        assert!(!run.outcome.success());
        assert_eq!(run.to_string(), "exited with status 3: no token");
        let (_dir, run) = run_sh("kill -USR1 $$", LONG);
        assert_eq!(run.outcome, HookOutcome::Signalled(10));
        assert_eq!(run.summary(), "killed by signal 10 (SIGUSR1)");
    }

    #[test]
    fn it_has_no_input_and_leads_a_session_of_its_own() {
        // Without a session of its own it would share orch's terminal.
        let (_dir, run) = run_sh(
            "cat; read -r stat < /proc/$$/stat; set -- $stat; \
             [ \"$6\" = \"$$\" ] && echo leader; (: < /dev/tty) 2>/dev/null || echo no tty",
            LONG,
        );
        assert_eq!(run.outcome, HookOutcome::Exited(0));
        assert_eq!(run.output, "leader\nno tty\n");
    }

    #[test]
    fn a_timeout_kills_the_hook_and_what_it_started() {
        // A grandchild in the hook's group, one that left for a session of
        // its own, and a hook that ignores SIGTERM.
        // (An ignored SIGTERM stays ignored in what it starts: every one
        // of them needs the SIGKILL.)
        let script = "trap '' TERM; sleep 300 & echo $! > plain; \
                      setsid sleep 300 & echo $! > escaped; \
                      echo started; while :; do sleep 1; done";
        let dir = tempfile::tempdir().expect("tempdir");
        let argv = sh(script);
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).current_dir(dir.path());
        let run = process::run(command, Duration::from_secs(2), Duration::from_millis(300));
        assert_eq!(run.outcome, HookOutcome::TimedOut);
        assert_eq!(run.output, "started\n");
        assert_eq!(run.summary(), "timed out and was killed: started");
        for name in ["plain", "escaped"] {
            let pid = pid_in(dir.path(), name);
            assert!(!is_alive(pid), "{name} grandchild {pid} survived");
        }
    }

    #[test]
    fn what_a_finished_hook_leaves_behind_is_stopped() {
        let (dir, run) = run_sh("sleep 300 & echo $! > left; echo done", LONG);
        assert_eq!(run.outcome, HookOutcome::Exited(0));
        assert_eq!(run.output, "done\n");
        let pid = pid_in(dir.path(), "left");
        assert!(!is_alive(pid), "leftover {pid} survived");
    }

    #[test]
    fn a_missing_program_fails_to_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = run_hook(&["orch-no-such-hook".to_string()], dir.path(), LONG);
        let HookOutcome::FailedToStart(why) = &run.outcome else {
            panic!("{run:?}");
        };
        assert!(why.starts_with("orch-no-such-hook: "), "{why}");
        assert!(run
            .summary()
            .starts_with("failed to start: orch-no-such-hook: "));
        let run = run_hook(&[], dir.path(), LONG);
        assert_eq!(
            run.outcome,
            HookOutcome::FailedToStart("the hook's command is empty".into())
        );
        let run = run_hook(&sh("true"), &dir.path().join("gone"), LONG);
        assert!(
            matches!(&run.outcome, HookOutcome::FailedToStart(why) if why.ends_with("gone is not a directory")),
            "{run:?}"
        );
    }

    #[test]
    fn a_flood_of_output_keeps_only_the_tail() {
        // A million "x"s, then a last line.
        let (_dir, run) = run_sh(
            "i=0; while [ $i -lt 1000 ]; do printf '%01000d' 0; i=$((i+1)); done | tr 0 x; echo; echo last",
            LONG,
        );
        assert_eq!(run.outcome, HookOutcome::Exited(0));
        let total = 1_000_000 + "\nlast\n".len();
        let (note, tail) = run.output.split_once('\n').expect("a note line");
        assert_eq!(
            note,
            format!("[{} earlier bytes of output dropped]", total - OUTPUT_LIMIT)
        );
        assert_eq!(tail.len(), OUTPUT_LIMIT);
        assert!(
            tail.ends_with("xxx\nlast\n"),
            "{:?}",
            &tail[tail.len() - 20..]
        );
        assert_eq!(run.summary(), "exited with status 0: last");
    }
}
