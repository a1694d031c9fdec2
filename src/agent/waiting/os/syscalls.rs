//! The system calls this check tells apart, by this architecture's
//! numbers (as `/proc/PID/syscall` gives them). x86_64 and aarch64 have
//! tables; elsewhere every number is unknown and the check falls back to
//! the wait channel.
//!
//! A 32-bit process on a 64-bit kernel reports its own table's numbers,
//! which these are not: it may be misread (as something else, never as a
//! read of the terminal unless its number happens to be one here).

/// What a system call is, for this check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `read`, `readv`: the descriptor is the first argument.
    Read,
    /// `select`, `pselect6`: `nfds, readfds, writefds, exceptfds, timeout`.
    Select,
    /// `poll`, `ppoll`, `epoll_wait`, `epoll_pwait`, `epoll_pwait2`,
    /// `io_uring_enter`: an event loop's wait.
    Poll,
    /// Anything else (`wait4`, `nanosleep`, `futex`, ...).
    Other,
}

/// What system call `nr` is; `None` when this architecture has no table
/// here (or `nr` is -1, asleep outside any system call, which is `Other`).
pub(super) fn kind(nr: i64) -> Option<Kind> {
    if nr < 0 {
        return Some(Kind::Other);
    }
    table::kind(nr)
}

#[cfg(target_arch = "x86_64")]
mod table {
    use super::Kind;

    pub(super) fn kind(nr: i64) -> Option<Kind> {
        Some(match nr {
            0 | 19 => Kind::Read,
            23 | 270 => Kind::Select,
            7 | 271 | 232 | 281 | 441 | 426 => Kind::Poll,
            _ => Kind::Other,
        })
    }
}

#[cfg(target_arch = "aarch64")]
mod table {
    use super::Kind;

    // aarch64 has neither `select`, `poll` nor `epoll_wait`, only their
    // newer forms.
    pub(super) fn kind(nr: i64) -> Option<Kind> {
        Some(match nr {
            63 | 65 => Kind::Read,
            72 => Kind::Select,
            73 | 22 | 441 | 426 => Kind::Poll,
            _ => Kind::Other,
        })
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod table {
    use super::Kind;

    pub(super) fn kind(_nr: i64) -> Option<Kind> {
        None
    }
}

/// This architecture's numbers of `read` and `pselect6`, for tests that
/// build `/proc` answers.
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) const READ: i64 = 0;
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) const PSELECT6: i64 = 270;
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) const EPOLL_PWAIT: i64 = 281;
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) const WAIT4: i64 = 61;
#[cfg(all(test, target_arch = "aarch64"))]
pub(super) const READ: i64 = 63;
#[cfg(all(test, target_arch = "aarch64"))]
pub(super) const PSELECT6: i64 = 72;
#[cfg(all(test, target_arch = "aarch64"))]
pub(super) const EPOLL_PWAIT: i64 = 22;
#[cfg(all(test, target_arch = "aarch64"))]
pub(super) const WAIT4: i64 = 260;
