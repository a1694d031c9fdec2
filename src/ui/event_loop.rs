//! A control room, as the server runs it for one client. It waits on the
//! client's terminal events, engine events, "an agent printed" signals, the
//! engine's answers, finished jobs, config errors and, only while something
//! is running, a one-second tick for elapsed times. It draws only when
//! something changed, at most once per frame interval, after draining
//! everything already queued, and only when the client has taken the last
//! frame: a slow client gets fewer frames, never a growing queue. Nothing
//! in it waits on the engine or the disk: requests go to the engine through
//! one task that posts the answers back ([`EngineLink`]), and slow reads
//! are jobs ([`crate::ui::jobs`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyEventKind};
use ratatui::layout::Rect;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::agent::backend::{AgentRegistry, AgentTerminal};
use crate::config::Config;
use crate::control::conn::{Conn, Outgoing};
use crate::control::protocol::{kind, Bye, PagerRequest};
use crate::control::remote_term::RemoteTerminal;
use crate::control::server::Shared;
use crate::control::sizes::{ClientId, Scope};
use crate::engine::{
    ActionError, Actor, EngineHandle, Event, Request as EngineRequest, Snapshot, TaskState,
};
use crate::git::TaskDiff;
use crate::store::Store;
use crate::ui::app::{App, Effect, EngineAction, Mode};
use crate::ui::jobs::{self, JobDone, Jobs};
use crate::ui::keymap::{self, Keymap};
use crate::ui::output_source::OutputSource;
use crate::ui::pager::colour_patch;
use crate::ui::theme::Theme;
use crate::ui::view::{self, Now};

/// ~60 frames a second at most.
const FRAME: Duration = Duration::from_millis(16);

/// What the command line (and the environment) of the client chose for
/// the control room.
pub struct UiChoice {
    pub theme: Option<String>,
    pub keymap: Option<String>,
    /// `NO_COLOR` (<https://no-color.org>) where the client runs.
    pub no_color: bool,
    /// The client runs inside tmux.
    pub in_tmux: bool,
}

