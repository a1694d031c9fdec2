//! The few system calls the agent's threads make, through rustix: an
//! eventfd to wake the waiter, `FIONREAD` on the PTY, duplicating a
//! descriptor, and `poll`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// A wake-up for a thread sleeping in [`wait_readable`]: an eventfd. Any
/// number of [`wake`](Self::wake)s before the sleeper looks count as one.
#[derive(Debug)]
pub(super) struct Wake(OwnedFd);

impl Wake {
    /// `None` where eventfds are missing (then nobody sleeps on one).
    pub(super) fn new() -> Option<Wake> {
        #[cfg(target_os = "linux")]
        {
            use rustix::event::{eventfd, EventfdFlags};
            let flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
            crate::log_err(eventfd(0, flags), "creating an eventfd").map(Wake)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    pub(super) fn wake(&self) {
        // A full counter (EAGAIN) still leaves it readable, which is all we
        // need.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    /// Reset to "not woken".
    pub(super) fn clear(&self) {
        let mut count = [0u8; 8];
        let _ = rustix::io::read(&self.0, &mut count);
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// What [`wait_readable`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ready {
    pub(super) first: bool,
    pub(super) second: bool,
}

/// Sleep until `first` or `second` is readable, or `timeout` passes.
/// Interrupted or failed waits return as a timeout (the caller loops).
pub(super) fn wait_readable(
    first: BorrowedFd<'_>,
    second: Option<BorrowedFd<'_>>,
    timeout: Duration,
) -> Ready {
    let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    });
    let mut fds = vec![PollFd::from_borrowed_fd(first, PollFlags::IN)];
    if let Some(second) = second {
        fds.push(PollFd::from_borrowed_fd(second, PollFlags::IN));
    }
    match poll(&mut fds, Some(&timeout)) {
        Ok(n) if n > 0 => Ready {
            first: !fds[0].revents().is_empty(),
            second: fds.get(1).is_some_and(|fd| !fd.revents().is_empty()),
        },
        _ => Ready {
            first: false,
            second: false,
        },
    }
}

/// Bytes waiting in the PTY's input queue. (`FIONREAD`, not `poll`: a PTY's
/// poll waits for the kernel's buffer-flush work, which shows in a flood.)
pub(super) fn bytes_ready(fd: BorrowedFd<'_>) -> usize {
    rustix::io::ioctl_fionread(fd)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

/// Our own copy of `fd` (close-on-exec).
pub(super) fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, 0)?)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_wake_is_seen_once_until_cleared() {
        let wake = Wake::new().expect("eventfd");
        let other = Wake::new().expect("eventfd");
        let none = Ready {
            first: false,
            second: false,
        };
        assert_eq!(
            wait_readable(other.fd(), Some(wake.fd()), Duration::ZERO),
            none
        );
        wake.wake();
        wake.wake();
        let seen = wait_readable(other.fd(), Some(wake.fd()), Duration::from_secs(5));
        assert_eq!(
            seen,
            Ready {
                first: false,
                second: true
            }
        );
        wake.clear();
        assert_eq!(
            wait_readable(other.fd(), Some(wake.fd()), Duration::ZERO),
            none
        );
    }
}
