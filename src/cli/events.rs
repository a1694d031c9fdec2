//! Placeholder replaced by the events module (same API).
use std::path::Path;
use std::time::Duration;

pub enum Woken {
    Changed,
    Quiet,
    Gone,
}

pub trait Wake {
    fn wait(&mut self, max: Duration) -> Woken;
}

pub fn run(_state_dir: &Path, _json: bool, _wake: Option<&mut dyn Wake>) -> i32 {
    0
}
