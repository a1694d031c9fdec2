//! Time, as the engine sees it: one reading of both clocks per decision.
//!
//! Timeouts, stalls and approval waits use the monotonic clock (`mono`);
//! what is stored or shown (`retry_at`, `updated_at`, `ended_at`) uses the
//! wall clock (`wall_ms`). The core is handed a [`Now`]; only the driver
//! reads a [`Clock`], so tests decide what time it is.

use std::time::Instant;

/// Both clocks, read at the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    /// Unix milliseconds.
    pub wall_ms: i64,
}

impl Now {
    /// `self` moved forward by `ms` milliseconds on both clocks.
    pub fn plus_ms(self, ms: u64) -> Now {
        Now {
            mono: self.mono + std::time::Duration::from_millis(ms),
            wall_ms: self.wall_ms + i64::try_from(ms).unwrap_or(i64::MAX / 2),
        }
    }

    /// The monotonic instant at which the wall clock reads `wall_ms`.
    pub fn mono_at(self, wall_ms: i64) -> Instant {
        let ahead = u64::try_from(wall_ms.saturating_sub(self.wall_ms)).unwrap_or(0);
        self.mono + std::time::Duration::from_millis(ahead)
    }
}

pub trait Clock: Send + Sync {
    fn now(&self) -> Now;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            mono: Instant::now(),
            wall_ms: crate::timefmt::now_ms(),
        }
    }
}
