//! The server side of the control socket: what every session shares
//! ([`Shared`]), the accept loop (peer check, hello, dispatch by role) and
//! the rule for agents' terminal sizes when several clients show them.
//!
//! The server is whoever owns the engine: the background server `orch`
//! starts, or a foreground `orch --no-tui` run. Each connection is a task
//! of its own; a client that sends garbage, too much or nothing is dropped
//! and logged, and nobody else notices.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use super::conn::{Conn, Outgoing};
use super::frame::MAX_FRAME;
use super::identity;
use super::protocol::{self, kind, Bye, Hello, Role};
use super::sizes::{ClientId, Scope, Sizes};
use crate::config::Config;
use crate::engine::{Actor, EngineHandle, OutputSignal, Request};
use crate::git::Repo;

/// How long a new connection may take to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(5);

/// What every session of one server shares.
pub struct Shared {
    pub handle: EngineHandle,
    pub state_dir: PathBuf,
    pub repo: Repo,
    pub base_branch: String,
    /// The plan's config as the engine last published it.
    pub config: watch::Receiver<Arc<Config>>,
    /// The error of the last reload of orch.toml, while it stands.
    pub config_error: watch::Receiver<Option<String>>,
    /// Grows with each edit of orch.toml handed to the engine.
    pub reloaded: watch::Receiver<u64>,
    /// Grows whenever an agent printed something.
    pub output: watch::Receiver<u64>,
    /// Set when the server is ending, with what each client is told.
    pub ending: watch::Receiver<Option<Bye>>,
    sizes: Mutex<SizeState>,
    clients: AtomicUsize,
    /// Connections accepted that have not said hello yet: they count as
    /// clients for the idle end, which must not end a server someone is
    /// connecting to.
    arriving: AtomicUsize,
    /// Set once the server decided to end: new clients are refused
    /// ([`protocol::ENDING`]).
    ending_now: std::sync::atomic::AtomicBool,
    control_rooms: AtomicUsize,
    next_client: AtomicU64,
    /// Counts connections ever made, for the idle rule.
    pub connected: watch::Sender<usize>,
}

#[derive(Default)]
struct SizeState {
    claims: Sizes,
    /// The size each running agent was last given, by task and attempt.
    applied: HashMap<(String, u32), (u16, u16)>,
}

/// The channels a server's owner keeps to feed [`Shared`].
pub struct Feeds {
    pub config: watch::Sender<Arc<Config>>,
    pub config_error: watch::Sender<Option<String>>,
    pub reloaded: watch::Sender<u64>,
    pub ending: watch::Sender<Option<Bye>>,
}

/// The output signal for the engine: every view waiting on
/// [`Shared::output`] wakes.
pub fn output_signal() -> (OutputSignal, watch::Receiver<u64>) {
    let (tx, rx) = watch::channel(0u64);
    let signal = OutputSignal(Arc::new(move || {
        tx.send_modify(|n| *n = n.wrapping_add(1));
    }));
    (signal, rx)
}

pub struct SharedParts {
    pub handle: EngineHandle,
    pub state_dir: PathBuf,
    pub repo: Repo,
    pub base_branch: String,
    pub config: Config,
    pub output: watch::Receiver<u64>,
}

