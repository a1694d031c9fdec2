//! The control room's loop. It waits on terminal input, engine events, "an
//! agent printed" signals, the engine's answers, finished jobs, config
//! reloads and, only while something is running, a one-second tick for
//! elapsed times. It draws only when something changed, at most once per
//! frame interval, after draining everything already queued. Nothing in it
//! waits on the engine or the disk: requests go to the engine through one
//! task that posts the answers back ([`EngineLink`]), and slow reads are
//! jobs ([`crate::ui::jobs`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::layout::Rect;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, Notify};

use crate::agent::backend::{AgentRegistry, AgentTerminal};
use crate::config::watch::ConfigWatcher;
use crate::config::Config;
use crate::engine::{
    ActionError, Actor, Engine, EngineHandle, EngineOptions, Event, OutputSignal,
    Request as EngineRequest, Snapshot, TaskState,
};
use crate::git::{Repo, TaskDiff};
use crate::session::Session;
use crate::store::{Store, TaskRow};
use crate::ui::app::{App, Effect, EngineAction, Mode};
use crate::ui::jobs::{self, JobDone, Jobs};
use crate::ui::keymap::{self, Keymap};
use crate::ui::layout;
use crate::ui::output_source::OutputSource;
use crate::ui::pager::{colour_patch, Pager, IN_CONTROL_ROOM};
use crate::ui::terminal::{Term, TerminalGuard};
use crate::ui::theme::Theme;
use crate::ui::view::{self, Now};

/// ~60 frames a second at most.
const FRAME: Duration = Duration::from_millis(16);

/// What the command line chose for the control room.
pub struct UiChoice {
    pub theme: Option<String>,
    pub keymap: Option<String>,
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
        (Ok(k), Ok(t)) => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            Ok((k, if no_color { t.without_colors() } else { t }))
        }
        (Err(a), Err(b)) => Err(format!("{a}\n{b}")),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

