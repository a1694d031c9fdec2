//! Ingest throughput: how fast an agent's output gets from its PTY into the
//! screen, history and log, next to just draining the PTY and next to tmux
//! showing the same output in a pane of the same size.
//!
//! The agent is `cat` of a file written beforehand into a temporary
//! directory, so the producer is never the limit (`seq` itself is slower
//! than the PTY). Two files: two million short plain lines (`seq 1 2000000`)
//! and the same lines each coloured with SGR sequences (ANSI-heavy).
//!
//! Run with `cargo bench --bench ingest` (tmux cases are skipped without
//! tmux). PTY cases run [`REPS`] times, interleaved (orch, tmux, orch, ...),
//! so drift on a busy machine hits both alike; medians and the median of the
//! pairwise ratios are reported. CPU is the bench process's own (user +
//! system, all threads; the child `cat` excluded) for orch, and the tmux
//! server's for tmux.
//!
//! For profilers, `cargo bench --bench ingest -- once [drain|memory] FILE`
//! runs one case on a file of your own (see [`once`]); `memory` needs no PTY
//! and no clock, so `valgrind --tool=callgrind` counts the same instructions
//! every time.

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use orch::agent::pty::{AgentProcess, SpawnSpec};
use orch::agent::screen::TerminalScreen;
use portable_pty::{CommandBuilder, PtySize};

const ROWS: u16 = 50;
const COLS: u16 = 200;
const HISTORY: usize = 10_000;
const REPS: usize = 5;
const LINES: u32 = 2_000_000;
/// Chunk size when feeding from memory (a typical PTY read).
const CHUNK: usize = 4096;
/// tmux socket name of the bench's own server.
const TMUX_SOCKET: &str = "orch-ingest-bench";

fn pty_size() -> PtySize {
    PtySize {
        rows: ROWS,
        cols: COLS,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// CPU seconds (user + system) of this process, all threads.
fn own_cpu() -> f64 {
    // SAFETY: getrusage writes one struct through the pointer we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds of process `pid` from /proc (clock-tick resolution).
fn proc_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // utime and stime: fields 14 and 15 of stat, 11 and 12 after the name.
    let ticks = field(11).unwrap_or(0) + field(12).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// One timed run: wall time and CPU.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: f64,
}

/// `cat FILE` in a PTY, read until EOF; the bytes are kept if asked.
fn drain_pty(file: &Path, keep: bool) -> (Run, usize, Vec<u8>) {
    let pair = portable_pty::native_pty_system()
        .openpty(pty_size())
        .expect("openpty");
    let mut cmd = CommandBuilder::new("cat");
    cmd.arg(file);
    cmd.env("TERM", "xterm-256color");
    let cpu = own_cpu();
    let start = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let mut buf = vec![0u8; 64 * 1024];
    let mut kept = Vec::new();
    let mut total = 0;
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
    let run = Run {
        wall: start.elapsed(),
        cpu: own_cpu() - cpu,
    };
    (run, total, kept)
}

/// Full `AgentProcess` ingest of `cat FILE`: spawn until `on_exit`.
fn agent_ingest(dir: &Path, file: &Path, run: usize) -> (Run, u64, usize, usize) {
    let spec = SpawnSpec {
        command: vec!["cat".into(), file.display().to_string()],
        cwd: dir.to_owned(),
        env: Vec::new(),
        rows: ROWS,
        cols: COLS,
        log_path: dir.join(format!("logs/bench/{run}.log")),
        log_cap_bytes: 64 << 20,
        history_lines: HISTORY,
        on_output: None,
        confine: None,
    };
    let (tx, rx) = mpsc::channel();
    let cpu = own_cpu();
    let start = Instant::now();
    let agent = AgentProcess::spawn(
        spec,
        Box::new(move |exit| {
            let _ = tx.send(exit);
        }),
    )
    .expect("spawn agent");
    let exit = rx.recv().expect("on_exit");
    let run = Run {
        wall: start.elapsed(),
        cpu: own_cpu() - cpu,
    };
    assert!(exit.success(), "{exit}");
    let screen = agent.screen().lock().expect("screen lock");
    let h = screen.history();
    (run, screen.bytes_processed(), h.len(), h.bytes_used())
}

fn tmux(args: &[&str]) -> Option<String> {
    let out = Command::new("tmux")
        .args(["-L", TMUX_SOCKET, "-f", "/dev/null"])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A tmux server of our own, kept alive by an idle session; its pid.
fn start_tmux() -> Option<u32> {
    tmux(&["kill-server"]);
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "keep",
        "-x",
        "20",
        "-y",
        "5",
        "sleep 3600",
    ])?;
    tmux(&["display-message", "-p", "#{pid}"])?
        .trim()
        .parse()
        .ok()
}

/// tmux showing `cat FILE` in a detached 200x50 session, from the command
/// until the pane's command finished (it signals a wait-for channel).
fn tmux_ingest(server: u32, file: &Path, run: usize) -> Run {
    let channel = format!("ingest-done-{run}");
    let command = format!(
        "cat '{}'; tmux -L {TMUX_SOCKET} wait-for -S {channel}",
        file.display()
    );
    let cpu = proc_cpu(server);
    let start = Instant::now();
    let (rows, cols) = (ROWS.to_string(), COLS.to_string());
    let session = format!("ingest{run}");
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        &cols,
        "-y",
        &rows,
        &command,
        ";",
        "wait-for",
        &channel,
    ])
    .expect("tmux session");
    let run = Run {
        wall: start.elapsed(),
        cpu: proc_cpu(server) - cpu,
    };
    tmux(&["kill-session", "-t", &session]);
    run
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

