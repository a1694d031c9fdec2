//! Each attempt's `ORCH_TOKEN`: 128 random bits, as hex, made when its
//! agent is spawned and valid only while that attempt runs.
//!
//! The token is not what makes a process an agent (a process that descends
//! from an agent is one, token or not: `control::identity`); it names the
//! attempt for processes orch cannot place by their ancestry (orphans of a
//! double fork, reparented to orch) and lets a client say which attempt it
//! speaks for. The engine's core stays deterministic: the driver makes the
//! token at spawn and registers it here, and removes it when the attempt
//! ends.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::{Arc, RwLock};

/// Random bytes in a token.
const TOKEN_BYTES: usize = 16;

/// A fresh token: [`TOKEN_BYTES`] bytes of `/dev/urandom` as lowercase hex.
pub fn generate() -> io::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `text` has a token's shape (so a malformed one is told apart
/// from one that is merely unknown).
pub fn well_formed(text: &str) -> bool {
    text.len() == TOKEN_BYTES * 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The attempt a token stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttemptId {
    pub task: String,
    pub attempt: u32,
}

impl std::fmt::Display for AttemptId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} attempt {}", self.task, self.attempt)
    }
}

/// The tokens of running attempts. Cheap to clone; filled by the engine's
/// driver, read by the control server.
#[derive(Clone, Default)]
pub struct AgentTokens {
    inner: Arc<RwLock<HashMap<String, AttemptId>>>,
}

impl std::fmt::Debug for AgentTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves: they end up in logs.
        write!(f, "AgentTokens({} running)", self.len())
    }
}

impl AgentTokens {
    /// `token` stands for `task`'s `attempt` from now on (replacing any
    /// earlier token of that attempt).
    pub fn insert(&self, token: &str, task: &str, attempt: u32) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, id| !(id.task == task && id.attempt == attempt));
        map.insert(
            token.to_string(),
            AttemptId {
                task: task.to_string(),
                attempt,
            },
        );
    }

    /// The attempt has ended: its token means nothing any more.
    pub fn remove(&self, task: &str, attempt: u32) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, id| !(id.task == task && id.attempt == attempt));
    }

    /// The running attempt `token` stands for.
    pub fn lookup(&self, token: &str) -> Option<AttemptId> {
        let map = self.inner.read().unwrap_or_else(|p| p.into_inner());
        map.get(token).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_hex_of_128_bits() {
        let a = generate().expect("token");
        let b = generate().expect("token");
        assert_eq!(a.len(), 32);
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
        assert!(!well_formed("xyz"));
        assert!(!well_formed(&"g".repeat(32)));
    }

    #[test]
    fn a_token_is_valid_only_while_its_attempt_runs() {
        let tokens = AgentTokens::default();
        tokens.insert("t1", "api", 1);
        tokens.insert("t2", "ui", 3);
        assert_eq!(
            tokens.lookup("t1"),
            Some(AttemptId {
                task: "api".into(),
                attempt: 1
            })
        );
        // Another attempt of the same task does not end this one's token.
        tokens.remove("api", 2);
        assert!(tokens.lookup("t1").is_some());
        tokens.remove("api", 1);
        assert_eq!(tokens.lookup("t1"), None);
        assert_eq!(tokens.lookup("t2").map(|id| id.attempt), Some(3));
        // A new token for the same attempt replaces the old one.
        tokens.insert("t3", "ui", 3);
        assert_eq!(tokens.lookup("t2"), None);
        assert_eq!(tokens.len(), 1);
        assert!(!format!("{tokens:?}").contains("t3"), "never printed");
    }
}