/// Whether this process's environment asks for no colours.
pub fn no_color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Load the keymap and theme named by the flags, else by `[ui]`, else the
/// defaults. Errors are reported like config errors, before the screen opens.
pub fn load_style(config: &Config, choice: &UiChoice) -> Result<(Keymap, Theme), String> {
    let user_dir = keymap::default_user_dir();
    let keymap_name = choice
        .keymap
        .clone()
        .or_else(|| config.ui.keymap.clone())
        .unwrap_or_else(|| "default".into());
    let theme_name = choice
        .theme
        .clone()
        .or_else(|| config.ui.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let keymap = Keymap::load(&keymap_name, user_dir.as_deref()).map_err(|e| e.to_string());
    let theme = Theme::load(&theme_name, user_dir.as_deref()).map_err(|e| e.to_string());
    match (keymap, theme) {
        (Ok(k), Ok(t)) => Ok((
            k,
            if choice.no_color {
                t.without_colors()
            } else {
                t
            },
        )),
        (Err(a), Err(b)) => Err(format!("{a}\n{b}")),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Run one client's control room until it leaves, the engine ends or the
/// connection breaks. `size` is the client's terminal (columns, rows).
pub async fn serve_view(
    shared: Arc<Shared>,
    mut conn: Conn,
    client: ClientId,
    (cols, rows): (u16, u16),
    choice: UiChoice,
) {
    let handle = shared.handle.clone();
    let config: Arc<Config> = shared.config.borrow().clone();
    let (keymap, theme) = match load_style(&config, &choice) {
        Ok(style) => style,
        Err(err) => {
            let bye = Bye {
                message: err,
                code: 2,
            };
            conn.finish(Outgoing::json(kind::BYE, &bye)).await;
            return;
        }
    };
    // Subscribed before the snapshot: nothing published between is missed
    // (what arrives twice is applied twice, harmlessly).
    let mut events = handle.subscribe();
    let Some(snapshot) = handle.snapshot().await else {
        return finish(conn, &shared, LoopEnd::EngineFinished).await;
    };
    let mut app = App::new(&config, snapshot.tasks, keymap, theme, Instant::now());
    app.base_branch = Some(shared.base_branch.clone());
    app.in_tmux = choice.in_tmux;
    app.foreground_run = handle.mode() == "headless";
    app.config_error = shared.config_error.borrow().clone();
    if handle.is_settled() {
        app.flash(crate::session::run_again_hint(&shared.state_dir, true));
    }
    for progress in snapshot.progress {
        if !app.touched_since_resync(&progress.task) {
            app.on_progress(progress);
        }
    }
    for attention in snapshot.attention {
        if !app.touched_since_resync(&attention.task) {
            app.on_attention(attention);
        }
    }
    for (task, attempt) in snapshot.agents {
        if let Some(process) = handle.agents().get(&task, Some(attempt)) {
            app.on_agent(&task, OutputSource::Live(process));
        }
    }
    for (task, agent) in snapshot.ran {
        app.on_agent_named(&task, agent);
    }
    let mut term = match RemoteTerminal::new(cols, rows) {
        Ok(term) => term,
        Err(err) => {
            tracing::error!("cannot set up a client's screen: {err}");
            return;
        }
    };
    let reader = crate::log_err(
        Store::open_read_only(&shared.state_dir.join("state.db")),
        "opening state.db for the details dialog",
    );
    let (job_tx, job_rx) = mpsc::channel(JOB_RESULTS);
    let mut ctx = LoopCtx {
        link: EngineLink::to_engine(handle.clone()),
        agents: handle.agents().clone(),
        jobs: Jobs::new(shared.state_dir.clone(), reader, job_tx)
            .with_git(shared.repo.clone(), shared.base_branch.clone()),
        job_results: job_rx,
        shared: shared.clone(),
        client,
        attached: None,
        suspended: false,
        stopping: false,
        no_color: choice.no_color,
        patch_file: None,
        outbox: conn.outbox.clone(),
    };
    let end = event_loop(&mut app, &mut term, &mut conn, &mut events, &mut ctx).await;
    remove_patch_file(&mut ctx);
    if let Some(task) = ctx.attached.take() {
        shared.release_size(client, &Scope::Task(task));
    }
    // The context holds a sender of the client's outbox: while it lives the
    // writer never sees the queue close, and the client would count as
    // connected for `finish`'s whole timeout after it has gone.
    drop(ctx);
    finish(conn, &shared, end).await;
}

/// Say goodbye as the way the loop ended calls for.
async fn finish(conn: Conn, shared: &Shared, end: LoopEnd) {
    let bye = match end {
        LoopEnd::Gone => return,
        LoopEnd::Detached => {
            let running = shared.handle.agents().len();
            Bye {
                message: if running == 0 {
                    "orch: detached (run orch to reconnect, orch stop to end the server)".into()
                } else {
                    format!(
                        "orch: detached; {running} agent(s) keep running (run orch to reconnect, \
                         orch stop to stop them)"
                    )
                },
                code: 0,
            }
        }
        LoopEnd::EngineFinished => {
            // The server says how the run ended once it knows.
            let mut ending = shared.ending.clone();
            let said = tokio::time::timeout(
                Duration::from_secs(40),
                ending.wait_for(|bye| bye.is_some()),
            )
            .await;
            match said {
                Ok(Ok(bye)) => bye.clone().unwrap_or(Bye {
                    message: String::new(),
                    code: 1,
                }),
                _ => Bye {
                    message: "orch: the server stopped".into(),
                    code: 1,
                },
            }
        }
        LoopEnd::Broken(why) => Bye {
            message: format!("orch: the control room failed: {why} (see server.log)"),
            code: 1,
        },
    };
    conn.finish(Outgoing::json(kind::BYE, &bye)).await;
}

/// Finished jobs waiting for the loop; a job that finds the queue full
/// waits on its blocking thread, never the loop.
const JOB_RESULTS: usize = 16;

struct LoopCtx {
    link: EngineLink,
    /// Running agents' terminals, as the engine publishes them.
    agents: AgentRegistry,
    jobs: Jobs,
    job_results: mpsc::Receiver<JobDone>,
    shared: Arc<Shared>,
    client: ClientId,
    /// The agent this control room is attached to (its size claimed).
    attached: Option<String>,
    /// The client runs a pager: no frames until it says it is back.
    suspended: bool,
    /// This control room asked the server to stop.
    stopping: bool,
    /// The client wants no colours (its `NO_COLOR`).
    no_color: bool,
    /// The patch file the client's pager is showing, removed when it is back.
    patch_file: Option<PathBuf>,
    /// To the client.
    outbox: mpsc::Sender<Outgoing>,
}

enum LoopEnd {
    /// The client went away (closed, killed, dropped connection).
    Gone,
    /// The user detached; the server goes on.
    Detached,
    EngineFinished,
    /// Drawing failed.
    Broken(String),
}

async fn event_loop(
    app: &mut App,
    term: &mut RemoteTerminal,
    conn: &mut Conn,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    ctx: &mut LoopCtx,
) -> LoopEnd {
    let mut output = ctx.shared.output.clone();
    let mut config_error = ctx.shared.config_error.clone();
    let mut reloaded = ctx.shared.reloaded.clone();
    let mut dirty = true;
    // The client has not taken the last frame yet: draw when it has.
    let mut blocked = false;
    let mut last_draw = Instant::now() - FRAME;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_pane_size = (0, 0);
    // After an output wake that changed nothing visible (a hidden agent
    // printing), stop listening until the next frame time: a flood must
    // not wake the loop on every read.
    let mut output_quiet_until = Instant::now();
    let outbox = conn.outbox.clone();

    loop {
        if dirty && !blocked && !ctx.suspended && last_draw.elapsed() >= FRAME {
            match outbox.try_reserve() {
                Ok(permit) => {
                    match draw(term, app) {
                        Ok(bytes) => permit.send(Outgoing::output(bytes)),
                        Err(err) => return LoopEnd::Broken(err.to_string()),
                    }
                    last_draw = Instant::now();
                    dirty = false;
                    if app.output.size() != last_pane_size {
                        last_pane_size = app.output.size();
                        let (rows, cols) = last_pane_size;
                        ctx.shared.claim_size(ctx.client, Scope::All, rows, cols);
                    }
                }
                Err(mpsc::error::TrySendError::Full(())) => blocked = true,
                Err(mpsc::error::TrySendError::Closed(())) => return LoopEnd::Gone,
            }
        }
        // Reads asked for by keys, events or the frame just prepared, and
        // the diff view's refresh when one is due.
        app.refresh_diff(Instant::now());
        for job in app.take_jobs() {
            ctx.jobs.spawn(job);
        }
        let frame_due = last_draw + FRAME;
        let diff_due = app.diff_refresh_at(Instant::now());
        let live = app.table.tasks.iter().any(|t| {
            matches!(
                t.row.state,
                TaskState::Running | TaskState::Retrying | TaskState::AwaitingApproval
            )
        });
        tokio::select! {
            frame = conn.inbox.recv() => {
                let Some(frame) = frame else { return LoopEnd::Gone; };
                let effects = match frame.kind {
                    kind::TERM_EVENT => match serde_json::from_slice::<TermEvent>(&frame.payload) {
                        Ok(event) => on_term_event(app, term, ctx, event),
                        Err(err) => {
                            tracing::warn!("dropping a control room that sent a bad event: {err}");
                            return LoopEnd::Gone;
                        }
                    },
                    kind::RESUMED => {
                        ctx.suspended = false;
                        remove_patch_file(ctx);
                        crate::log_err(term.repaint_all(), "repainting after the pager");
                        vec![Effect::Redraw]
                    }
                    other => {
                        tracing::warn!("dropping a control room that sent a frame of kind {other}");
                        return LoopEnd::Gone;
                    }
                };
                for effect in effects {
                    if let Some(end) = apply(effect, app, term, ctx) {
                        return end;
                    }
                }
                dirty = true;
            }
            permit = outbox.reserve(), if blocked => {
                blocked = false;
                match permit {
                    Ok(permit) if dirty && !ctx.suspended => {
                        match draw(term, app) {
                            Ok(bytes) => permit.send(Outgoing::output(bytes)),
                            Err(err) => return LoopEnd::Broken(err.to_string()),
                        }
                        last_draw = Instant::now();
                        dirty = false;
                    }
                    Ok(_) => {}
                    Err(_) => return LoopEnd::Gone,
                }
            }
            event = events.recv() => {
                let now = Instant::now();
                match event {
                    Ok(Event::Finished(_)) | Err(RecvError::Closed) => return LoopEnd::EngineFinished,
                    Ok(event) => on_engine_event(app, ctx, event, now),
                    Err(RecvError::Lagged(_)) => resync(app, &ctx.link),
                }
                // Drain whatever else is queued before drawing once.
                loop {
                    match events.try_recv() {
                        Ok(Event::Finished(_)) => return LoopEnd::EngineFinished,
                        Ok(event) => on_engine_event(app, ctx, event, now),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => resync(app, &ctx.link),
                        Err(_) => break,
                    }
                }
                leave_attach_if_ended(app, ctx);
                dirty = true;
            }
            // While a frame is already due, further output signals would only
            // wake us to learn what we know: listen to them only when clean.
            changed = output.changed(), if !dirty && Instant::now() >= output_quiet_until => {
                if changed.is_err() {
                    return LoopEnd::EngineFinished;
                }
                dirty = app.output_changed();
                if !dirty {
                    output_quiet_until = Instant::now() + FRAME;
                }
            }
            // Resume listening (a signal that came meanwhile is still pending).
            _ = tokio::time::sleep_until(output_quiet_until.into()), if !dirty && Instant::now() < output_quiet_until => {}
            Some(answer) = ctx.link.answers.recv() => {
                on_answer(app, answer, &ctx.link, &ctx.agents);
                leave_attach_if_ended(app, ctx);
                dirty = true;
            }
            Some(done) = ctx.job_results.recv() => {
                for effect in app.on_job_done(done) {
                    if let Some(end) = apply(effect, app, term, ctx) {
                        return end;
                    }
                }
                dirty = true;
            }
            Ok(()) = reloaded.changed() => {
                reloaded.borrow_and_update();
                let path = ctx.shared.config.borrow().path.display().to_string();
                app.flash(format!("{path} reloaded"));
                dirty = true;
            }
            Ok(()) = config_error.changed() => {
                app.config_error = config_error.borrow_and_update().clone();
                dirty = true;
            }
            // The writer stopped (the client went away or stopped reading,
            // a pager request too large to send): nobody sees this view.
            _ = outbox.closed() => return LoopEnd::Gone,
            _ = tokio::time::sleep_until(frame_due.into()), if dirty && !blocked => {}
            // The diff view's next refresh (taken at the top of the loop).
            _ = tokio::time::sleep_until(diff_due.unwrap_or(frame_due).into()), if diff_due.is_some() => {}
            // Elapsed times and heartbeat ages move once a second; a frame
            // drawn for another reason within that second already shows them.
            _ = tick.tick(), if live => dirty = dirty || last_draw.elapsed() >= Duration::from_millis(900),
        }
    }
}

/// A key, paste, mouse event or resize from the client's terminal.
fn on_term_event(
    app: &mut App,
    term: &mut RemoteTerminal,
    ctx: &mut LoopCtx,
    event: TermEvent,
) -> Vec<Effect> {
    // What `q` may do depends on whether anything is still owed.
    app.plan_settled = ctx.shared.handle.is_settled();
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => app.on_key(&key),
        TermEvent::Paste(text) => app.on_paste(&text),
        TermEvent::Mouse(mouse) => app.on_mouse(&mouse, Instant::now()),
        TermEvent::Resize(cols, rows) => {
            crate::log_err(term.resize(cols, rows), "resizing a client's screen");
            if let Some(task) = &ctx.attached {
                claim_attached(ctx, task.clone(), term);
            }
            vec![Effect::Redraw]
        }
        _ => Vec::new(),
    }
}

/// Prepare and draw one frame; the bytes that bring the client's screen
/// up to it. The state is settled first (`App::prepare_frame`); the
/// drawing itself only reads it.
fn draw(term: &mut RemoteTerminal, app: &mut App) -> std::io::Result<Vec<u8>> {
    let (cols, rows) = term.size();
    app.prepare_frame(Rect::new(0, 0, cols, rows));
    // Something joined the "needs you" queue and stood a moment: ring,
    // and a desktop notification through the terminal.
    if let Some(text) = app.take_bell().then(|| app.notification_text()).flatten() {
        term.write_raw(&crate::ui::notify::bell_and_notify(&text, app.in_tmux));
    }
    if let Some(title) = app.take_title() {
        term.write_raw(&crate::ui::notify::title(&title));
    }
    let now = Now::current();
    let app: &App = app;
    // Synchronized update: a slow terminal never shows half a frame.
    term.write_raw(b"\x1b[?2026h");
    term.terminal()
        .draw(|frame| view::draw(frame, app, now))
        .map(drop)?;
    term.write_raw(b"\x1b[?2026l");
    Ok(term.take_output())
}

// ---- talking to the engine ---------------------------------------------------
//
// Every exchange with the engine is in this section: the events the loop
// applies, the requests it sends, and the answers it gets back.

/// What the control room asks of the engine.
enum Request {
    Act {
        action: EngineAction,
        by: String,
    },
    /// Stop the agents and end the server (every control room with it).
    Stop,
    /// A fresh copy of every task, after falling behind the events.
    Snapshot,
}

/// What comes back.
enum Answer {
    Acted {
        done: String,
        result: Result<(), ActionError>,
        /// When it was asked: a flash the engine's events put up since
        /// (a merge that already landed) is newer news and stays.
        asked: Instant,
    },
    Snapshot(Snapshot),
}

/// Requests waiting for the engine. Keys arrive at human speed, so a full
/// queue means the engine has stopped answering.
const REQUESTS: usize = 64;

/// The control room's side of the engine: one task sends the requests in
/// order (so "cancel, then retry" reaches the engine in that order) and
/// posts each answer back to the loop, which never waits for one.
struct EngineLink {
    requests: mpsc::Sender<Request>,
    answers: mpsc::Receiver<Answer>,
}

impl EngineLink {
    /// Start the task that carries requests with `ask` (in the control
    /// room: [`ask`] on the engine's handle).
    fn start<F, Fut>(ask: F) -> EngineLink
    where
        F: Fn(Request) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Option<Answer>> + Send,
    {
        let (requests, mut inbox) = mpsc::channel::<Request>(REQUESTS);
        let (answer_tx, answers) = mpsc::channel(REQUESTS);
        tokio::spawn(async move {
            while let Some(request) = inbox.recv().await {
                let Some(answer) = ask(request).await else {
                    continue;
                };
                if answer_tx.send(answer).await.is_err() {
                    break;
                }
            }
        });
        EngineLink { requests, answers }
    }

    fn to_engine(handle: EngineHandle) -> EngineLink {
        EngineLink::start(move |request| {
            let handle = handle.clone();
            async move { ask(&handle, request).await }
        })
    }
}

/// Queue a request; a full queue is said in the status bar. Returns
/// whether it was queued.
fn send_request(app: &mut App, link: &EngineLink, request: Request) -> bool {
    match link.requests.try_send(request) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            app.flash("orch is busy and did not take that; try again");
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            app.flash(ActionError::ShuttingDown.to_string());
            false
        }
    }
}

