//! The `orch` binary: parse the command line and hand over to `orch::cli`.
//! See `src/lib.rs` for the map of the crate.

fn main() {
    let code = orch::cli::main();
    std::process::exit(code);
}