pub async fn run(session: Session, keymap: Keymap, theme: Theme) -> i32 {
    let Session {
        config,
        repo,
        base_branch,
        state_dir,
        store,
        lock,
    } = session;
    let (cols, rows) = crossterm::terminal::size().unwrap_or((120, 40));
    let areas = layout::split(ratatui::layout::Rect::new(0, 0, cols, rows), 0, 0);
    let notify = Arc::new(Notify::new());
    let signal = notify.clone();
    let opts = EngineOptions {
        mode: "tui",
        approve_all: false,
        approval_timeout: None,
        exit_when_settled: false,
        pty_rows: areas.output.height.saturating_sub(2).max(5),
        pty_cols: areas.output.width.saturating_sub(2).max(20),
        output_signal: Some(OutputSignal(Arc::new(move || signal.notify_one()))),
        ..EngineOptions::default()
    };
    let diff_git = (repo.clone(), base_branch.clone());
    let (engine, handle) = match Engine::new(config.clone(), store, repo, base_branch, opts) {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let mut app = App::new(&config, engine.rows(), keymap, theme, Instant::now());
    app.base_branch = Some(diff_git.1.clone());
    let mut events = handle.subscribe();
    let engine_task = tokio::spawn(engine.run());
    let reader = crate::log_err(
        Store::open_read_only(&state_dir.join("state.db")),
        "opening state.db for the details dialog",
    );

    let (mut guard, mut terminal) = match TerminalGuard::enter() {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("orch: cannot open the terminal: {err} (use --no-tui when there is none)");
            shutdown_engine(&handle).await;
            crate::log_err(engine_task.await, "waiting for the engine to stop");
            return 1;
        }
    };
    // Edits of orch.toml while the control room runs.
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(8);
    let watcher = ConfigWatcher::start(&config.path, Duration::from_millis(300), move |result| {
        reload_tx.blocking_send(result).is_ok()
    });
    if let Err(err) = &watcher {
        app.flash(err.to_string());
    }
    let (job_tx, job_rx) = mpsc::channel(JOB_RESULTS);
    let mut ctx = LoopCtx {
        link: EngineLink::to_engine(handle.clone()),
        agents: handle.agents().clone(),
        jobs: Jobs::new(state_dir.clone(), reader, job_tx).with_git(diff_git.0.clone(), diff_git.1),
        repo: diff_git.0,
        job_results: job_rx,
        state_dir: state_dir.clone(),
        attached_size: None,
        reloads: reload_rx,
    };
    let result = event_loop(
        &mut app,
        &mut terminal,
        &mut guard,
        &mut events,
        &notify,
        &mut ctx,
    )
    .await;
    drop(watcher);
    drop(guard);

    // Stop the engine (and its agents) and wait for it to save everything.
    // The engine's own view of the tasks, not the screen's (which may be a
    // frame behind): it decides the exit status.
    // Bounded like the wait for the engine below: an engine that stopped
    // answering must not keep orch from exiting.
    let asked = tokio::time::timeout(Duration::from_secs(10), async {
        let last = handle.snapshot().await;
        shutdown_engine(&handle).await;
        last
    })
    .await;
    let last = asked.ok().flatten();
    // Agents whose process runs are stopped (their attempts interrupted);
    // an attempt whose worktree or commit is under way finishes it first.
    let stopping = last.as_ref().map_or(0, |s| s.agents.len());
    if stopping > 0 {
        println!("orch: stopping {stopping} agent(s)...");
    }
    let outcome = tokio::time::timeout(Duration::from_secs(30), engine_task).await;
    drop(lock);
    // What the engine saved once it stopped decides the summary and status.
    let rows = final_rows(&state_dir, last.map(|s| s.tasks))
        .unwrap_or_else(|| app.table.tasks.iter().map(|t| t.row.clone()).collect());
    let states: Vec<TaskState> = rows.iter().map(|r| r.state).collect();
    let waiting = states.contains(&TaskState::AwaitingApproval);
    match (result, outcome) {
        (LoopEnd::Signal, _) => {
            println!(
                "orch: interrupted; state saved in {}; run orch again to resume",
                state_dir.display()
            );
            130
        }
        (LoopEnd::Quit, Ok(Ok(Ok(_)))) | (LoopEnd::EngineFinished, Ok(Ok(Ok(_)))) => {
            let done = states.iter().filter(|s| **s == TaskState::Done).count();
            println!(
                "orch: {done}/{} task(s) done; state saved in {}{}",
                states.len(),
                state_dir.display(),
                if done < states.len() {
                    "; run orch again to resume"
                } else {
                    ""
                }
            );
            // Agents stopped mid-attempt: interrupted (130), as for Ctrl-C.
            crate::engine::policy::run_exit_code(&states, stopping > 0, waiting)
        }
        (_, Ok(Ok(Err(err)))) => {
            eprintln!("orch: the engine stopped: {err}");
            1
        }
        (_, _) => {
            eprintln!("orch: the engine did not stop in time; state up to now is saved");
            1
        }
    }
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
    /// For the pager's `core.pager`.
    repo: Repo,
    state_dir: PathBuf,
    /// The attached agent and the size it had before it was zoomed.
    attached_size: Option<(String, (u16, u16))>,
    /// Results of reloading orch.toml after an edit.
    reloads: mpsc::Receiver<Result<Config, crate::config::ConfigErrors>>,
}

enum LoopEnd {
    Quit,
    Signal,
    EngineFinished,
}

