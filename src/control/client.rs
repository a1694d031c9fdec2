//! The client side: a terminal that the server draws on (`orch`, `orch
//! attach TASK`) and one-answer commands (`orch approve`, `orch stop`).
//! Kept small: the client puts its terminal in raw mode, forwards what is
//! typed and how big the terminal is, writes what the server sends, runs
//! a pager when asked, and gives the terminal back on every way out.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crossterm::event::EventStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::conn::{Conn, Outgoing};
use super::frame::{Frame, MAX_FRAME};
use super::protocol::{self, kind, Bye, Command, Hello, PagerRequest, Reply, Role, Size, Welcome};
use super::socket::{self, SocketError};
use crate::cli::events::Woken;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody answers on the socket: nothing runs here.
    #[error("{0}")]
    NotRunning(SocketError),
    #[error("{0}")]
    Refused(String),
    #[error("the server broke off the conversation: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Connect to the server of `state_dir` and say hello as `role`. A server
/// that is just ending is waited for (until its lock is free, 10 s at most)
/// and asked once more: then it is gone (`NotRunning`) or it stayed.
pub async fn connect(state_dir: &Path, role: Role) -> Result<(Conn, Welcome), ClientError> {
    match connect_once(state_dir, role.clone()).await {
        Err(ClientError::Refused(reason)) if reason == protocol::ENDING => {
            for _ in 0..200 {
                if crate::session::lock_holder(state_dir).is_none() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            connect_once(state_dir, role).await
        }
        other => other,
    }
}

async fn connect_once(state_dir: &Path, role: Role) -> Result<(Conn, Welcome), ClientError> {
    let stream = socket::connect(state_dir)
        .await
        .map_err(ClientError::NotRunning)?;
    greet(stream, role).await
}

/// Say hello as `role` (with this process's `ORCH_TOKEN`, if set) on a
/// connected stream.
async fn greet(stream: tokio::net::UnixStream, role: Role) -> Result<(Conn, Welcome), ClientError> {
    let mut conn = Conn::start(stream, MAX_FRAME, "the server".into());
    let hello = Hello::new(role).with_env_token();
    if let Some(hello) = Outgoing::json(kind::HELLO, &hello) {
        conn.outbox
            .send(hello)
            .await
            .map_err(|_| ClientError::Protocol("it closed the connection".into()))?;
    }
    let frame = tokio::time::timeout(Duration::from_secs(10), conn.inbox.recv())
        .await
        .map_err(|_| ClientError::Protocol("no answer to hello within 10 s".into()))?
        .ok_or_else(|| ClientError::Protocol("it closed the connection".into()))?;
    match frame.kind {
        kind::WELCOME => {
            let welcome = protocol::decode::<Welcome>(&frame, kind::WELCOME)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            Ok((conn, welcome))
        }
        kind::REFUSED => {
            let refused = protocol::decode::<protocol::Refused>(&frame, kind::REFUSED)
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            Err(ClientError::Refused(refused.reason))
        }
        other => Err(ClientError::Protocol(format!(
            "an unexpected frame of kind {other}"
        ))),
    }
}

/// Where a command goes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The orch of this state directory.
    StateDir(&'a Path),
    /// The socket at this path (an agent's `ORCH_SOCKET`: the link in the
    /// state directory, followed).
    Socket(&'a Path),
}

/// A connection for one command, greeted.
async fn open_command(target: Target<'_>) -> Result<Conn, ClientError> {
    match target {
        Target::StateDir(dir) => Ok(connect(dir, Role::Command).await?.0),
        Target::Socket(path) => {
            let stream = socket::connect_path(path)
                .await
                .map_err(ClientError::NotRunning)?;
            Ok(greet(stream, Role::Command).await?.0)
        }
    }
}

/// Send one command and read its answer.
pub async fn command(state_dir: &Path, command: Command) -> Result<Reply, ClientError> {
    send_to(Target::StateDir(state_dir), command).await
}

/// Send one command to the socket at `path` and read its answer.
pub async fn command_at(path: &Path, command: Command) -> Result<Reply, ClientError> {
    send_to(Target::Socket(path), command).await
}

/// Send one command to `target` and read its answer.
pub async fn send_to(target: Target<'_>, command: Command) -> Result<Reply, ClientError> {
    ask(open_command(target).await?, command).await
}

/// `orch msg poll`: ask for this agent's messages, waiting up to `wait`
/// for the first. Each batch goes to `print`; once it says they are out
/// (`true`), they are acknowledged and never handed out again. The answer
/// says how many were read.
pub async fn poll(
    target: Target<'_>,
    wait: Duration,
    mut print: impl FnMut(&[protocol::Mail]) -> bool,
) -> Result<Reply, ClientError> {
    let mut conn = open_command(target).await?;
    let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    send(&conn, kind::COMMAND, &Command::MsgPoll { wait_ms }).await?;
    loop {
        let frame = conn
            .inbox
            .recv()
            .await
            .ok_or_else(|| ClientError::Protocol("it closed the connection".into()))?;
        match frame.kind {
            kind::MESSAGES => {
                let bag = protocol::decode::<protocol::Mailbag>(&frame, kind::MESSAGES)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                if !print(&bag.messages) {
                    return Err(ClientError::Io(std::io::Error::other(
                        "cannot print the messages (they stay unread)",
                    )));
                }
                let ids: Vec<i64> = bag.messages.iter().map(|m| m.id).collect();
                send(&conn, kind::ACK, &ids).await?;
            }
            _ => {
                return protocol::decode::<Reply>(&frame, kind::REPLY)
                    .map_err(|e| ClientError::Protocol(e.to_string()))
            }
        }
    }
}

async fn ask(mut conn: Conn, command: Command) -> Result<Reply, ClientError> {
    send(&conn, kind::COMMAND, &command).await?;
    let frame = conn
        .inbox
        .recv()
        .await
        .ok_or_else(|| ClientError::Protocol("it closed the connection".into()))?;
    protocol::decode::<Reply>(&frame, kind::REPLY).map_err(|e| ClientError::Protocol(e.to_string()))
}

async fn send<T: serde::Serialize>(conn: &Conn, kind: u8, message: &T) -> Result<(), ClientError> {
    let Some(message) = Outgoing::json(kind, message) else {
        return Err(ClientError::Protocol("cannot encode the request".into()));
    };
    conn.outbox
        .send(message)
        .await
        .map_err(|_| ClientError::Protocol("it closed the connection".into()))
}

/// `orch stop`: ask, then wait until the server has ended (its connection
/// closes as it exits, then its pid is gone). The exit status.
pub async fn stop(state_dir: &Path) -> Result<i32, ClientError> {
    let (mut conn, welcome) = connect(state_dir, Role::Command).await?;
    send(&conn, kind::COMMAND, &Command::Stop).await?;
    let mut code = 0;
    while let Some(frame) = conn.inbox.recv().await {
        match frame.kind {
            kind::REPLY => {
                let reply = protocol::decode::<Reply>(&frame, kind::REPLY)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                println!("{}", reply.message);
                if !reply.ok {
                    return Ok(reply.code);
                }
            }
            kind::BYE => {
                if let Ok(bye) = protocol::decode::<Bye>(&frame, kind::BYE) {
                    if !bye.message.is_empty() {
                        println!("{}", bye.message);
                    }
                    code = 0;
                }
            }
            _ => {}
        }
    }
    // The connection is closed; the process may still be saving.
    let pid = welcome.server_pid;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        if std::time::Instant::now() > deadline {
            eprintln!("orch: the server (pid {pid}) has not ended after a minute");
            return Ok(1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(code)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Terminal modes an attached agent may have turned on in this terminal:
/// all off again on the way out (modifyOtherKeys back to the terminal's
/// own setting; kitty keyboard flags are popped by [`KittyEntries`]).
const RESET_AGENT_MODES: &[u8] = b"\x1b[?1l\x1b>\x1b[?2004l\x1b[?9l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[>4m";

/// How many kitty keyboard flag entries the server has pushed onto this
/// terminal's stack (`CSI > flags u`, less `CSI < u`), so that exactly
/// those are popped on the way out and an entry of whoever ran before is
/// left alone. Only the mode mirror writes these sequences (the agent's
/// own output is redrawn, never passed through), so counting them in the
/// output is exact; a sequence cut between two frames is carried over.
#[derive(Debug, Default)]
struct KittyEntries {
    depth: usize,
    carry: Vec<u8>,
}

impl KittyEntries {
    fn saw(&mut self, bytes: &[u8]) {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut i = 0;
        while let Some(at) = memchr::memchr(0x1b, &data[i..]) {
            let start = i + at;
            let rest = &data[start..];
            // ESC [ > digits u, or ESC [ < u.
            let end = rest
                .iter()
                .skip(2)
                .position(|b| !b.is_ascii_digit() && !matches!(b, b'>' | b'<' | b'=' | b';'))
                .map(|p| p + 2);
            let Some(end) = end else {
                if rest.len() < 16 {
                    self.carry = rest.to_vec();
                }
                return;
            };
            if rest.get(1) == Some(&b'[') && rest[end] == b'u' {
                match rest.get(2) {
                    Some(b'>') => self.depth += 1,
                    Some(b'<') => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
            }
            i = start + 1;
        }
    }

    /// Everything to write on the way out: the agent's modes off, then
    /// the entries pushed and not popped.
    fn owed(&self) -> Vec<u8> {
        let mut out = RESET_AGENT_MODES.to_vec();
        out.extend(self.pop());
        out
    }

    /// What pops the entries pushed and not popped.
    fn pop(&self) -> Vec<u8> {
        match self.depth {
            0 => Vec::new(),
            n => format!("\x1b[<{n}u").into_bytes(),
        }
    }
}

/// What a terminal session ended with.
struct Ending {
    message: String,
    code: i32,
}

fn write_out(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

fn terminal_size() -> (u16, u16) {
    crossterm::terminal::size().unwrap_or((80, 24))
}

/// `orch`: this terminal shows the server's control room until the user
/// detaches or quits, or the server ends. The exit status.
pub async fn control_room(
    state_dir: &Path,
    theme: Option<String>,
    keymap: Option<String>,
) -> Result<i32, ClientError> {
    let (cols, rows) = terminal_size();
    let role = Role::ControlRoom {
        cols,
        rows,
        theme,
        keymap,
        no_color: crate::ui::no_color_wanted(),
        in_tmux: std::env::var_os("TMUX").is_some_and(|v| !v.is_empty()),
    };
    let (mut conn, _) = connect(state_dir, role).await?;
    let guard = crate::ui::terminal::ClientTerminal::enter()?;
    let ending = control_room_loop(&mut conn, &guard).await;
    drop(guard);
    if !ending.message.is_empty() {
        println!("{}", ending.message);
    }
    Ok(ending.code)
}

/// Terminal events held while the connection's outbox is full: keys typed
/// or pasted faster than one frame each reaches the server (tmux's
/// `send-keys`, a key held down, a burst of mouse motion) wait here in
/// order. A server that stopped reading altogether makes this fill up;
/// past it, events are dropped rather than piled up without end.
const HELD_EVENTS: usize = 4096;

async fn control_room_loop(conn: &mut Conn, guard: &crate::ui::terminal::ClientTerminal) -> Ending {
    let mut input = EventStream::new();
    let mut signals = Signals::new();
    let mut held: std::collections::VecDeque<Outgoing> = std::collections::VecDeque::new();
    loop {
        tokio::select! {
            frame = conn.inbox.recv() => {
                let Some(frame) = frame else { return lost() };
                if let Some(ending) = shown(&frame) {
                    return ending;
                }
                if frame.kind == kind::PAGER {
                    if let Ok(request) = protocol::decode::<PagerRequest>(&frame, kind::PAGER) {
                        guard.suspend(|| run_pager(&request));
                    }
                    let resumed = Outgoing { kind: kind::RESUMED, payload: Vec::new() };
                    if conn.outbox.send(resumed).await.is_err() {
                        return lost();
                    }
                }
            }
            permit = conn.outbox.reserve(), if !held.is_empty() => {
                let Ok(permit) = permit else { return lost() };
                if let Some(message) = held.pop_front() {
                    permit.send(message);
                }
            }
            event = input.next() => {
                let Some(Ok(event)) = event else {
                    return Ending { message: "orch: lost the terminal; detached".into(), code: 1 };
                };
                let resize = matches!(event, crossterm::event::Event::Resize(..));
                let Some(message) = Outgoing::json(kind::TERM_EVENT, &event) else { continue };
                if !held.is_empty() {
                    // A resize is never dropped: the server must know the size.
                    if held.len() < HELD_EVENTS || resize {
                        held.push_back(message);
                    }
                    continue;
                }
                match conn.outbox.try_send(message) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(message)) => held.push_back(message),
                    Err(mpsc::error::TrySendError::Closed(_)) => return lost(),
                }
            }
            _ = signals.any() => {
                return Ending { message: "orch: detached (agents keep running; orch reconnects)".into(), code: 0 };
            }
        }
    }
}

/// What every terminal client does with a frame: output to the terminal,
/// a goodbye ends the session. `Some` when the session ends.
fn shown(frame: &Frame) -> Option<Ending> {
    match frame.kind {
        kind::OUTPUT if write_out(&frame.payload).is_err() => Some(Ending {
            message: String::new(),
            code: 1,
        }),
        kind::BYE => Some(bye(frame)),
        // Refused once the session began (its agent ended meanwhile).
        kind::REFUSED => Some(Ending {
            message: match protocol::decode::<protocol::Refused>(frame, kind::REFUSED) {
                Ok(refused) => format!("orch: {}", refused.reason),
                Err(err) => format!("orch: refused, unreadably: {err}"),
            },
            code: 1,
        }),
        _ => None,
    }
}

fn bye(frame: &Frame) -> Ending {
    match protocol::decode::<Bye>(frame, kind::BYE) {
        Ok(bye) => Ending {
            message: bye.message,
            code: bye.code,
        },
        Err(err) => Ending {
            message: format!("orch: the server said goodbye unreadably: {err}"),
            code: 1,
        },
    }
}

fn lost() -> Ending {
    Ending {
        message: "orch: lost the connection to the server (its log is .orch/server.log)".into(),
        code: 1,
    }
}

/// Show what the server asked for in this terminal's pager.
fn run_pager(request: &PagerRequest) {
    use crate::ui::pager::{Pager, IN_CONTROL_ROOM};
    let result = match request {
        PagerRequest::Logs { files } => {
            let pager = std::env::var("PAGER")
                .ok()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| "less -R".into());
            let quoted: Vec<String> = files
                .iter()
                .map(|f| format!("'{}'", f.display().to_string().replace('\'', "'\\''")))
                .collect();
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{pager} {}", quoted.join(" ")))
                .status()
                .map(drop)
        }
        PagerRequest::Patch { file, core_pager } => {
            let pager = Pager::from_env(core_pager.clone()).unwrap_or(Pager {
                command: "less".into(),
            });
            std::fs::read(file).and_then(|patch| pager.show(&patch, IN_CONTROL_ROOM).map(drop))
        }
    };
    if let Err(err) = result {
        tracing::warn!("the pager failed: {err}");
    }
}

/// Ctrl-] as a byte: what `orch attach` detaches on.
const DETACH_BYTE: u8 = 0x1d;

/// Where Ctrl-] is in what the terminal sent: `(start, end)` of its
/// bytes. Legacy terminals send 0x1D; one that took the agent's keyboard
/// mode from the mirror sends it as the kitty protocol's `CSI 93 ; 5 u`
/// (with an event type, or lock modifiers, added) or modifyOtherKeys'
/// `CSI 27 ; 5 ; 93 ~`, and the detach key must work all the same.
fn find_detach(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            DETACH_BYTE => return Some((i, i + 1)),
            0x1b if bytes.get(i + 1) == Some(&b'[') => {
                let params_end = bytes[i + 2..]
                    .iter()
                    .position(|b| !(b.is_ascii_digit() || matches!(b, b';' | b':')))
                    .map(|p| i + 2 + p);
                if let Some(end) = params_end {
                    let params = &bytes[i + 2..end];
                    if is_ctrl_close_bracket(params, bytes[end]) {
                        return Some((i, end + 1));
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// `params` + `last` is Ctrl+] pressed: `93;M[:1]u` or `27;M;93~`, M
/// being Ctrl alone (5) give or take Caps Lock and Num Lock.
fn is_ctrl_close_bracket(params: &[u8], last: u8) -> bool {
    let Ok(params) = std::str::from_utf8(params) else {
        return false;
    };
    let fields: Vec<&str> = params.split(';').collect();
    let ctrl_only = |m: &str| {
        m.parse::<u16>()
            .is_ok_and(|m| m >= 1 && (m - 1) & !(64 | 128) == 4)
    };
    match (last, fields.as_slice()) {
        (b'u', [key, mods, ..]) => {
            let mut m = mods.split(':');
            let pressed = matches!(m.clone().nth(1), None | Some("1"));
            key.split(':').next() == Some("93") && m.next().is_some_and(ctrl_only) && pressed
        }
        (b'~', ["27", mods, "93"]) => ctrl_only(mods),
        _ => false,
    }
}

/// `orch attach TASK`: this terminal is the agent's until Ctrl-] (exit 0,
/// the agent keeps running) or until the agent exits.
pub async fn attach(state_dir: &Path, task: &str) -> Result<i32, ClientError> {
    let (cols, rows) = terminal_size();
    let role = Role::Attach {
        task: task.to_string(),
        cols,
        rows,
    };
    let (mut conn, _) = connect(state_dir, role).await?;
    let guard = crate::ui::terminal::ClientTerminal::enter_plain()?;
    let mut kitty = KittyEntries::default();
    // Whatever ends the session (a panic too), the terminal's restore
    // undoes the agent's modes.
    crate::ui::terminal::owe_on_exit(kitty.owed());
    let ending = attach_loop(&mut conn, task, &mut kitty).await;
    drop(guard);
    if !ending.message.is_empty() {
        println!("{}", ending.message);
    }
    Ok(ending.code)
}

async fn attach_loop(conn: &mut Conn, task: &str, kitty: &mut KittyEntries) -> Ending {
    let mut keys = stdin_bytes();
    let mut signals = Signals::new();
    let mut winch =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    let detached = || Ending {
        message: format!("orch: detached from {task} (it keeps running)"),
        code: 0,
    };
    loop {
        tokio::select! {
            frame = conn.inbox.recv() => {
                let Some(frame) = frame else { return lost() };
                if frame.kind == kind::OUTPUT {
                    kitty.saw(&frame.payload);
                    crate::ui::terminal::owe_on_exit(kitty.owed());
                }
                if let Some(ending) = shown(&frame) {
                    return ending;
                }
            }
            bytes = keys.recv() => {
                let Some(bytes) = bytes else { return detached() };
                let (before, detach) = match find_detach(&bytes) {
                    Some((at, _)) => (&bytes[..at], true),
                    None => (&bytes[..], false),
                };
                if !before.is_empty() {
                    let input = Outgoing { kind: kind::INPUT, payload: before.to_vec() };
                    if conn.outbox.send(input).await.is_err() {
                        return lost();
                    }
                }
                if detach {
                    return detached();
                }
            }
            _ = async { match winch.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {
                let (cols, rows) = terminal_size();
                if let Some(resize) = Outgoing::json(kind::RESIZE, &Size { cols, rows }) {
                    let _ = conn.outbox.send(resize).await;
                }
            }
            _ = signals.any() => return detached(),
        }
    }
}

/// What is typed, as it arrives: a thread reading the terminal (it blocks
/// in `read`; the process exits without waiting for it).
fn stdin_bytes() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(64);
    let spawned = std::thread::Builder::new()
        .name("orch-stdin".into())
        .spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!("cannot read the terminal: {err}");
    }
    rx
}

/// SIGTERM, SIGHUP (the terminal closed) and SIGINT from elsewhere: the
/// client ends, restoring the terminal; the server and agents go on.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    async fn any(&mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.term) => {}
            _ = one(&mut self.hup) => {}
            _ = one(&mut self.int) => {}
        }
    }
}

/// A follower's wake-ups (`orch events --follow`): a `Watch` connection,
/// driven from blocking code.
pub struct Watcher {
    runtime: tokio::runtime::Runtime,
    conn: Conn,
}

impl Watcher {
    /// `None` when nothing runs here.
    pub fn start(state_dir: &Path) -> Option<Watcher> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let conn = runtime.block_on(async {
            let (conn, _) = connect(state_dir, Role::Command).await.ok()?;
            send(&conn, kind::COMMAND, &Command::Watch).await.ok()?;
            Some(conn)
        })?;
        Some(Watcher { runtime, conn })
    }
}

impl crate::cli::events::Wake for Watcher {
    fn wait(&mut self, max: Duration) -> Woken {
        let conn = &mut self.conn;
        self.runtime.block_on(async {
            match tokio::time::timeout(max, conn.inbox.recv()).await {
                Err(_) => Woken::Quiet,
                Ok(Some(frame)) if frame.kind == kind::WAKE => {
                    // Take every wake already here: one read answers them all.
                    while let Ok(frame) = conn.inbox.try_recv() {
                        if frame.kind != kind::WAKE {
                            return Woken::Gone;
                        }
                    }
                    Woken::Changed
                }
                Ok(_) => Woken::Gone,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_close_bracket_detaches_in_every_keyboard_mode() {
        assert_eq!(find_detach(b"abc\x1d"), Some((3, 4)));
        assert_eq!(find_detach(b"ab\x1b[93;5u"), Some((2, 9)));
        assert_eq!(find_detach(b"\x1b[93;5:1u"), Some((0, 9)));
        assert_eq!(find_detach(b"\x1b[93;69u"), Some((0, 8)));
        assert_eq!(find_detach(b"x\x1b[27;5;93~"), Some((1, 11)));
        // Not Ctrl+]: other keys, other modifiers, a release.
        for other in [
            &b"\x1b[93u"[..],
            b"\x1b[93;6u",
            b"\x1b[93;5:3u",
            b"\x1b[99;5u",
            b"\x1b[27;6;93~",
            b"\x1b[13;2u",
            b"\x1b[A",
            b"]",
        ] {
            assert_eq!(find_detach(other), None, "{other:?}");
        }
    }

    #[test]
    fn kitty_entries_pushed_are_counted_across_frames() {
        let mut k = KittyEntries::default();
        assert_eq!(k.pop(), b"");
        k.saw(b"\x1b[?2026h\x1b[>4;2m\x1b[>1u\x1b[1;1Hhello");
        assert_eq!(k.depth, 1);
        // Changing the entry pushes nothing.
        k.saw(b"\x1b[=5;1u\x1b[31mx");
        assert_eq!(k.depth, 1);
        // A push cut between two frames.
        k.saw(b"abc\x1b[>");
        k.saw(b"5u");
        assert_eq!(k.depth, 2);
        assert_eq!(k.pop(), b"\x1b[<2u");
        k.saw(b"\x1b[<u\x1b[<u\x1b[<u");
        assert_eq!(k.depth, 0);
        assert_eq!(k.pop(), b"");
    }
}