/// Carry one request to the engine and wait for its answer (on the link's
/// task). `None` when there is nothing to tell the loop.
async fn ask(handle: &EngineHandle, request: Request) -> Option<Answer> {
    let (action, by) = match request {
        Request::Act { action, by } => (action, by),
        Request::Stop => {
            crate::log_err(
                handle
                    .tell(
                        Actor::current_user(),
                        EngineRequest::Shutdown { stop_agents: true },
                    )
                    .await,
                "asking the engine to stop",
            );
            return None;
        }
        Request::Snapshot => return handle.snapshot().await.map(Answer::Snapshot),
    };
    let done = action.done();
    let asked = Instant::now();
    let request = match action {
        EngineAction::Approve(task) => EngineRequest::Approve { task, reason: None },
        EngineAction::Reject { task, reason } => EngineRequest::Reject {
            task,
            reason: Some(reason),
        },
        EngineAction::Retry(task) => EngineRequest::Retry { task, fresh: false },
        EngineAction::RetryFresh(task) => EngineRequest::Retry { task, fresh: true },
        EngineAction::Cancel(task) => EngineRequest::Cancel { task },
        EngineAction::Skip(task) => EngineRequest::Skip { task, reason: None },
        EngineAction::Merge(task) => EngineRequest::Merge { task },
        EngineAction::Resolve(task) => EngineRequest::Resolve { task },
    };
    let result = handle.ask(Actor::User(by), request).await;
    Some(Answer::Acted {
        done,
        result,
        asked,
    })
}