fn median_by<T: Copy>(v: &[T], key: impl Fn(&T) -> f64) -> f64 {
    let mut keys: Vec<f64> = v.iter().map(key).collect();
    keys.sort_by(f64::total_cmp);
    keys[keys.len() / 2]
}

fn median(v: &[Duration]) -> Duration {
    Duration::from_secs_f64(median_by(v, Duration::as_secs_f64))
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// Write the two input files; returns their paths.
fn write_inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let plain = dir.join("plain.txt");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("seq 1 {LINES} > '{}'", plain.display()))
        .status()
        .expect("seq")
        .success();
    assert!(ok, "seq failed");
    // Same line count, every number coloured: exercises the general path.
    let mut coloured = Vec::with_capacity(40 * LINES as usize);
    for i in 1..=LINES {
        coloured.extend_from_slice(format!("\x1b[3{}m{i}\x1b[0m\n", i % 8).as_bytes());
    }
    let ansi = dir.join("ansi.txt");
    std::fs::write(&ansi, coloured).expect("write ansi input");
    (plain, ansi)
}

/// One input through orch and (if present) tmux, interleaved.
struct Pair {
    orch: Vec<Run>,
    tmux: Vec<Run>,
}

impl Pair {
    fn report(&self, name: &str, bytes: usize) {
        let wall = |v: &[Run]| median(&v.iter().map(|r| r.wall).collect::<Vec<_>>());
        let cpu = |v: &[Run]| median_by(v, |r| r.cpu);
        let orch = wall(&self.orch);
        println!(
            "{name:<34} orch  {:>7.1} MB/s {:>6.0} ms wall {:>6.0} ms cpu",
            mbps(bytes, orch),
            orch.as_secs_f64() * 1e3,
            cpu(&self.orch) * 1e3
        );
        if self.tmux.is_empty() {
            return;
        }
        let tmux = wall(&self.tmux);
        println!(
            "{:<34} tmux  {:>7.1} MB/s {:>6.0} ms wall {:>6.0} ms cpu",
            "",
            mbps(bytes, tmux),
            tmux.as_secs_f64() * 1e3,
            cpu(&self.tmux) * 1e3
        );
        let ratios: Vec<(f64, f64)> = self
            .orch
            .iter()
            .zip(&self.tmux)
            .map(|(o, t)| {
                (
                    o.wall.as_secs_f64() / t.wall.as_secs_f64(),
                    o.cpu / t.cpu.max(1e-3),
                )
            })
            .collect();
        println!(
            "{:<34} orch/tmux: wall {:.2} x, cpu {:.2} x (median of pairs)",
            "",
            median_by(&ratios, |r| r.0),
            median_by(&ratios, |r| r.1)
        );
    }
}

/// Bytes between two syncs in `once memory`: about what arrives in the
/// agent reader's 15 ms sync interval during a flood (~30 MB/s).
const SYNC_BYTES: usize = 512 * 1024;

