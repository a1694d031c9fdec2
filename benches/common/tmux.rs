//! A tmux server of the bench's own (`tmux -L bench-...`, no config file),
//! so neither the user's tmux nor the end-to-end tests' sessions are
//! touched; killed when dropped.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn new(tag: &str) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "this bench needs tmux"
        );
        Tmux {
            socket: format!("bench-{tag}-{}", std::process::id()),
        }
    }

    /// `tmux ARGS` against this server.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux")
    }

    /// The argv that attaches a client to `session` (for a PTY of the bench's).
    pub fn attach_argv(&self, session: &str) -> Vec<String> {
        ["tmux", "-L", &self.socket, "attach", "-t", session]
            .map(String::from)
            .to_vec()
    }

    /// A detached `cols`x`rows` session running `command` in `dir`.
    pub fn session(&self, name: &str, dir: &Path, command: &str, (cols, rows): (u16, u16)) {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", name, "-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg("-c")
            .arg(dir)
            .arg(command)
            .env_remove("TMUX")
            .output()
            .expect("tmux new-session");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// What `target`'s pane shows.
    pub fn screen(&self, target: &str) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", target]).stdout)
            .into_owned()
    }

    pub fn pane_pid(&self, target: &str) -> u32 {
        let out = self.run(&["list-panes", "-t", target, "-F", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("pane pid")
    }

    pub fn server_pid(&self) -> u32 {
        let out = self.run(&["display-message", "-p", "#{pid}"]);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("tmux server pid")
    }

    /// The first child of `target`'s pane process (the program a pane's
    /// shell runs).
    pub fn pane_child(&self, target: &str) -> u32 {
        let shell = self.pane_pid(target);
        let mut child = None;
        let found = super::wait_until(Duration::from_secs(10), || {
            child = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
                .ok()
                .and_then(|t| t.split_whitespace().next().and_then(|p| p.parse().ok()));
            child.is_some()
        });
        assert!(found, "nothing started in {target}'s pane");
        child.expect("found")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