async fn event_loop(
    app: &mut App,
    terminal: &mut Term,
    guard: &mut TerminalGuard,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    notify: &Notify,
    ctx: &mut LoopCtx,
) -> LoopEnd {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term_signal = signal(SignalKind::terminate()).ok();
    let mut hup_signal = signal(SignalKind::hangup()).ok();
    // In raw mode Ctrl-C arrives as a key (the quit dialog); this is a
    // SIGINT sent from elsewhere, which must still restore the terminal
    // and stop the agents cleanly.
    let mut int_signal = signal(SignalKind::interrupt()).ok();
    let mut input = EventStream::new();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_pane_size = app.output.size();
    // After an output wake that changed nothing visible (a hidden agent
    // printing), stop listening until the next frame time: a flood must
    // not wake the loop on every read.
    let mut output_quiet_until = Instant::now();

    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            if let Err(err) = draw(terminal, app) {
                tracing::error!("drawing failed: {err}");
                return LoopEnd::Quit;
            }
            last_draw = Instant::now();
            dirty = false;
            if app.output.size() != last_pane_size && ctx.attached_size.is_none() {
                last_pane_size = app.output.size();
                resize_agents(app, last_pane_size);
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
            maybe = input.next() => {
                let Some(Ok(event)) = maybe else { return LoopEnd::Quit; };
                let effects = match event {
                    TermEvent::Key(key) if key.kind != KeyEventKind::Release => app.on_key(&key),
                    TermEvent::Paste(text) => app.on_paste(&text),
                    TermEvent::Mouse(mouse) => app.on_mouse(&mouse),
                    TermEvent::Resize(cols, rows) => {
                        if let Some((task, _)) = &ctx.attached_size {
                            attach_resize(app, task, rows, cols);
                        }
                        crate::log_err(terminal.autoresize(), "resizing the screen");
                        vec![Effect::Redraw]
                    }
                    _ => Vec::new(),
                };
                for effect in effects {
                    match apply(effect, app, terminal, guard, ctx) {
                        Some(end) => return end,
                        None => dirty = true,
                    }
                }
            }
            event = events.recv() => {
                let now = Instant::now();
                match event {
                    Ok(Event::Finished(_)) | Err(RecvError::Closed) => return LoopEnd::EngineFinished,
                    Ok(event) => on_engine_event(app, &ctx.agents, event, now),
                    Err(RecvError::Lagged(_)) => resync(app, &ctx.link),
                }
                // Drain whatever else is queued before drawing once.
                loop {
                    match events.try_recv() {
                        Ok(Event::Finished(_)) => return LoopEnd::EngineFinished,
                        Ok(event) => on_engine_event(app, &ctx.agents, event, now),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => resync(app, &ctx.link),
                        Err(_) => break,
                    }
                }
                leave_attach_if_ended(app, ctx);
                dirty = true;
            }
            // While a frame is already due, further output signals would only
            // wake us to learn what we know: listen to them only when clean.
            _ = notify.notified(), if !dirty && Instant::now() >= output_quiet_until => {
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
                    if let Some(end) = apply(effect, app, terminal, guard, ctx) {
                        return end;
                    }
                }
                dirty = true;
            }
            Some(reloaded) = ctx.reloads.recv() => {
                match reloaded {
                    Ok(config) => {
                        app.config_error = None;
                        app.flash(format!("{} reloaded", config.path.display()));
                        send_request(app, &ctx.link, Request::Reload(Box::new(config)));
                    }
                    Err(errors) => app.config_error = Some(errors.to_string()),
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(frame_due.into()), if dirty => {}
            // The diff view's next refresh (taken at the top of the loop).
            _ = tokio::time::sleep_until(diff_due.unwrap_or(frame_due).into()), if diff_due.is_some() => {}
            // Elapsed times and heartbeat ages move once a second; a frame
            // drawn for another reason within that second already shows them.
            _ = tick.tick(), if live => dirty = dirty || last_draw.elapsed() >= Duration::from_millis(900),
            _ = async { match term_signal.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => return LoopEnd::Signal,
            _ = async { match hup_signal.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => return LoopEnd::Signal,
            _ = async { match int_signal.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => return LoopEnd::Signal,
        }
    }
}

/// Prepare and draw one frame. The state is settled first
/// (`App::prepare_frame`); the drawing itself only reads it.
fn draw(terminal: &mut Term, app: &mut App) -> std::io::Result<()> {
    use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
    let size = terminal.size()?;
    app.prepare_frame(Rect::new(0, 0, size.width, size.height));
    let now = Now::current();
    let app: &App = app;
    // Synchronized update: a slow terminal never shows half a frame.
    crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate)?;
    let result = terminal.draw(|frame| view::draw(frame, app, now)).map(drop);
    crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate)?;
    result
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
    Reload(Box<Config>),
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
        Request::Reload(config) => {
            crate::log_err(
                handle
                    .tell(Actor::current_user(), EngineRequest::Reload { config })
                    .await,
                "handing the reloaded config to the engine",
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

fn on_engine_event(app: &mut App, agents: &AgentRegistry, event: Event, now: Instant) {
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
        Event::AgentStarted { task, attempt } => {
            app.note_event(&task);
            // Gone already if it exited at once; its log is replayed instead.
            if let Some(process) = agents.get(&task, Some(attempt)) {
                agent_started(app, &task, process);
            }
        }
        Event::Health(view) => app.on_health(view, now),
        Event::PlanChanged { config, rows } => {
            for row in &rows {
                app.note_event(&row.id);
            }
            app.reload(&config, rows, now);
        }
        Event::Finished(_) => {}
    }
}

/// An agent is up: size its terminal to the output pane and show it.
fn agent_started(app: &mut App, task: &str, process: Arc<dyn AgentTerminal>) {
    let (rows, cols) = app.output.size();
    if rows > 1 && cols > 1 {
        crate::log_err(process.resize(rows, cols), "resizing an agent's terminal");
    }
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
    for (task, attempt) in snapshot.agents {
        if app.touched_since_resync(&task) {
            continue;
        }
        if let Some(process) = agents.get(&task, Some(attempt)) {
            agent_started(app, &task, process);
        }
    }
    app.resync_done()
}

/// The tasks of the plan as the stopped engine left them in the store (the
/// plan's tasks are those of its last snapshot); the snapshot itself if the
/// store cannot be read.
fn final_rows(state_dir: &Path, last: Option<Vec<TaskRow>>) -> Option<Vec<TaskRow>> {
    let last = last?;
    let stored = Store::open_read_only(&state_dir.join("state.db"))
        .and_then(|store| store.tasks())
        .ok();
    let Some(stored) = stored else {
        return Some(last);
    };
    Some(
        last.into_iter()
            .map(|row| {
                stored
                    .iter()
                    .find(|s| s.id == row.id)
                    .cloned()
                    .unwrap_or(row)
            })
            .collect(),
    )
}

/// Stop the run, its agents with it.
async fn shutdown_engine(handle: &EngineHandle) {
    let stop = EngineRequest::Shutdown { stop_agents: true };
    crate::log_err(
        handle.tell(Actor::current_user(), stop).await,
        "asking the engine to stop",
    );
}

// ---- agents' terminals -------------------------------------------------------

fn resize_agents(app: &App, (rows, cols): (u16, u16)) {
    if rows < 2 || cols < 2 {
        return;
    }
    for t in &app.table.tasks {
        if let Some(process) = t.output.as_ref().and_then(|o| o.process()) {
            if !process.has_exited() {
                crate::log_err(process.resize(rows, cols), "resizing an agent's terminal");
            }
        }
    }
}

fn attach_resize(app: &App, task: &str, rows: u16, cols: u16) {
    if let Some(process) = app
        .task(task)
        .and_then(|t| t.output.as_ref())
        .and_then(|o| o.process())
    {
        // One line is the "attached" bar.
        crate::log_err(
            process.resize(rows.saturating_sub(1).max(1), cols),
            "resizing the attached agent's terminal",
        );
    }
}

/// Carry out one effect. Returns how the loop ends, if it does.
fn apply(
    effect: Effect,
    app: &mut App,
    terminal: &mut Term,
    guard: &mut TerminalGuard,
    ctx: &mut LoopCtx,
) -> Option<LoopEnd> {
    match effect {
        Effect::Redraw => {}
        Effect::Quit => return Some(LoopEnd::Quit),
        Effect::Engine(action) => {
            let by = app.user.clone();
            send_request(app, &ctx.link, Request::Act { action, by });
        }
        Effect::Logs(task) => open_logs(app, terminal, guard, ctx, &task),
        Effect::Pager { task, diff } => open_diff_pager(app, terminal, guard, ctx, &task, &diff),
        Effect::Attach(task) => {
            ctx.attached_size = Some((task.clone(), app.output.size()));
            let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
            attach_resize(app, &task, rows, cols);
        }
        Effect::Detach(task) => {
            if let Some((_, (rows, cols))) = ctx.attached_size.take() {
                if let Some(p) = app
                    .task(&task)
                    .and_then(|t| t.output.as_ref())
                    .and_then(|o| o.process())
                {
                    crate::log_err(p.resize(rows, cols), "restoring an agent's terminal size");
                }
            }
        }
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

/// An attached agent that exits returns the user to the control room.
fn leave_attach_if_ended(app: &mut App, ctx: &mut LoopCtx) {
    if let Mode::Attached(task) = &app.mode {
        if app
            .task(task)
            .is_none_or(|t| t.row.state != TaskState::Running)
        {
            let task = task.clone();
            app.mode = Mode::Normal;
            ctx.attached_size = None;
            app.flash(format!("{task} finished; detached"));
        }
    }
}

/// Show a task's latest log in `$PAGER` (default `less -R`).
fn open_logs(
    app: &mut App,
    terminal: &mut Term,
    guard: &mut TerminalGuard,
    ctx: &LoopCtx,
    task: &str,
) {
    let Some(t) = app.task(task) else {
        return;
    };
    if t.row.attempts == 0 {
        app.flash(format!("{task} has not run yet"));
        return;
    }
    let log = jobs::log_path(&ctx.state_dir, task, t.row.attempts);
    let mut files: Vec<&Path> = Vec::new();
    let rotated = log.with_extension("log.1");
    if rotated.exists() {
        files.push(&rotated);
    }
    files.push(&log);
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -R".into());
    let quoted: Vec<String> = files
        .iter()
        .map(|f| format!("'{}'", f.display().to_string().replace('\'', "'\\''")))
        .collect();
    let command = format!("{pager} {}", quoted.join(" "));
    let status = guard.suspend(terminal, || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .status()
    });
    match status {
        Ok(Ok(s)) if s.success() => {}
        Ok(Ok(s)) => app.flash(format!("{pager} exited with {s}")),
        Ok(Err(err)) | Err(err) => app.flash(format!("cannot run {pager}: {err}")),
    }
}

/// Show a task's diff in the user's pager, as `git diff` would (coloured,
/// unless `NO_COLOR`). When the user's choice is no pager at all (`cat`),
/// `less` is used: printing into the suspended screen would show nothing.
fn open_diff_pager(
    app: &mut App,
    terminal: &mut Term,
    guard: &mut TerminalGuard,
    ctx: &LoopCtx,
    task: &str,
    diff: &TaskDiff,
) {
    let patch = diff.patch_text();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let text = if no_color {
        patch
    } else {
        colour_patch(&patch)
    };
    let pager = Pager::from_env(ctx.repo.configured_pager()).unwrap_or(Pager {
        command: "less".into(),
    });
    match guard.suspend(terminal, || pager.show(text.as_bytes(), IN_CONTROL_ROOM)) {
        Ok(Ok(_)) => {}
        Ok(Err(err)) | Err(err) => {
            app.flash(format!(
                "cannot show {task}'s diff in {}: {err}",
                pager.command
            ));
        }
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
