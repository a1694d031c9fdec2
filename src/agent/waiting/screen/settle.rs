//! When to read a screen: once it changed and then stayed unchanged for a
//! while, so a spinner's frames, a half-drawn dialog or a repaint in
//! progress are never taken for a question; and, while it keeps changing,
//! once in a while anyway ([`Due::Changing`]), so a mark the screen gave
//! is taken back (or a busy spinner seen) while output flows. Pure: the
//! caller passes the time and the screen's change counter.

use std::time::{Duration, Instant};

/// How long a screen must stay unchanged before it is read, by default.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(300);
/// How long a screen that keeps changing goes unread, by default.
pub const DEFAULT_MOVING_READ: Duration = Duration::from_secs(1);

/// Which reading is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The screen changed and has stayed still since: read it for
    /// everything.
    Settled,
    /// The screen is still changing: good for "busy" or "nothing", never
    /// for a question (it may be half drawn).
    Changing,
}

/// Tracks a screen's change counter and says when a reading is due.
#[derive(Debug, Clone)]
pub struct Settle {
    settle: Duration,
    moving_read: Duration,
    /// The counter as last observed, and when it took that value.
    seen: Option<(u64, Instant)>,
    /// The counter at the last settled reading (or skipped).
    classified: Option<u64>,
    /// Since when changes have gone unread (the first unread change, or
    /// the last reading of a changing screen).
    unread_since: Option<Instant>,
}

impl Default for Settle {
    fn default() -> Self {
        Settle::new(DEFAULT_SETTLE, DEFAULT_MOVING_READ)
    }
}

impl Settle {
    /// A tracker that waits `settle` after the last change, and reads a
    /// screen that keeps changing every `moving_read`.
    pub fn new(settle: Duration, moving_read: Duration) -> Settle {
        Settle {
            settle,
            moving_read,
            seen: None,
            classified: None,
            unread_since: None,
        }
    }

    /// The screen's change counter (it grows when output changed the
    /// screen) at `now`. A value other than the last one is a change (a
    /// counter that went back, as for a new screen, is one too).
    pub fn observe(&mut self, seq: u64, now: Instant) {
        if self.seen.is_none_or(|(last, _)| last != seq) {
            self.seen = Some((seq, now));
            self.unread_since.get_or_insert(now);
        }
    }

    /// The screen as it is now needs no reading: what it shows was
    /// answered (input was typed); only a later change is read.
    pub fn skip(&mut self) {
        if let Some((seq, _)) = self.seen {
            self.classified = Some(seq);
        }
        self.unread_since = None;
    }

    /// Once per settled change: the screen changed since the last settled
    /// reading and has not changed for `settle`; else, if it has changed
    /// unread for `moving_read`, a reading of the changing screen.
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        let (seq, since) = self.pending()?;
        if now.saturating_duration_since(since) >= self.settle {
            self.classified = Some(seq);
            self.unread_since = None;
            return Some(Due::Settled);
        }
        let unread = self.unread_since.get_or_insert(since);
        if now.saturating_duration_since(*unread) >= self.moving_read {
            *unread = now;
            return Some(Due::Changing);
        }
        None
    }

    /// The last observed change, if it was not read settled yet.
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
        let mut s = Settle::new(300 * MS, 1_000 * MS);
        assert_eq!(None, s.due(t.at(10_000)));
    }

    #[test]
    fn a_change_is_due_once_after_it_settled() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS, 1_000 * MS);
        s.observe(1, t.at(0));
        assert_eq!(None, s.due(t.at(299)));
        assert_eq!(Some(Due::Settled), s.due(t.at(300)));
        // Once: the same change is not due again.
        assert_eq!(None, s.due(t.at(301)));
        assert_eq!(None, s.due(t.at(5_000)));
    }

    #[test]
    fn a_spinner_is_never_read_settled_but_read_changing_once_a_second() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS, 1_000 * MS);
        // A frame every 100 ms for 3 s, looked at 99 ms after each.
        let mut changing = Vec::new();
        for frame in 0..30u64 {
            s.observe(frame, t.at(frame * 100));
            match s.due(t.at(frame * 100 + 99)) {
                Some(Due::Settled) => panic!("a spinner's frame {frame} read as settled"),
                Some(Due::Changing) => changing.push(frame),
                None => {}
            }
        }
        // From the first frame at 0 ms: read at 1099 ms, then a second on.
        assert_eq!(changing, vec![10, 20]);
        // The last frame at 2900 ms stays: read once more as changing a
        // second after the last such reading, then settled 300 ms after it.
        assert_eq!(None, s.due(t.at(3_098)));
        assert_eq!(Some(Due::Changing), s.due(t.at(3_099)));
        assert_eq!(None, s.due(t.at(3_199)));
        assert_eq!(Some(Due::Settled), s.due(t.at(3_200)));
        assert_eq!(None, s.due(t.at(9_000)));
    }

    #[test]
    fn a_skipped_screen_is_not_read_until_it_changes_again() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS, 1_000 * MS);
        s.observe(1, t.at(0));
        s.skip();
        assert_eq!(None, s.due(t.at(5_000)));
        s.observe(2, t.at(6_000));
        assert_eq!(Some(Due::Settled), s.due(t.at(6_300)));
    }

    #[test]
    fn observing_the_same_counter_is_not_a_change() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS, 1_000 * MS);
        s.observe(7, t.at(0));
        s.observe(7, t.at(200));
        assert_eq!(
            Some(Due::Settled),
            s.due(t.at(300)),
            "the timer runs from the change, not the look"
        );
        s.observe(7, t.at(400));
        assert_eq!(
            None,
            s.due(t.at(1_000)),
            "no change since the classification"
        );
    }

    #[test]
    fn a_new_change_after_a_classification_is_due_again() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS, 1_000 * MS);
        s.observe(1, t.at(0));
        assert_eq!(Some(Due::Settled), s.due(t.at(300)));
        s.observe(2, t.at(1_000));
        assert_eq!(None, s.due(t.at(1_200)));
        assert_eq!(Some(Due::Settled), s.due(t.at(1_300)));
    }

    #[test]
    fn a_counter_that_went_back_is_a_change() {
        let t = Clock(Instant::now());
        let mut s = Settle::new(300 * MS, 1_000 * MS);
        s.observe(9, t.at(0));
        assert_eq!(Some(Due::Settled), s.due(t.at(300)));
        s.observe(0, t.at(400));
        assert_eq!(Some(Due::Settled), s.due(t.at(700)));
    }

    #[test]
    fn the_default_waits_300_ms() {
        let t = Clock(Instant::now());
        let mut s = Settle::default();
        s.observe(1, t.at(0));
        assert_eq!(None, s.due(t.at(299)));
        assert_eq!(Some(Due::Settled), s.due(t.at(300)));
    }
}