/// `cargo bench --bench ingest -- once [drain|memory] FILE`: one
/// AgentProcess ingest of `cat FILE` and nothing else, to run under a
/// profiler; with `drain`, a plain read-and-discard of it instead; with
/// `memory`, the file (LF made CRLF, as the PTY does) fed to a
/// `TerminalScreen` in PTY-sized chunks, synced every [`SYNC_BYTES`] as the
/// reader does: no PTY, no clock, so an instruction count repeats exactly.
fn once(dir: &Path, args: &[String]) {
    let (mode, file) = match args {
        [m, f] if m == "drain" || m == "memory" => (m.as_str(), Path::new(f)),
        [f] => ("agent", Path::new(f)),
        _ => panic!("usage: once [drain|memory] FILE"),
    };
    if mode == "memory" {
        let raw = std::fs::read(file).expect("read input");
        let mut data = Vec::with_capacity(raw.len() * 2);
        for &b in &raw {
            if b == b'\n' {
                data.push(b'\r');
            }
            data.push(b);
        }
        let start = Instant::now();
        let mut screen = TerminalScreen::new(ROWS, COLS, HISTORY);
        for (i, chunk) in data.chunks(CHUNK).enumerate() {
            screen.process_deferred(chunk);
            if (i + 1) % (SYNC_BYTES / CHUNK) == 0 {
                screen.sync();
            }
        }
        screen.sync();
        println!(
            "memory {}: {} bytes in {:.0} ms, {} history lines",
            file.display(),
            data.len(),
            start.elapsed().as_secs_f64() * 1e3,
            screen.history().len()
        );
        return;
    }
    let drain = mode == "drain";
    let (run, n) = if drain {
        let (run, n, _) = drain_pty(file, false);
        (run, n as u64)
    } else {
        let (run, n, _, _) = agent_ingest(dir, file, 0);
        (run, n)
    };
    println!(
        "{} {}: {n} bytes in {:.0} ms, {:.0} ms cpu",
        if drain { "drain" } else { "AgentProcess" },
        file.display(),
        run.wall.as_secs_f64() * 1e3,
        run.cpu * 1e3
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `cargo bench` adds `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Some(i) = args.iter().position(|a| a == "once") {
        once(dir.path(), &args[i + 1..]);
        return;
    }
    let (plain, ansi) = write_inputs(dir.path());

    // The exact bytes the PTY delivers (with ONLCR's \r\n), for the
    // in-memory cases.
    let (_, _, data) = drain_pty(&plain, true);
    let (_, _, coloured) = drain_pty(&ansi, true);
    let bytes = data.len();

    let server = start_tmux();
    if server.is_none() {
        println!("(tmux not found: tmux cases skipped)");
    }
    let mut base = Vec::new();
    let mut plain_runs = Pair {
        orch: Vec::new(),
        tmux: Vec::new(),
    };
    let mut ansi_runs = Pair {
        orch: Vec::new(),
        tmux: Vec::new(),
    };
    let mut agent_stats = (0, 0);
    for run in 0..REPS {
        let (r, n, _) = drain_pty(&plain, false);
        assert_eq!(n, bytes, "baseline read everything");
        base.push(r.wall);
        for (input, pair, len) in [
            (&plain, &mut plain_runs, bytes),
            (&ansi, &mut ansi_runs, coloured.len()),
        ] {
            let (r, n, lines, mem) = agent_ingest(dir.path(), input, run);
            assert_eq!(n as usize, len, "agent processed everything");
            pair.orch.push(r);
            if input == &plain {
                agent_stats = (lines, mem);
            }
            if let Some(server) = server {
                pair.tmux.push(tmux_ingest(server, input, run));
            }
            // Write the log back to disk now, outside the timed runs, so
            // that one run's writeback does not land in the next run.
            // SAFETY: sync(2) has no preconditions.
            unsafe { libc::sync() };
        }
    }
    if server.is_some() {
        tmux(&["kill-server"]);
    }

    let vt: Vec<Duration> = (0..3).map(|_| feed_vt100(&data)).collect();
    let mut screen_stats = (0, 0);
    let screen: Vec<Duration> = (0..3)
        .map(|_| {
            let (d, lines, mem) = feed_screen(&data, false);
            screen_stats = (lines, mem);
            d
        })
        .collect();
    let deferred: Vec<Duration> = (0..3).map(|_| feed_screen(&data, true).0).collect();
    let mut coloured_stats = (0, 0);
    let coloured_t: Vec<Duration> = (0..3)
        .map(|_| {
            let (d, lines, mem) = feed_screen(&coloured, false);
            coloured_stats = (lines, mem);
            d
        })
        .collect();

    println!(
        "ingest of `cat` of {LINES} lines ({:.1} MB plain, {:.1} MB coloured, with CRLF), screen {COLS}x{ROWS}, history {HISTORY} lines; PTY cases median of {REPS}, memory cases of 3",
        bytes as f64 / 1e6,
        coloured.len() as f64 / 1e6
    );
    let base = median(&base);
    println!(
        "{:<34} read  {:>7.1} MB/s {:>6.0} ms wall",
        "PTY read-and-discard, plain",
        mbps(bytes, base),
        base.as_secs_f64() * 1e3
    );
    plain_runs.report("AgentProcess (spawn .. on_exit), plain", bytes);
    ansi_runs.report("AgentProcess, coloured", coloured.len());
    let row = |name: &str, b: usize, d: &[Duration]| {
        let d = median(d);
        println!(
            "{name:<58} {:>8.1} MB/s {:>6.0} ms",
            mbps(b, d),
            d.as_secs_f64() * 1e3
        );
    };
    row(
        "memory: vt100::Parser(50,200,10_000) (reference)",
        bytes,
        &vt,
    );
    row("memory: TerminalScreen::process", bytes, &screen);
    row("memory: TerminalScreen::process_deferred", bytes, &deferred);
    row(
        "memory: TerminalScreen::process, coloured",
        coloured.len(),
        &coloured_t,
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
