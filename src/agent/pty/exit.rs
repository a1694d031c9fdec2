//! How an agent's main process ended, and signal names for people.

use std::fmt;

/// How an agent's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentExit {
    /// Exited with this status code (-1: status unknown).
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl AgentExit {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        *self == AgentExit::Code(0)
    }
}

impl fmt::Display for AgentExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AgentExit::Code(code) => write!(f, "exit code {code}"),
            AgentExit::Signal(sig) => match signal_name(sig) {
                Some(name) => write!(f, "killed by signal {sig} ({name})"),
                None => write!(f, "killed by signal {sig}"),
            },
        }
    }
}

/// "SIGKILL" for 9, and so on (`None` for numbers that name no signal).
pub fn signal_name(sig: i32) -> Option<&'static str> {
    nix::sys::signal::Signal::try_from(sig)
        .ok()
        .map(nix::sys::signal::Signal::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::Signal;

    #[test]
    fn signals_have_their_names() {
        assert_eq!(signal_name(Signal::TERM.as_raw()), Some("SIGTERM"));
        assert_eq!(signal_name(Signal::KILL.as_raw()), Some("SIGKILL"));
        assert_eq!(signal_name(Signal::ALARM.as_raw()), Some("SIGALRM"));
        assert_eq!(signal_name(Signal::CHILD.as_raw()), Some("SIGCHLD"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(77), None);
        assert_eq!(
            AgentExit::Signal(9).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(AgentExit::Signal(77).to_string(), "killed by signal 77");
        assert_eq!(AgentExit::Code(3).to_string(), "exit code 3");
        assert!(AgentExit::Code(0).success() && !AgentExit::Code(3).success());
        assert!(!AgentExit::Signal(9).success());
    }
}
