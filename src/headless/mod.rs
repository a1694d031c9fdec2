//! `orch --no-tui`: the engine with line-oriented progress on stdout, a final
//! summary, and `--json` / `--junit` reports for CI.

mod progress;
pub mod report;

pub use progress::Progress;
pub use report::RunReport;
