//! A terminal for end-to-end tests: a detached tmux session of a given
//! size, driven with send-keys and read with capture-pane, as a user sees
//! it. Needs tmux (`.ci/run` installs it). Each session has a name of its
//! own (never `tmux kill-server`: other tests share the tmux server).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{kill_leftovers, wait_until, ORCH};

pub struct Tmux {
    pub session: String,
    /// Where it runs: on a failed test its server is stopped and what was
    /// left running there is killed.
    dir: PathBuf,
}

impl Tmux {
    /// `command` in a 200x50 terminal, then `ORCH-EXIT=<status>`.
    pub fn start(name: &str, dir: &Path, command: &str) -> Tmux {
        Tmux::start_sized(name, dir, command, (200, 50))
    }

    /// `command` in a terminal of `cols` x `rows`, then `ORCH-EXIT=<status>`.
    pub fn start_sized(name: &str, dir: &Path, command: &str, (cols, rows): (u16, u16)) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "tmux is required for the end-to-end tests (apt-get install tmux)"
        );
        let session = format!("orch-e2e-{name}-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg("-c")
            .arg(dir)
            .arg(format!("{command}; echo ORCH-EXIT=$?; sleep 600"))
            .env("NO_COLOR", "1")
            .status()
            .expect("tmux new-session");
        assert!(status.success());
        Tmux {
            session,
            dir: dir.to_path_buf(),
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Type `text` literally (no key names), then Enter, in one go.
    pub fn line(&self, text: &str) {
        self.keys(&["-l", &format!("{text}\r")]);
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with its colours and attributes as escape sequences.
    pub fn styled_screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-e", "-t", &self.session])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format about the pane, e.g. `#{alternate_on}`.
    pub fn pane(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, format])
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait until the screen shows `needle`; fail with the screen if not.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |s| s.contains(needle))
    }

    /// Wait until the screen satisfies `pred`; fail with the screen if not.
    pub fn wait_until(&self, what: &str, mut pred: impl FnMut(&str) -> bool) -> String {
        let mut last = String::new();
        let found = wait_until(Duration::from_secs(20), || {
            last = self.screen();
            pred(&last)
        });
        assert!(found, "never saw {what}; screen:\n{last}");
        last
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
        // A test that failed (or left it running) leaves no server behind.
        if std::thread::panicking() {
            let _ = Command::new(ORCH)
                .arg("stop")
                .current_dir(&self.dir)
                .output();
            kill_leftovers(&self.dir);
        }
    }
}
