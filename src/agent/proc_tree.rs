//! An agent's whole process tree: finding descendants and signalling them.
//!
//! Agents run as session leaders (portable-pty calls `setsid` in the child),
//! so their pid is also their process-group id. Signalling the group reaches
//! everything that stayed in it; descendants that started their own session
//! or group are found by walking `/proc/PID/task/TID/children` (cheap: it
//! reads only our own subtree) and signalled one by one.

use std::collections::HashSet;
use std::fs;

/// Pids of `root` and every live descendant, root first.
pub fn tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut seen: HashSet<u32> = HashSet::from([root]);
    let mut i = 0;
    while i < out.len() {
        let pid = out[i];
        for child in children(pid) {
            if seen.insert(child) {
                out.push(child);
            }
        }
        i += 1;
    }
    out
}

/// Direct children of `pid`, from every thread's `children` file.
fn children(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return kids;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = fs::read_to_string(path) {
            kids.extend(
                text.split_ascii_whitespace()
                    .filter_map(|s| s.parse::<u32>().ok()),
            );
        }
    }
    kids
}

/// Is `pid` still a process (and not a zombie)?
pub fn is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_ascii_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Send `signal` to the process group led by `pgid` and to each pid in `extra`.
/// Errors (the process already gone) are expected and ignored.
pub fn signal_tree(pgid: u32, extra: &[u32], signal: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals a process group; it has no
    // memory-safety preconditions.
    unsafe {
        libc::kill(-pgid, signal);
    }
    for &pid in extra {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: as above, for a single pid.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn finds_grandchildren() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .expect("spawn sh");
        let root = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut found = vec![];
        while std::time::Instant::now() < deadline {
            found = tree(root);
            if found.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(found[0], root);
        assert!(
            found.len() >= 3,
            "expected sh and two sleeps, got {found:?}"
        );
        for &pid in &found {
            // SAFETY: plain kill(2).
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
        let _ = child.wait();
        assert!(!is_alive(root));
    }
}