fn on_answer(app: &mut App, answer: Answer, link: &EngineLink, agents: &AgentRegistry) {
    match answer {
        Answer::Acted {
            done,
            result,
            asked,
        } => match result {
            Ok(()) => app.flash_unless_newer(done, asked),
            // Refused (wrong state, unknown task) or not saved: say why.
            Err(err) => app.flash(err.to_string()),
        },
        Answer::Snapshot(snapshot) => {
            if apply_snapshot(app, snapshot, agents, Instant::now()) {
                resync(app, link);
            }
        }
    }
}

fn on_engine_event(app: &mut App, ctx: &LoopCtx, event: Event, now: Instant) {
    match event {
        Event::Task { row, .. } => {
            app.note_event(&row.id);
            app.on_task(row, now);
        }
        Event::Merge { row, why } => {
            app.note_event(&row.id);
            app.flash(format!("{}: {why}", row.id));
            app.on_task(row, now);
        }
        Event::Note { text, .. } => app.flash(text),
        Event::AgentStarted {
            task,
            attempt,
            agent,
        } => {
            app.note_event(&task);
            app.on_agent_named(&task, agent);
            // Gone already if it exited at once; its log is replayed instead.
            if let Some(process) = ctx.agents.get(&task, Some(attempt)) {
                agent_started(app, &ctx.shared, &task, process);
            }
        }
        Event::Health(view) => app.on_health(view, now),
        Event::Progress(progress) => app.on_progress(progress),
        Event::Security { task, text } => {
            if let Some(task) = &task {
                app.note_event(task);
            }
            app.flash(format!("security: {text}"));
        }
        Event::Message(row) => app.on_message(&row),
        Event::Attention(attention) => app.on_attention(attention),
        Event::PlanChanged { config, rows } => {
            for row in &rows {
                app.note_event(&row.id);
            }
            app.reload(&config, rows, now);
        }
        Event::Finished(_) => {}
    }
}

