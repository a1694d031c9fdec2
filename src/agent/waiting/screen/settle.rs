//! When to read a screen: once it changed and then stayed unchanged for a
//! while, so a spinner's frames, a half-drawn dialog or a repaint in
//! progress are never classified. Pure: the caller passes the time and the
//! screen's change counter.

use std::time::{Duration, Instant};

/// How long a screen must stay unchanged before it is read, by default.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(300);

/// Tracks a screen's change counter and says when a settled change is due
/// for classification.
#[derive(Debug, Clone)]
pub struct Settle {
    settle: Duration,
    /// The counter as last observed, and when it took that value.
    seen: Option<(u64, Instant)>,
    /// The counter at the last classification.
    classified: Option<u64>,
}

impl Default for Settle {
    fn default() -> Self {
        Settle::new(DEFAULT_SETTLE)
    }
}

impl Settle {
    /// A tracker that waits `settle` after the last change.
    pub fn new(settle: Duration) -> Settle {
        Settle {
            settle,
            seen: None,
            classified: None,
        }
    }

    /// The screen's change counter (it grows when output changed the
    /// screen) at `now`. A value other than the last one is a change (a
    /// counter that went back, as for a new screen, is one too).
    pub fn observe(&mut self, seq: u64, now: Instant) {
        if self.seen.is_none_or(|(last, _)| last != seq) {
            self.seen = Some((seq, now));
        }
    }

    /// True once per settled change: the screen changed since the last
    /// classification and has not changed for `settle`.
    pub fn due(&mut self, now: Instant) -> bool {
        match self.pending() {
            Some((seq, since)) if now.saturating_duration_since(since) >= self.settle => {
                self.classified = Some(seq);
                true
            }
            _ => false,
        }
    }

    /// When to look again, if a change is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending().map(|(_, since)| since + self.settle)
    }

    /// The last observed change, if it was not classified yet.
    fn pending(&self) -> Option<(u64, Instant)> {
        self.seen.filter(|&(seq, _)| self.classified != Some(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A fake clock: instants at offsets from one start.
    struct Clock(Instant);
    impl Clock {
        fn at(&self, ms: u64) -> Instant {
            self.0 + MS * ms as u32
        }
    }

    #[test]
    fn nothing_is_due_before_anything_was_observed() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS);
        assert!(!s.due(t.at(10_000)));
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn a_change_is_due_once_after_it_settled() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS);
        s.observe(1, t.at(0));
        assert_eq!(s.next_due(), Some(t.at(300)));
        assert!(!s.due(t.at(299)));
        assert!(s.due(t.at(300)));
        // Once: the same change is not due again.
        assert!(!s.due(t.at(301)));
        assert!(!s.due(t.at(5_000)));
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn a_spinner_keeps_pushing_the_reading_back() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS);
        // A frame every 100 ms: never settled.
        for frame in 0..20u64 {
            s.observe(frame, t.at(frame * 100));
            assert!(!s.due(t.at(frame * 100 + 99)), "frame {frame}");
        }
        // The last frame at 1900 ms stays: due 300 ms later.
        assert_eq!(s.next_due(), Some(t.at(2_200)));
        assert!(!s.due(t.at(2_199)));
        assert!(s.due(t.at(2_200)));
    }

    #[test]
    fn observing_the_same_counter_is_not_a_change() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS);
        s.observe(7, t.at(0));
        s.observe(7, t.at(200));
        assert!(
            s.due(t.at(300)),
            "the timer runs from the change, not the look"
        );
        s.observe(7, t.at(400));
        assert!(!s.due(t.at(1_000)), "no change since the classification");
    }

    #[test]
    fn a_new_change_after_a_classification_is_due_again() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS);
        s.observe(1, t.at(0));
        assert!(s.due(t.at(300)));
        s.observe(2, t.at(1_000));
        assert!(!s.due(t.at(1_200)));
        assert!(s.due(t.at(1_300)));
    }

    #[test]
    fn a_counter_that_went_back_is_a_change() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS);
        s.observe(9, t.at(0));
        assert!(s.due(t.at(300)));
        s.observe(0, t.at(400));
        assert!(s.due(t.at(700)));
    }

    #[test]
    fn the_default_waits_300_ms() {
        let t = Clock(Instant::now());
        let mut s = Settle::default();
        s.observe(1, t.at(0));
        assert_eq!(s.next_due(), Some(t.at(300)));
    }
}
