//! Ingest throughput: how fast an agent's output gets from its PTY into the
//! screen, history and log, compared with just draining the PTY.
//!
//! Run with `cargo bench --bench ingest`. Each case runs 3 times (the PTY
//! cases interleaved, so drift hits both alike) and the median is reported.

use std::hint::black_box;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use orch::agent::pty::{AgentProcess, SpawnSpec};
use orch::agent::screen::TerminalScreen;
use portable_pty::{CommandBuilder, PtySize};

const ROWS: u16 = 50;
const COLS: u16 = 200;
const HISTORY: usize = 10_000;
const REPS: usize = 3;
const COMMAND: [&str; 3] = ["seq", "1", "2000000"];
/// Chunk size when feeding from memory (a typical PTY read).
const CHUNK: usize = 4096;

fn pty_size() -> PtySize {
    PtySize {
        rows: ROWS,
        cols: COLS,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// Spawn the command in a PTY and read until EOF, keeping the bytes if asked.
fn drain_pty(keep: bool) -> (Duration, usize, Vec<u8>) {
    let pair = portable_pty::native_pty_system()
        .openpty(pty_size())
        .expect("openpty");
    let mut cmd = CommandBuilder::new(COMMAND[0]);
    cmd.args(&COMMAND[1..]);
    cmd.env("TERM", "xterm-256color");
    let start = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    let mut kept = Vec::new();
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                if keep {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    child.wait().expect("wait");
    (start.elapsed(), total, kept)
}

/// Full `AgentProcess` ingest: spawn until `on_exit`.
fn agent_ingest(dir: &Path, run: usize) -> (Duration, u64, usize, usize) {
    let spec = SpawnSpec {
        command: COMMAND.iter().map(|s| s.to_string()).collect(),
        cwd: dir.to_owned(),
        env: Vec::new(),
        rows: ROWS,
        cols: COLS,
        log_path: dir.join(format!("logs/bench/{run}.log")),
        log_cap_bytes: 64 << 20,
        history_lines: HISTORY,
        on_output: None,
    };
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let agent = AgentProcess::spawn(
        spec,
        Box::new(move |exit| {
            let _ = tx.send(exit);
        }),
    )
    .expect("spawn agent");
    let exit = rx.recv().expect("on_exit");
    let elapsed = start.elapsed();
    assert!(exit.success(), "{exit}");
    let screen = agent.screen().lock().expect("screen lock");
    let h = screen.history();
    (elapsed, screen.bytes_processed(), h.len(), h.bytes_used())
}

fn feed_vt100(data: &[u8]) -> Duration {
    let start = Instant::now();
    let mut parser = vt100::Parser::new(
        std::num::NonZeroU16::new(ROWS).expect("rows"),
        std::num::NonZeroU16::new(COLS).expect("cols"),
        HISTORY,
    );
    for chunk in data.chunks(CHUNK) {
        parser.process(chunk);
    }
    black_box(parser.screen().cursor_position());
    start.elapsed()
}

/// `TerminalScreen` fed in PTY-sized chunks; `deferred` uses
/// `process_deferred` (as the agent's reader does) and one final `sync`.
fn feed_screen(data: &[u8], deferred: bool) -> (Duration, usize, usize) {
    let start = Instant::now();
    let mut screen = TerminalScreen::new(ROWS, COLS, HISTORY);
    for chunk in data.chunks(CHUNK) {
        if deferred {
            screen.process_deferred(chunk);
        } else {
            screen.process(chunk);
        }
    }
    screen.sync();
    let elapsed = start.elapsed();
    black_box(screen.screen().cursor_position());
    (
        elapsed,
        screen.history().len(),
        screen.history().bytes_used(),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");

    // The exact bytes the PTY delivers (with ONLCR's \r\n), for the
    // in-memory cases.
    let (_, _, data) = drain_pty(true);
    let bytes = data.len();
    // Same line count, every number coloured: exercises the general path.
    let mut coloured = Vec::with_capacity(bytes * 2);
    for i in 1..=2_000_000u32 {
        coloured.extend_from_slice(format!("\x1b[3{}m{i}\x1b[0m\r\n", i % 8).as_bytes());
    }

    let mut base = Vec::new();
    let mut agent = Vec::new();
    let mut agent_stats = (0, 0);
    for run in 0..REPS {
        let (d, n, _) = drain_pty(false);
        assert_eq!(n, bytes, "baseline read everything");
        base.push(d);
        let (d, n, lines, mem) = agent_ingest(dir.path(), run);
        assert_eq!(n as usize, bytes, "agent processed everything");
        agent.push(d);
        agent_stats = (lines, mem);
        // Write the log back to disk now, outside the timed runs, so that
        // one run's writeback does not land in the next run.
        // SAFETY: sync(2) has no preconditions.
        unsafe { libc::sync() };
    }
    let vt: Vec<Duration> = (0..REPS).map(|_| feed_vt100(&data)).collect();
    let mut screen_stats = (0, 0);
    let screen: Vec<Duration> = (0..REPS)
        .map(|_| {
            let (d, lines, mem) = feed_screen(&data, false);
            screen_stats = (lines, mem);
            d
        })
        .collect();
    let deferred: Vec<Duration> = (0..REPS).map(|_| feed_screen(&data, true).0).collect();
    let mut coloured_stats = (0, 0);
    let coloured_t: Vec<Duration> = (0..REPS)
        .map(|_| {
            let (d, lines, mem) = feed_screen(&coloured, false);
            coloured_stats = (lines, mem);
            d
        })
        .collect();

    let (base, agent, vt, screen, deferred, coloured_t) = (
        median(base),
        median(agent),
        median(vt),
        median(screen),
        median(deferred),
        median(coloured_t),
    );
    println!(
        "ingest of `{}` ({:.1} MB with CRLF), screen {COLS}x{ROWS}, history {HISTORY} lines, median of {REPS}",
        COMMAND.join(" "),
        bytes as f64 / 1e6
    );
    println!("{:<58} {:>9} {:>10}", "case", "MB/s", "time");
    let row = |name: &str, b: usize, d: Duration| {
        println!(
            "{name:<58} {:>9.1} {:>8.0}ms",
            mbps(b, d),
            d.as_secs_f64() * 1e3
        );
    };
    row("(1) baseline: PTY read-and-discard", bytes, base);
    row(
        "(2) AgentProcess full ingest (spawn .. on_exit)",
        bytes,
        agent,
    );
    row(
        "(3) reference: vt100::Parser(50,200,10_000), memory",
        bytes,
        vt,
    );
    row("(4) TerminalScreen::process, memory", bytes, screen);
    row(
        "(4b) TerminalScreen::process_deferred, memory",
        bytes,
        deferred,
    );
    row(
        "(5) TerminalScreen::process, memory, every line coloured",
        coloured.len(),
        coloured_t,
    );
    println!(
        "ratio (2)/(1): throughput {:.3}, time {:.3}",
        base.as_secs_f64() / agent.as_secs_f64(),
        agent.as_secs_f64() / base.as_secs_f64()
    );
    for (name, (lines, mem)) in [
        ("AgentProcess", agent_stats),
        ("TerminalScreen", screen_stats),
        ("coloured", coloured_stats),
    ] {
        println!(
            "history ({name}): {lines} lines, {mem} bytes = {:.1} bytes/line ({:.0} KiB at 10k lines)",
            mem as f64 / lines.max(1) as f64,
            mem as f64 / lines.max(1) as f64 * 10_000.0 / 1024.0
        );
    }
}