/// An agent is up: give it the size its clients claim and show it.
fn agent_started(app: &mut App, shared: &Shared, task: &str, process: Arc<dyn AgentTerminal>) {
    shared.resize_agents();
    app.on_agent(task, OutputSource::Live(process));
}

/// Fell behind the engine: ask for a fresh snapshot (answered later).
fn resync(app: &mut App, link: &EngineLink) {
    if app.resync_needed() && !send_request(app, link, Request::Snapshot) {
        app.cancel_resync();
    }
}

/// Apply a snapshot, except to tasks an event changed since it was asked
/// for. Returns whether to ask for another (events were missed meanwhile).
fn apply_snapshot(app: &mut App, snapshot: Snapshot, agents: &AgentRegistry, now: Instant) -> bool {
    for row in snapshot.tasks {
        if !app.touched_since_resync(&row.id) {
            app.on_task(row, now);
        }
    }
    for progress in snapshot.progress {
        if !app.touched_since_resync(&progress.task) {
            app.on_progress(progress);
        }
    }
    for attention in snapshot.attention {
        if !app.touched_since_resync(&attention.task) {
            app.on_attention(attention);
        }
    }
    for (task, attempt) in snapshot.agents {
        if app.touched_since_resync(&task) {
            continue;
        }
        if let Some(process) = agents.get(&task, Some(attempt)) {
            app.on_agent(&task, OutputSource::Live(process));
        }
    }
    for (task, agent) in snapshot.ran {
        if !app.touched_since_resync(&task) {
            app.on_agent_named(&task, agent);
        }
    }
    app.resync_done()
}

