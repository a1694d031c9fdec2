//! Work orch does for the user around the plan, outside the engine: the
//! `[hooks]` commands and `git push`. Each runner is a blocking function
//! (the engine's driver calls it on tokio's blocking pool) that runs a
//! program with no terminal and no input, keeps a bounded tail of its
//! output, and kills it with everything it started when it runs too long.
//!
//! By job: `hooks` (a hook's argv run to an outcome and an output),
//! `push` (`git push` with the user's own git, and the retry delays),
//! `process` (what both share: the session, the output tail, the timeout
//! and the clean-up of leftover processes).

pub mod hooks;
mod process;
pub mod push;