impl Shared {
    pub fn new(parts: SharedParts) -> (Arc<Shared>, Feeds) {
        let (config_tx, config) = watch::channel(Arc::new(parts.config));
        let (error_tx, config_error) = watch::channel(None);
        let (reloaded_tx, reloaded) = watch::channel(0);
        let (ending_tx, ending) = watch::channel(None);
        let (connected, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            handle: parts.handle,
            state_dir: parts.state_dir,
            repo: parts.repo,
            base_branch: parts.base_branch,
            config,
            config_error,
            reloaded,
            output: parts.output,
            ending,
            sizes: Mutex::new(SizeState::default()),
            clients: AtomicUsize::new(0),
            arriving: AtomicUsize::new(0),
            ending_now: std::sync::atomic::AtomicBool::new(false),
            control_rooms: AtomicUsize::new(0),
            next_client: AtomicU64::new(1),
            connected,
        });
        let feeds = Feeds {
            config: config_tx,
            config_error: error_tx,
            reloaded: reloaded_tx,
            ending: ending_tx,
        };
        (shared, feeds)
    }

    /// Clients connected now (control rooms, attach, commands), those
    /// still saying hello included.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst) + self.arriving.load(Ordering::SeqCst)
    }

    /// The server ends: from now on new clients are refused, so none is
    /// welcomed into a session that is about to be cut. `false` if a client
    /// came meanwhile (nothing is refused then).
    pub fn end_if_idle(&self) -> bool {
        self.ending_now.store(true, Ordering::SeqCst);
        if self.clients() > 0 {
            self.ending_now.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Control rooms connected now.
    pub fn control_rooms(&self) -> usize {
        self.control_rooms.load(Ordering::SeqCst)
    }

    /// A client's claim on agents' sizes (see [`Sizes`]), applied at once.
    pub fn claim_size(&self, client: ClientId, scope: Scope, rows: u16, cols: u16) {
        let mut state = self.lock_sizes();
        state.claims.claim(client, scope, rows, cols);
        self.apply_sizes(&mut state);
    }

    pub fn release_size(&self, client: ClientId, scope: &Scope) {
        let mut state = self.lock_sizes();
        state.claims.release(client, scope);
        self.apply_sizes(&mut state);
    }

    /// Give each running agent the size its claims say (a new agent too).
    pub fn resize_agents(&self) {
        let mut state = self.lock_sizes();
        self.apply_sizes(&mut state);
    }

    fn lock_sizes(&self) -> std::sync::MutexGuard<'_, SizeState> {
        self.sizes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply_sizes(&self, state: &mut SizeState) {
        let running = self.handle.agents().all();
        state
            .applied
            .retain(|(task, attempt), _| running.iter().any(|(t, a, _)| t == task && a == attempt));
        for (task, attempt, terminal) in running {
            let Some(size) = state.claims.size_for(&task) else {
                continue;
            };
            let key = (task, attempt);
            if state.applied.get(&key) == Some(&size) || terminal.has_exited() {
                continue;
            }
            match terminal.resize(size.0, size.1) {
                Ok(()) => {
                    state.applied.insert(key, size);
                }
                Err(err) => tracing::debug!("resizing {}'s terminal: {err}", key.0),
            }
        }
    }

    fn join(&self, control_room: bool) -> ClientId {
        self.clients.fetch_add(1, Ordering::SeqCst);
        if control_room {
            self.control_rooms.fetch_add(1, Ordering::SeqCst);
        }
        self.connected.send_modify(|n| *n += 1);
        self.next_client.fetch_add(1, Ordering::SeqCst)
    }

    fn leave(&self, client: ClientId, control_room: bool) {
        self.clients.fetch_sub(1, Ordering::SeqCst);
        if control_room {
            self.control_rooms.fetch_sub(1, Ordering::SeqCst);
        }
        let mut state = self.lock_sizes();
        state.claims.release_all(client);
        self.apply_sizes(&mut state);
        drop(state);
        self.connected.send_modify(|n| *n += 1);
    }
}

/// Accept connections until the process ends.
pub async fn accept(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let arriving = Arriving::new(shared.clone());
                tokio::spawn(async move { serve(stream, arriving).await });
            }
            Err(err) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!("accepting a connection: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A connection between accept and hello, counted as a client meanwhile.
struct Arriving {
    shared: Arc<Shared>,
    pending: std::sync::atomic::AtomicBool,
}

impl Arriving {
    fn new(shared: Arc<Shared>) -> Arriving {
        shared.arriving.fetch_add(1, Ordering::SeqCst);
        shared.connected.send_modify(|n| *n += 1);
        Arriving {
            shared,
            pending: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// It joined as a client, or went.
    fn arrived(&self) {
        if self.pending.swap(false, Ordering::SeqCst) {
            self.shared.arriving.fetch_sub(1, Ordering::SeqCst);
            self.shared.connected.send_modify(|n| *n += 1);
        }
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        self.arrived();
    }
}

async fn serve(stream: UnixStream, arriving: Arriving) {
    let shared = arriving.shared.clone();
    let peer = stream.peer_cred().ok();
    let who = match &peer {
        Some(cred) => format!(
            "client pid {} uid {}",
            cred.pid().map_or("?".to_string(), |p| p.to_string()),
            cred.uid()
        ),
        None => "a client of unknown credentials".to_string(),
    };
    if !super::socket::same_user(&stream) {
        tracing::warn!("refused {who}: not this server's user");
        let conn = Conn::start(stream, MAX_FRAME, who);
        let refused = protocol::Refused {
            reason: "this orch server belongs to another user".into(),
        };
        conn.finish(Outgoing::json(kind::REFUSED, &refused)).await;
        return;
    }
    let mut conn = Conn::start(stream, MAX_FRAME, who.clone());
    let hello = match tokio::time::timeout(HELLO_WITHIN, conn.inbox.recv()).await {
        Ok(Some(frame)) => match protocol::decode::<Hello>(&frame, kind::HELLO) {
            Ok(hello) => hello,
            Err(err) => {
                tracing::warn!("dropping {who}: its hello is {err}");
                return;
            }
        },
        Ok(None) => return,
        Err(_) => {
            tracing::warn!("dropping {who}: no hello within {HELLO_WITHIN:?}");
            return;
        }
    };
    let welcome = match protocol::answer_hello(&hello, std::process::id()) {
        Ok(welcome) => welcome,
        Err(refused) => {
            tracing::warn!("refused {who}: {}", refused.reason);
            conn.finish(Outgoing::json(kind::REFUSED, &refused)).await;
            return;
        }
    };
    if shared.ending_now.load(Ordering::SeqCst) {
        let refused = protocol::Refused {
            reason: protocol::ENDING.into(),
        };
        conn.finish(Outgoing::json(kind::REFUSED, &refused)).await;
        return;
    }
    // Who it is decides what it may do: an agent never gets a control
    // room or a terminal, and a token that is not its own is refused.
    let peer_pid = peer
        .as_ref()
        .and_then(|cred| cred.pid())
        .and_then(|p| u32::try_from(p).ok());
    let caller = match identity::identify(
        peer_pid,
        hello.token.as_deref(),
        shared.handle.agents(),
        shared.handle.tokens(),
    ) {
        Ok(caller) => caller,
        Err(mismatch) => {
            let agent = identity::Caller::Agent {
                attempt: Some(mismatch.ancestry.clone()),
                pid: peer_pid,
            };
            let why = mismatch.to_string();
            record_security(&shared, &agent, &role_name(&hello.role), &why).await;
            tracing::warn!("refused {who}: {why}");
            let refused = protocol::Refused {
                reason: format!("orch: {why}"),
            };
            conn.finish(Outgoing::json(kind::REFUSED, &refused)).await;
            return;
        }
    };
    if caller.is_agent() && !matches!(hello.role, Role::Command) {
        let tried = role_name(&hello.role);
        let why = format!("{}: {tried} refused", identity::AGENTS_MAY);
        record_security(&shared, &caller, &tried, &why).await;
        tracing::warn!("refused {who}: {why}");
        let refused = protocol::Refused {
            reason: format!("orch: {why}"),
        };
        conn.finish(Outgoing::json(kind::REFUSED, &refused)).await;
        return;
    }
    // Nothing to attach to is said before the session starts, so the
    // client never opens a screen for it.
    if let Role::Attach { task, .. } = &hello.role {
        if shared.handle.agents().get(task, None).is_none() {
            let reason = super::attach::not_running(&shared, task).await;
            tracing::info!("refused {who}: {reason}");
            let refused = protocol::Refused { reason };
            conn.finish(Outgoing::json(kind::REFUSED, &refused)).await;
            return;
        }
    }
    if let Some(message) = Outgoing::json(kind::WELCOME, &welcome) {
        if conn.outbox.send(message).await.is_err() {
            return;
        }
    }
    let control_room = matches!(hello.role, Role::ControlRoom { .. });
    // Left when this ends, however it ends (a panicking session too): a
    // count never released would keep the server from ever idling out.
    let member = Member::join(shared.clone(), control_room);
    arriving.arrived();
    let client = member.client;
    tracing::info!("{who} connected as {:?}", hello.role);
    match hello.role {
        Role::ControlRoom {
            cols,
            rows,
            theme,
            keymap,
            no_color,
            in_tmux,
        } => {
            let size = (cols, rows);
            let choice = crate::ui::UiChoice {
                theme,
                keymap,
                no_color,
                in_tmux,
            };
            crate::ui::serve_view(shared.clone(), conn, client, size, choice).await;
        }
        Role::Attach { task, cols, rows } => {
            super::attach::serve(shared.clone(), conn, client, &task, (cols, rows)).await;
        }
        Role::Command => super::commands::serve(shared.clone(), conn, caller).await,
    }
    drop(member);
    tracing::info!("{who} left");
}

/// A role as the command that asks for it.
fn role_name(role: &Role) -> String {
    match role {
        Role::ControlRoom { .. } => "the control room (orch)".to_string(),
        Role::Attach { task, .. } => format!("attach {task}"),
        Role::Command => "a command".to_string(),
    }
}

/// Record, as a `security` event of the caller's task, that it tried
/// `tried` and was refused `why`; done (persisted) when this returns.
pub async fn record_security(shared: &Shared, caller: &identity::Caller, tried: &str, why: &str) {
    let attempt = caller.attempt();
    let request = Request::Security {
        task: attempt.map(|id| id.task.clone()),
        attempt: attempt.map(|id| id.attempt),
        cause: identity::security_cause(caller, tried, why),
    };
    let actor = Actor::Agent(attempt.map_or_else(|| "?".to_string(), |id| id.task.clone()));
    crate::log_err(
        shared.handle.ask(actor, request).await,
        "recording a security event",
    );
}

/// A connected client, counted from its welcome until this is dropped.
struct Member {
    shared: Arc<Shared>,
    client: ClientId,
    control_room: bool,
}

impl Member {
    fn join(shared: Arc<Shared>, control_room: bool) -> Member {
        let client = shared.join(control_room);
        Member {
            shared,
            client,
            control_room,
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.shared.leave(self.client, self.control_room);
    }
}