// ---- agents' terminals -------------------------------------------------------

/// The attached agent takes the client's whole screen but the bar.
fn claim_attached(ctx: &LoopCtx, task: String, term: &RemoteTerminal) {
    let (cols, rows) = term.size();
    ctx.shared.claim_size(
        ctx.client,
        Scope::Task(task),
        rows.saturating_sub(1).max(1),
        cols,
    );
}

/// Carry out one effect. Returns how the loop ends, if it does.
fn apply(
    effect: Effect,
    app: &mut App,
    term: &mut RemoteTerminal,
    ctx: &mut LoopCtx,
) -> Option<LoopEnd> {
    match effect {
        Effect::Redraw => {}
        Effect::Leave => return Some(LoopEnd::Detached),
        Effect::Quit => {
            // Nothing is owed and another control room is open: leave it
            // be (a stop chosen in the dialog stops it all the same).
            if app.plan_settled && app.table.running().is_empty() && ctx.shared.control_rooms() > 1
            {
                return Some(LoopEnd::Detached);
            }
            if !ctx.stopping {
                ctx.stopping = true;
                let running = app.table.running().len();
                app.flash(if running == 0 {
                    "stopping orch...".to_string()
                } else {
                    format!("stopping {running} agent(s)...")
                });
                send_request(app, &ctx.link, Request::Stop);
            }
        }
        Effect::Engine(action) => {
            let by = app.user.clone();
            send_request(app, &ctx.link, Request::Act { action, by });
        }
        Effect::Logs(task) => open_logs(app, ctx, &task),
        Effect::Pager { task, diff } => open_diff_pager(app, ctx, &task, &diff),
        Effect::Attach(task) => {
            claim_attached(ctx, task.clone(), term);
            ctx.attached = Some(task);
        }
        Effect::Detach(task) => {
            ctx.attached = None;
            ctx.shared.release_size(ctx.client, &Scope::Task(task));
        }
        Effect::Copy(text) => copy(app, ctx, term, &text),
        Effect::Input(task, bytes) => {
            if let Some(p) = app
                .task(&task)
                .and_then(|t| t.output.as_ref())
                .and_then(|o| o.process())
            {
                if let Err(err) = p.write_input(&bytes) {
                    app.flash(format!("cannot write to {task}: {err}"));
                }
            }
        }
    }
    leave_attach_if_ended(app, ctx);
    None
}

