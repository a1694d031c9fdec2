//! Messages through the store (`orch msg send/poll`): the engine keeps
//! each step of a message in `state.db` (its row and a `message` event, in
//! one transaction) before it answers. Measured against a real engine with
//! one running agent (a `sleep`), through its handle, in rounds of 100
//! messages (a task's bound of unread ones):
//! - sent: `SendMessage` one at a time, as 100 agents sending at once would;
//! - read: the agent's polls, `TakeMessages` then `AckMessages` per batch;
//! - and the whole life of a message (sent, handed out, acknowledged).
//!
//! Then from the command line, as a person or an agent pays it: `orch msg
//! send` (fork and exec, connect, hello, the engine's write), median and
//! 99th percentile, against a foreground `orch --no-tui`.
//!
//! `cargo bench --bench messages` (add `-- N` for another number of rounds).

mod common;

use std::path::Path;

use std::process::Command;
use std::time::{Duration, Instant};

use orch::engine::message::{Answer, UNREAD_MAX};
use orch::engine::{Actor, Engine, EngineOptions, Event, Request};
use orch::session::{load_config, Session};

/// A repository whose plan is one task, `reader`, whose agent sleeps.
fn repo() -> tempfile::TempDir {
    common::repo_with(
        "[defaults]\nretries = 0\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n\
         [[tasks]]\nid = \"reader\"\nagent = \"sh\"\nprompt = \"sleep 600\"\nmerge = \"never\"\n",
    )
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let dir = repo();
    let config = load_config(&dir.path().join("orch.toml")).expect("config");
    let session = Session::open(config).expect("session");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let opts = EngineOptions {
        exit_when_settled: false,
        approval_timeout: None,
        ..EngineOptions::default()
    };
    let (send_time, read_time, total) = runtime.block_on(async {
        let (engine, handle) = Engine::new(
            session.config,
            session.store,
            session.repo,
            session.base_branch,
            opts,
        )
        .expect("engine");
        let mut events = handle.subscribe();
        let run = tokio::spawn(engine.run());
        let attempt = loop {
            match events.recv().await {
                Ok(Event::AgentStarted { attempt, .. }) => break attempt,
                Ok(_) => {}
                Err(err) => panic!("no agent started: {err}"),
            }
        };
        let agent = Actor::Agent("reader".into());
        let (mut send_time, mut read_time) = (Duration::ZERO, Duration::ZERO);
        for round in 0..rounds {
            let t0 = Instant::now();
            for n in 0..UNREAD_MAX {
                let sent = handle
                    .answer(
                        Actor::User("bench".into()),
                        Request::SendMessage {
                            to: "reader".into(),
                            text: format!("round {round} message {n}: the schema is ready"),
                            from_attempt: None,
                        },
                    )
                    .await;
                assert!(matches!(sent, Ok(Answer::Sent { .. })), "{sent:?}");
            }
            send_time += t0.elapsed();
            let t1 = Instant::now();
            let mut read = 0;
            while read < UNREAD_MAX {
                let take = Request::TakeMessages {
                    task: "reader".into(),
                    attempt,
                    poll: 1,
                };
                let Ok(Answer::Messages { messages, .. }) =
                    handle.answer(agent.clone(), take).await
                else {
                    panic!("no messages");
                };
                let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
                read += ids.len();
                handle
                    .ask(
                        agent.clone(),
                        Request::AckMessages {
                            task: "reader".into(),
                            attempt,
                            ids,
                        },
                    )
                    .await
                    .expect("ack");
            }
            read_time += t1.elapsed();
        }
        let total = send_time + read_time;
        let _ = handle
            .tell(
                Actor::User("bench".into()),
                Request::Shutdown { stop_agents: true },
            )
            .await;
        let _ = run.await;
        (send_time, read_time, total)
    });
    let n = (rounds * UNREAD_MAX) as f64;
    println!("messages through the store: {rounds} rounds of {UNREAD_MAX} (one running agent)");
    println!(
        "  sent                 : {:>8.0} messages/s ({:.3} ms each)",
        n / send_time.as_secs_f64(),
        send_time.as_secs_f64() * 1000.0 / n
    );
    println!(
        "  handed out and acked : {:>8.0} messages/s ({:.3} ms each)",
        n / read_time.as_secs_f64(),
        read_time.as_secs_f64() * 1000.0 / n
    );
    println!(
        "  whole life           : {:>8.0} messages/s ({:.3} ms each)",
        n / total.as_secs_f64(),
        total.as_secs_f64() * 1000.0 / n
    );

    // From the command line, against a foreground run.
    let dir = repo();
    let orch = env!("CARGO_BIN_EXE_orch");
    let mut run = Command::new(orch)
        .arg("--no-tui")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("orch --no-tui");
    let sock = dir.path().join(".orch/orch.sock");
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Half as a person does (the config read to find the state directory),
    // half as an agent does (ORCH_SOCKET given).
    let half = UNREAD_MAX / 2;
    let timed = |n: usize, socket: Option<&Path>| {
        let mut send = Command::new(orch);
        send.args(["msg", "send", "--to", "reader", &format!("message {n}")])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .env_remove("ORCH_SOCKET");
        if let Some(socket) = socket {
            send.env("ORCH_SOCKET", socket);
        }
        let t = Instant::now();
        let status = send.status().expect("orch msg send");
        let took = t.elapsed();
        assert!(status.success(), "{status}");
        took
    };
    let mut person: Vec<Duration> = (0..half).map(|n| timed(n, None)).collect();
    let mut agent: Vec<Duration> = (half..UNREAD_MAX).map(|n| timed(n, Some(&sock))).collect();
    person.sort();
    agent.sort();
    let stop = Command::new(orch)
        .arg("stop")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .status();
    if !matches!(stop, Ok(s) if s.success()) {
        let _ = run.kill();
    }
    let _ = run.kill();
    let _ = run.wait();
    for (who, samples) in [("config", &person), ("ORCH_SOCKET", &agent)] {
        println!(
            "  `orch msg send`, by {who:<11}: {:.2} ms median, {:.2} ms p99 ({} runs; fork and exec included)",
            quantile(samples, 0.5),
            quantile(samples, 0.99),
            samples.len()
        );
    }
}
