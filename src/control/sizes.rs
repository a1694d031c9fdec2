//! Who decides an agent PTY's size when several clients show it: the most
//! recent claim that applies to the agent, falling back to the next most
//! recent when its client lets go (as tmux sizes a window for its latest
//! client). A control room's output pane claims every agent; an attached
//! client claims one. Pure: the server applies the answers.

pub type ClientId = u64;

/// What a claim is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every agent (a control room's output pane).
    All,
    /// One task's agent (an attached client).
    Task(String),
}

/// The standing claims: (client, scope, rows, cols, when made).
#[derive(Debug, Default)]
pub struct Sizes {
    seq: u64,
    claims: Vec<(ClientId, Scope, u16, u16, u64)>,
}

impl Sizes {
    /// A new claim, or a changed one (a resize): it becomes the most recent.
    /// A zero-sized claim is ignored, an outsized one brought within
    /// [`sane_size`](super::protocol::sane_size).
    pub fn claim(&mut self, client: ClientId, scope: Scope, rows: u16, cols: u16) {
        if rows == 0 || cols == 0 {
            return;
        }
        let (cols, rows) = super::protocol::sane_size(cols, rows);
        self.seq += 1;
        self.claims.retain(|c| !(c.0 == client && c.1 == scope));
        self.claims.push((client, scope, rows, cols, self.seq));
    }
    /// The client no longer claims `scope` (detached from an agent).
    pub fn release(&mut self, client: ClientId, scope: &Scope) {
        self.claims.retain(|c| !(c.0 == client && &c.1 == scope));
    }
    /// The client is gone.
    pub fn release_all(&mut self, client: ClientId) {
        self.claims.retain(|c| c.0 != client);
    }
    /// `(rows, cols)` for `task`'s agent, if any client claims one.
    pub fn size_for(&self, task: &str) -> Option<(u16, u16)> {
        self.claims
            .iter()
            .filter(|c| match &c.1 {
                Scope::All => true,
                Scope::Task(t) => t == task,
            })
            .max_by_key(|c| c.4)
            .map(|c| (c.2, c.3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recent_claim_wins_and_leaving_falls_back_in_order() {
        let mut sizes = Sizes::default();
        assert_eq!(sizes.size_for("a"), None);
        sizes.claim(1, Scope::All, 20, 80);
        sizes.claim(2, Scope::All, 40, 120);
        assert_eq!(sizes.size_for("a"), Some((40, 120)));
        // The older control room resizes: now it is the most recent.
        sizes.claim(1, Scope::All, 22, 90);
        assert_eq!(sizes.size_for("a"), Some((22, 90)));
        // A client attaches to one agent; the others keep the pane size.
        sizes.claim(3, Scope::Task("a".into()), 50, 200);
        assert_eq!(sizes.size_for("a"), Some((50, 200)));
        assert_eq!(sizes.size_for("b"), Some((22, 90)));
        sizes.release(3, &Scope::Task("a".into()));
        assert_eq!(sizes.size_for("a"), Some((22, 90)));
        sizes.release_all(1);
        assert_eq!(sizes.size_for("a"), Some((40, 120)));
        sizes.release_all(2);
        assert_eq!(sizes.size_for("a"), None);
    }

    #[test]
    fn zero_sizes_are_ignored_and_one_claim_per_client_and_scope() {
        let mut sizes = Sizes::default();
        sizes.claim(1, Scope::All, 0, 80);
        assert_eq!(sizes.size_for("a"), None);
        sizes.claim(1, Scope::All, 10, 80);
        sizes.claim(1, Scope::All, 12, 80);
        sizes.release(1, &Scope::All);
        assert_eq!(sizes.size_for("a"), None, "the replaced claim is gone too");
    }

    #[test]
    fn an_outsized_claim_is_brought_within_bounds() {
        let mut sizes = Sizes::default();
        sizes.claim(1, Scope::All, u16::MAX, u16::MAX);
        assert_eq!(
            sizes.size_for("a"),
            Some((
                super::super::protocol::MAX_ROWS,
                super::super::protocol::MAX_COLS
            ))
        );
    }
}
