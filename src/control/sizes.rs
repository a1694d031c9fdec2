//! Placeholder replaced by the sizes module (same API).
pub type ClientId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Task(String),
}

#[derive(Debug, Default)]
pub struct Sizes {
    seq: u64,
    claims: Vec<(ClientId, Scope, u16, u16, u64)>,
}

impl Sizes {
    pub fn claim(&mut self, client: ClientId, scope: Scope, rows: u16, cols: u16) {
        if rows == 0 || cols == 0 {
            return;
        }
        self.seq += 1;
        self.claims.retain(|c| !(c.0 == client && c.1 == scope));
        self.claims.push((client, scope, rows, cols, self.seq));
    }
    pub fn release(&mut self, client: ClientId, scope: &Scope) {
        self.claims.retain(|c| !(c.0 == client && &c.1 == scope));
    }
    pub fn release_all(&mut self, client: ClientId) {
        self.claims.retain(|c| c.0 != client);
    }
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