/// A copy: to the client's clipboard (OSC 52, through tmux when the client
/// is inside it) and to the copy file, which the status bar names.
fn copy(app: &mut App, ctx: &LoopCtx, term: &mut RemoteTerminal, text: &str) {
    let osc52 = crate::ui::clipboard::osc52(text, app.in_tmux);
    let to_clipboard = !osc52.is_empty();
    term.write_raw(&osc52);
    let chars = text.chars().count();
    let clipboard = if to_clipboard {
        "clipboard and "
    } else {
        "too long for the clipboard; in "
    };
    match crate::ui::clipboard::write_copy(&ctx.shared.state_dir, text) {
        Ok(path) => {
            // Named from the repository, where the user is.
            let config = ctx.shared.config.borrow().path.clone();
            let shown = config
                .parent()
                .and_then(|dir| path.strip_prefix(dir).ok())
                .unwrap_or(&path);
            app.flash(format!(
                "copied {chars} characters: {clipboard}{}",
                shown.display()
            ));
        }
        Err(err) => {
            tracing::warn!(error = %err, "writing the copy file");
            let to = if to_clipboard {
                "to the clipboard"
            } else {
                "nowhere: too long for the clipboard"
            };
            app.flash(format!(
                "copied {chars} characters {to} (no copy file: {err})"
            ));
        }
    }
}

/// An attached agent that exits returns the user to the control room.
fn leave_attach_if_ended(app: &mut App, ctx: &mut LoopCtx) {
    if let Mode::Attached(task) = &app.mode {
        if app
            .task(task)
            .is_none_or(|t| t.row.state != TaskState::Running)
        {
            let task = task.clone();
            app.mode = Mode::Normal;
            if ctx.attached.take().is_some() {
                ctx.shared
                    .release_size(ctx.client, &Scope::Task(task.clone()));
            }
            app.flash(format!("{task} finished; detached"));
        }
    }
}

/// Ask the client to show `request` in its pager; no frames until it is
/// back.
fn show_in_pager(app: &mut App, ctx: &mut LoopCtx, request: &PagerRequest, what: &str) {
    let Some(message) = Outgoing::json(kind::PAGER, request) else {
        return;
    };
    // Frames wait while the pager has the terminal, so a full queue only
    // means frames are still on their way: this is worth waiting for.
    match ctx.outbox.try_send(message) {
        Ok(()) => ctx.suspended = true,
        Err(_) => app.flash(format!("cannot show {what} now; try again")),
    }
}

/// Show a task's latest log in the client's `$PAGER` (default `less -R`).
fn open_logs(app: &mut App, ctx: &mut LoopCtx, task: &str) {
    let Some(t) = app.task(task) else {
        return;
    };
    if t.row.attempts == 0 {
        app.flash(format!("{task} has not run yet"));
        return;
    }
    let log = jobs::log_path(&ctx.shared.state_dir, task, t.row.attempts);
    let mut files = Vec::new();
    let rotated = log.with_extension("log.1");
    if rotated.exists() {
        files.push(rotated);
    }
    files.push(log);
    show_in_pager(
        app,
        ctx,
        &PagerRequest::Logs { files },
        &format!("{task}'s log"),
    );
}

/// Show a task's diff in the client's pager, as `git diff` would
/// (coloured, unless `NO_COLOR`).
fn open_diff_pager(app: &mut App, ctx: &mut LoopCtx, task: &str, diff: &TaskDiff) {
    let patch = diff.patch_text();
    let text = if ctx.no_color {
        patch
    } else {
        colour_patch(&patch)
    };
    // A patch can be far larger than a frame: it goes by file, private to
    // this user (the state dir is), one per control room.
    remove_patch_file(ctx);
    let file =
        ctx.shared
            .state_dir
            .join(format!("patch-{}-{}.diff", std::process::id(), ctx.client));
    if let Err(err) = std::fs::write(&file, text) {
        app.flash(format!(
            "cannot show {task}'s diff: writing {}: {err}",
            file.display()
        ));
        return;
    }
    let request = PagerRequest::Patch {
        file: file.clone(),
        core_pager: ctx.shared.repo.configured_pager(),
    };
    ctx.patch_file = Some(file);
    show_in_pager(app, ctx, &request, &format!("{task}'s diff"));
    if !ctx.suspended {
        remove_patch_file(ctx);
    }
}

