//! The control room's loop. It waits on four things: terminal input, engine
//! events, "an agent printed" signals and, only while something is running,
//! a one-second tick for elapsed times. It draws only when something changed,
//! at most once per frame interval, after draining everything already queued.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;

use crate::agent::backend::AgentRegistry;
use crate::config::watch::ConfigWatcher;
use crate::config::Config;
use crate::engine::{
    ActionError, Actor, Engine, EngineHandle, EngineOptions, Event, OutputSignal, Request,
    TaskState,
};
use crate::session::Session;
use crate::store::Store;
use crate::ui::app::{App, Effect, Mode};
use crate::ui::keymap::{self, Keymap};
use crate::ui::output_source::OutputSource;
use crate::ui::terminal::{Term, TerminalGuard};
use crate::ui::theme::Theme;
use crate::ui::{layout, view};

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
    let (engine, handle) = match Engine::new(config.clone(), store, repo, base_branch, opts) {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let mut app = App::new(&config, engine.rows(), keymap, theme);
    let mut events = handle.subscribe();
    let engine_task = tokio::spawn(engine.run());
    let reader = Store::open_read_only(&state_dir.join("state.db")).ok();

    let (mut guard, mut terminal) = match TerminalGuard::enter() {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("orch: cannot open the terminal: {err} (use --no-tui when there is none)");
            stop_engine(&handle).await;
            let _ = engine_task.await;
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
    let mut ctx = LoopCtx {
        handle: handle.clone(),
        state_dir: state_dir.clone(),
        reader,
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
    let final_rows = handle.snapshot().await.map(|s| s.tasks);
    stop_engine(&handle).await;
    let rows = final_rows.unwrap_or_else(|| app.tasks.iter().map(|t| t.row.clone()).collect());
    let stopping = rows
        .iter()
        .filter(|r| r.state == TaskState::Running)
        .count();
    if stopping > 0 {
        println!("orch: stopping {stopping} agent(s)...");
    }
    let outcome = tokio::time::timeout(Duration::from_secs(30), engine_task).await;
    drop(lock);
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

struct LoopCtx {
    handle: EngineHandle,
    state_dir: std::path::PathBuf,
    reader: Option<Store>,
    /// The attached agent and the size it had before it was zoomed.
    attached_size: Option<(String, (u16, u16))>,
    /// Results of reloading orch.toml after an edit.
    reloads: tokio::sync::mpsc::Receiver<Result<Config, crate::config::ConfigErrors>>,
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
    let mut last_pane_size = app.output_size;
    // After an output wake that changed nothing visible (a hidden agent
    // printing), stop listening until the next frame time: a flood must
    // not wake the loop on every read.
    let mut output_quiet_until = Instant::now();

    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            ensure_output(app, ctx);
            let store = ctx.reader.as_ref();
            let drawn = draw(terminal, app, store);
            if let Err(err) = drawn {
                tracing::error!("drawing failed: {err}");
                return LoopEnd::Quit;
            }
            last_draw = Instant::now();
            dirty = false;
            if app.output_size != last_pane_size && ctx.attached_size.is_none() {
                last_pane_size = app.output_size;
                resize_agents(app, app.output_size);
            }
        }
        let frame_due = last_draw + FRAME;
        let live = app.tasks.iter().any(|t| {
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
                    match apply(effect, app, terminal, guard, ctx).await {
                        Some(end) => return end,
                        None => dirty = true,
                    }
                }
            }
            event = events.recv() => {
                match event {
                    Ok(Event::Finished(_)) | Err(RecvError::Closed) => return LoopEnd::EngineFinished,
                    Ok(event) => on_engine_event(app, ctx.handle.agents(), event),
                    Err(RecvError::Lagged(_)) => resync(app, &ctx.handle).await,
                }
                leave_attach_if_ended(app, ctx);
                // Drain whatever else is queued before drawing once.
                loop {
                    match events.try_recv() {
                        Ok(Event::Finished(_)) => return LoopEnd::EngineFinished,
                        Ok(event) => on_engine_event(app, ctx.handle.agents(), event),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => resync(app, &ctx.handle).await,
                        Err(_) => break,
                    }
                }
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
            Some(reloaded) = ctx.reloads.recv() => {
                match reloaded {
                    Ok(config) => {
                        app.config_error = None;
                        app.flash(format!("{} reloaded", config.path.display()));
                        let reload = Request::Reload { config: Box::new(config) };
                        crate::log_err(
                            ctx.handle.tell(Actor::current_user(), reload).await,
                            "handing the reloaded config to the engine",
                        );
                    }
                    Err(errors) => app.config_error = Some(errors.to_string()),
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(frame_due.into()), if dirty => {}
            // Elapsed times and heartbeat ages move once a second; a frame
            // drawn for another reason within that second already shows them.
            _ = tick.tick(), if live => dirty = dirty || last_draw.elapsed() >= Duration::from_millis(900),
            _ = async { match term_signal.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => return LoopEnd::Signal,
            _ = async { match hup_signal.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => return LoopEnd::Signal,
            _ = async { match int_signal.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => return LoopEnd::Signal,
        }
    }
}

fn draw(terminal: &mut Term, app: &mut App, store: Option<&Store>) -> std::io::Result<()> {
    use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
    // Synchronized update: a slow terminal never shows half a frame.
    crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate)?;
    let result = terminal
        .draw(|frame| view::draw(frame, app, store))
        .map(drop);
    crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate)?;
    result
}

fn on_engine_event(app: &mut App, agents: &AgentRegistry, event: Event) {
    match event {
        Event::Task { row, .. } => {
            app.on_task(row);
        }
        Event::AgentStarted { task, attempt } => {
            // Gone already if it exited at once; its log is replayed instead.
            if let Some(process) = agents.get(&task, Some(attempt)) {
                let (rows, cols) = app.output_size;
                if rows > 1 && cols > 1 {
                    crate::log_err(process.resize(rows, cols), "resizing an agent's terminal");
                }
                app.on_agent(&task, OutputSource::Live(process));
            }
        }
        Event::Health(view) => app.on_health(view),
        Event::PlanChanged { config, rows } => app.reload(&config, rows),
        Event::Finished(_) => {}
    }
}

/// Fell behind the engine: take a fresh snapshot.
async fn resync(app: &mut App, handle: &EngineHandle) {
    if let Some(snapshot) = handle.snapshot().await {
        for row in snapshot.tasks {
            app.on_task(row);
        }
        for (task, attempt) in snapshot.agents {
            if let Some(process) = handle.agents().get(&task, Some(attempt)) {
                app.on_agent(&task, OutputSource::Live(process));
            }
        }
    }
}

/// A selected task without a live agent shows a replay of its last attempt.
fn ensure_output(app: &mut App, ctx: &LoopCtx) {
    let Some(t) = app.selected() else {
        return;
    };
    if t.output.is_some() || t.row.attempts == 0 || t.replay_tried == Some(t.row.attempts) {
        return;
    }
    let id = t.config.id.clone();
    let attempt = t.row.attempts;
    if let Some(entry) = app.tasks.iter_mut().find(|e| e.config.id == id) {
        entry.replay_tried = Some(attempt);
    }
    let log = ctx
        .state_dir
        .join("logs")
        .join(&id)
        .join(format!("{attempt}.log"));
    let (rows, cols) = app.output_size;
    if let Some(source) = OutputSource::replay(&log, rows.max(5), cols.max(20), 10_000) {
        app.on_agent(&id, source);
    }
}

fn resize_agents(app: &App, (rows, cols): (u16, u16)) {
    if rows < 2 || cols < 2 {
        return;
    }
    for t in &app.tasks {
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
async fn apply(
    effect: Effect,
    app: &mut App,
    terminal: &mut Term,
    guard: &mut TerminalGuard,
    ctx: &mut LoopCtx,
) -> Option<LoopEnd> {
    let handle = &ctx.handle;
    let who = Actor::User(app.user.clone());
    let result: Option<(String, Result<(), ActionError>)> = match effect {
        Effect::Redraw => None,
        Effect::Quit => return Some(LoopEnd::Quit),
        Effect::Approve(task) => {
            let request = Request::Approve {
                task: task.clone(),
                reason: None,
            };
            Some((format!("approved {task}"), handle.ask(who, request).await))
        }
        Effect::Reject { task, reason } => {
            let request = Request::Reject {
                task: task.clone(),
                reason: Some(reason),
            };
            Some((format!("rejected {task}"), handle.ask(who, request).await))
        }
        Effect::Retry(task) => {
            let request = Request::Retry { task: task.clone() };
            Some((format!("retrying {task}"), handle.ask(who, request).await))
        }
        Effect::Cancel(task) => {
            let request = Request::Cancel { task: task.clone() };
            Some((format!("cancelled {task}"), handle.ask(who, request).await))
        }
        Effect::Skip(task) => {
            let request = Request::Skip {
                task: task.clone(),
                reason: None,
            };
            Some((format!("skipped {task}"), handle.ask(who, request).await))
        }
        Effect::Logs(task) => {
            open_logs(app, terminal, guard, ctx, &task);
            None
        }
        Effect::Attach(task) => {
            let size = app.output_size;
            ctx.attached_size = Some((task.clone(), size));
            let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
            attach_resize(app, &task, rows, cols);
            None
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
            None
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
            None
        }
    };
    if let Some((done, r)) = result {
        match r {
            Ok(()) => app.flash(done),
            Err(err) => app.flash(err.to_string()),
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
    let log = ctx
        .state_dir
        .join("logs")
        .join(task)
        .join(format!("{}.log", t.row.attempts));
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

/// Ask the engine to stop its agents and end (it saves state first).
async fn stop_engine(handle: &EngineHandle) {
    let stop = Request::Shutdown { stop_agents: true };
    crate::log_err(
        handle.tell(Actor::current_user(), stop).await,
        "asking the engine to stop",
    );
}
