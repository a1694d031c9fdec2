//! What reading a screen for waiting detection costs: `ScreenText::of`
//! plus `ScreenRules::classify` on a 200x50 screen full of output, per call
//! (µs), and how many calls one core sustains per second. Measured for each
//! kind's presets (with two `waiting_patterns` and an `auto_answer` pattern,
//! as a configured agent has), on a screen of build output (nothing
//! decides: every rule runs) and on one ending in a Claude Code style
//! permission menu.

use std::hint::black_box;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use orch::agent::waiting::screen::{ScreenRules, ScreenText};
use orch::config::AgentKind;
use regex::Regex;

const ROWS: u16 = 50;
const COLS: u16 = 200;
/// Each measurement runs at least this long.
const RUN: Duration = Duration::from_millis(700);

/// A 200x50 screen after `lines` of coloured build output, then `tail`.
fn screen(tail: &str) -> vt100::Parser {
    let mut parser = vt100::Parser::new(
        NonZeroU16::new(ROWS).expect("rows"),
        NonZeroU16::new(COLS).expect("cols"),
        0,
    );
    let mut out = String::new();
    for i in 0..200 {
        out.push_str(&format!(
            "\x1b[1;32m   Compiling\x1b[0m crate-{i:03} v0.{i}.0 (/work/src/crates/crate-{i:03}) \
             \x1b[2m[build script] target/debug/build/crate-{i:03}-{i:016x}/out: {}\x1b[0m\r\n",
            "generated bindings for module ".repeat(3)
        ));
    }
    out.push_str(tail);
    parser.process(out.as_bytes());
    parser
}

fn rules(kind: AgentKind) -> ScreenRules {
    ScreenRules::new(
        kind,
        vec![
            Regex::new(r"\(y/n\)\s*$").expect("pattern"),
            Regex::new(r"(?m)^Deploy to production\?").expect("pattern"),
        ],
        vec![Regex::new(r"Proceed\? \(y/n\)").expect("pattern")],
    )
}

/// Mean µs per call of `ScreenText::of` + `classify`, and calls per second.
fn measure(parser: &vt100::Parser, rules: &ScreenRules) -> (f64, f64) {
    // Warm up, and check the screen reads as expected once.
    for _ in 0..100 {
        black_box(rules.classify(&ScreenText::of(parser.screen())));
    }
    let mut calls = 0u64;
    let start = Instant::now();
    while start.elapsed() < RUN {
        for _ in 0..100 {
            let text = ScreenText::of(black_box(parser.screen()));
            black_box(rules.classify(&text));
        }
        calls += 100;
    }
    let took = start.elapsed().as_secs_f64();
    (took * 1e6 / calls as f64, calls as f64 / took)
}

fn main() {
    let output = screen("");
    let menu = screen(
        "\x1b[38;5;244m────────────────────────────────────────\x1b[0m\r\n \x1b[1mBash command\x1b[0m\r\n\r\n   make release\r\n\r\n \
         Do you want to proceed?\r\n \x1b[36m❯ 1. Yes\x1b[0m\r\n   2. Yes, and don't ask again\r\n   3. No\r\n\r\n \
         \x1b[2mEsc to cancel · Tab to amend\x1b[0m",
    );
    println!("waiting detection: ScreenText::of + classify, {COLS}x{ROWS} screen, one core");
    println!(
        "{:<12} {:<18} {:>10} {:>12}  decided",
        "kind", "screen", "µs/call", "calls/s"
    );
    let of_only = {
        let mut calls = 0u64;
        let start = Instant::now();
        while start.elapsed() < RUN {
            for _ in 0..100 {
                black_box(ScreenText::of(black_box(output.screen())));
            }
            calls += 100;
        }
        start.elapsed().as_secs_f64() * 1e6 / calls as f64
    };
    for kind in AgentKind::ALL {
        let rules = rules(kind);
        for (name, parser) in [("build output", &output), ("permission menu", &menu)] {
            let decided = rules
                .classify(&ScreenText::of(parser.screen()))
                .map_or("nothing".to_string(), |m| m.rule);
            let (us, per_s) = measure(parser, &rules);
            println!(
                "{:<12} {:<18} {:>10.1} {:>12.0}  {decided}",
                kind.as_str(),
                name,
                us,
                per_s
            );
        }
    }
    let text = ScreenText::of(output.screen());
    let rules = rules(AgentKind::ClaudeCode);
    let classify_only = {
        let mut calls = 0u64;
        let start = Instant::now();
        while start.elapsed() < RUN {
            for _ in 0..100 {
                black_box(rules.classify(black_box(&text)));
            }
            calls += 100;
        }
        start.elapsed().as_secs_f64() * 1e6 / calls as f64
    };
    println!("ScreenText::of alone: {of_only:.1} µs/call");
    println!("classify alone (claude-code, build output): {classify_only:.1} µs/call");
}