fn remove_patch_file(ctx: &mut LoopCtx) {
    if let Some(file) = ctx.patch_file.take() {
        crate::log_err(std::fs::remove_file(&file), "removing a shown patch");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::tests::{app, row, PLAN};

    async fn next_answer(link: &mut EngineLink) -> Answer {
        tokio::time::timeout(Duration::from_secs(10), link.answers.recv())
            .await
            .expect("an answer within the deadline")
            .expect("the link is open")
    }

    #[tokio::test]
    async fn requests_never_wait_for_the_engine_and_refusals_come_back_as_flashes() {
        // An engine that answers only when let go, and refuses retries.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let engine = gate.clone();
        let mut link = EngineLink::start(move |request| {
            let gate = engine.clone();
            async move {
                let Request::Act { action, .. } = request else {
                    return None;
                };
                gate.acquire().await.expect("gate open").forget();
                let result = match &action {
                    EngineAction::Retry(task) => Err(ActionError::UnknownTask(task.clone())),
                    _ => Ok(()),
                };
                Some(Answer::Acted {
                    done: action.done(),
                    result,
                    asked: Instant::now(),
                })
            }
        });
        let mut app = app(PLAN, vec![row("api", TaskState::Running, 1, None)], "dark");
        let by = || "me".to_string();
        // Both are queued at once although the engine has answered nothing.
        let approve = Request::Act {
            action: EngineAction::Approve("api".into()),
            by: by(),
        };
        assert!(send_request(&mut app, &link, approve));
        let retry = Request::Act {
            action: EngineAction::Retry("nope".into()),
            by: by(),
        };
        assert!(send_request(&mut app, &link, retry));
        assert!(link.answers.try_recv().is_err(), "nothing answered yet");
        gate.add_permits(2);
        // Answered in the order asked.
        on_answer(
            &mut app,
            next_answer(&mut link).await,
            &link,
            &AgentRegistry::default(),
        );
        assert_eq!(app.current_flash(Instant::now()), Some("approved api"));
        on_answer(
            &mut app,
            next_answer(&mut link).await,
            &link,
            &AgentRegistry::default(),
        );
        assert_eq!(
            app.current_flash(Instant::now()),
            Some(ActionError::UnknownTask("nope".into()).to_string().as_str())
        );
    }

    #[test]
    fn a_snapshot_leaves_alone_the_tasks_events_changed_meanwhile() {
        let now = Instant::now();
        let mut app = app(
            PLAN,
            vec![
                row("api", TaskState::Running, 1, None),
                row("design", TaskState::Running, 1, None),
            ],
            "dark",
        );
        assert!(app.resync_needed());
        // Asked again while the first is on its way: no second request yet.
        assert!(!app.resync_needed());
        // An event newer than the snapshot arrives first.
        let done = row("api", TaskState::Done, 1, None);
        app.note_event("api");
        app.on_task(done, now);
        let snapshot = Snapshot {
            tasks: vec![
                row("api", TaskState::Running, 1, None),
                row("design", TaskState::NeedsReview, 1, None),
            ],
            agents: Vec::new(),
            ran: Vec::new(),
            progress: Vec::new(),
            attention: Vec::new(),
        };
        // Events were missed while waiting: ask again.
        assert!(apply_snapshot(
            &mut app,
            snapshot,
            &AgentRegistry::default(),
            now
        ));
        assert_eq!(app.task("api").unwrap().row.state, TaskState::Done);
        assert_eq!(
            app.task("design").unwrap().row.state,
            TaskState::NeedsReview
        );
        let snapshot = Snapshot {
            tasks: vec![row("api", TaskState::Done, 1, None)],
            agents: Vec::new(),
            ran: Vec::new(),
            progress: Vec::new(),
            attention: Vec::new(),
        };
        assert!(!apply_snapshot(
            &mut app,
            snapshot,
            &AgentRegistry::default(),
            now
        ));
        // The next miss asks at once.
        assert!(app.resync_needed());
    }
}
