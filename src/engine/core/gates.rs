//! How long each gated task has been waiting for a decision, for the
//! approval timeout (monotonic clock).

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct Gates {
    since: HashMap<String, Instant>,
}

impl Gates {
    pub(crate) fn enter(&mut self, id: &str, now: Instant) {
        self.since.insert(id.to_string(), now);
    }

    pub(crate) fn leave(&mut self, id: &str) {
        self.since.remove(id);
    }

    /// Has `id` waited `timeout` by `now`? A task that was already waiting
    /// when this run started (it came from the store) starts its wait now.
    pub(crate) fn expired(&mut self, id: &str, now: Instant, timeout: Duration) -> bool {
        let since = *self.since.entry(id.to_string()).or_insert(now);
        now.saturating_duration_since(since) >= timeout
    }

    /// The earliest moment a wait reaches `timeout`.
    pub(crate) fn next_expiry(&self, timeout: Duration) -> Option<Instant> {
        self.since
            .values()
            .filter_map(|since| since.checked_add(timeout))
            .min()
    }

    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.since.retain(|id, _| keep(id));
    }
}
