//! The commands agents run: `orch heartbeat` and `orch msg send/poll`.
//! They talk to the orch that started them through `ORCH_SOCKET`,
//! presenting `ORCH_TOKEN`, and need no config. Which task they speak for
//! is the server's to find (`control::identity`), never the command
//! line's. `orch msg send` works for a person too: from a shell with no
//! `ORCH_SOCKET`, it goes to the orch of the config (or, with none
//! running, into state.db for the next run).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::control::client::{self, ClientError, Target};
use crate::control::protocol::{Command, Mail, Reply};
use crate::engine::message::check_message;

/// `ORCH_SOCKET`, when this process is (or descends from) an agent.
fn agent_socket() -> Option<PathBuf> {
    std::env::var_os("ORCH_SOCKET")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The message to exit 2 with when an agent-only command runs elsewhere.
fn not_an_agent(command: &str) -> String {
    format!(
        "orch {command}: ORCH_SOCKET is not set; orch {command} is for agents orch runs (it \
         sets ORCH_SOCKET and ORCH_TOKEN in each agent's environment)"
    )
}

fn runtime(command: &str) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            eprintln!("orch {command}: cannot start the async runtime: {err}");
            None
        }
    }
}

/// A reply's exit status, its message printed (on stderr when refused).
fn said(reply: Reply, quiet: bool) -> i32 {
    if !reply.ok {
        eprintln!("{}", reply.message);
    } else if !quiet && !reply.message.is_empty() {
        println!("{}", reply.message);
    }
    reply.code
}

fn failed(command: &str, err: ClientError) -> i32 {
    match err {
        ClientError::NotRunning(err) => {
            eprintln!("orch {command}: no orch answers on ORCH_SOCKET: {err}")
        }
        err => eprintln!("orch {command}: {err}"),
    }
    1
}

/// What one `orch heartbeat` says.
#[derive(Debug, Clone, Default)]
pub struct Beat {
    pub progress: Option<u8>,
    pub note: Option<String>,
    pub activity: Option<crate::agent::waiting::Seen>,
    pub session_id: Option<String>,
}

/// `orch heartbeat [--progress PCT] [--note TEXT] [--waiting Q | --idle |
/// --busy] [--session-id ID]`: 0 when orch heard it, 1 when it refused
/// (the message says why), 2 for bad usage.
pub fn heartbeat(beat: Beat) -> i32 {
    let Beat {
        progress,
        note,
        activity,
        session_id,
    } = beat;
    let Some(socket) = agent_socket() else {
        eprintln!("{}", not_an_agent("heartbeat"));
        return 2;
    };
    if std::env::var_os("ORCH_TOKEN").is_none_or(|t| t.is_empty()) {
        eprintln!(
            "{}",
            not_an_agent("heartbeat").replace("ORCH_SOCKET is", "ORCH_TOKEN is")
        );
        return 2;
    }
    if let Some(Err(err)) = note.as_deref().map(crate::engine::message::check_note) {
        eprintln!("orch heartbeat: {err}");
        return 2;
    }
    let Some(runtime) = runtime("heartbeat") else {
        return 1;
    };
    if session_id
        .as_deref()
        .is_some_and(|s| s.is_empty() || s.len() > 200 || s.chars().any(char::is_control))
    {
        eprintln!("orch heartbeat: a session id is one word of up to 200 characters");
        return 2;
    }
    let command = Command::Heartbeat {
        progress,
        note,
        activity,
        session_id,
    };
    match runtime.block_on(client::command_at(&socket, command)) {
        Ok(reply) => said(reply, true),
        Err(err) => failed("heartbeat", err),
    }
}

/// `orch msg send --to TASK [TEXT]` (the text from stdin when it is
/// missing or `-`): 0 kept for the task, 1 refused, 2 bad usage.
pub fn msg_send(config: &Path, to: &str, text: Option<String>) -> i32 {
    let text = match text.filter(|t| t != "-") {
        Some(text) => text,
        None => match read_stdin() {
            Ok(text) => text,
            Err(err) => {
                eprintln!("orch msg send: {err}");
                return 2;
            }
        },
    };
    let text = match check_message(&text) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("orch msg send: {err}");
            return 2;
        }
    };
    let command = Command::MsgSend {
        to: to.to_string(),
        text: text.clone(),
    };
    if let Some(socket) = agent_socket() {
        let Some(runtime) = runtime("msg send") else {
            return 1;
        };
        return match runtime.block_on(client::command_at(&socket, command)) {
            Ok(reply) => said(reply, false),
            Err(err) => failed("msg send", err),
        };
    }
    // A person: to the orch running here, else into state.db.
    if let Some(message) = super::missing_config(config) {
        eprintln!("{message}");
        return 2;
    }
    let dir = super::state_dir_for(config);
    let Some(runtime) = runtime("msg send") else {
        return 1;
    };
    match runtime.block_on(client::command(&dir, command)) {
        Ok(reply) => said(reply, false),
        Err(ClientError::NotRunning(_)) => {
            drop(runtime);
            // As a running orch answers a task it does not know.
            if let Ok(plan) = crate::session::load_config(config) {
                if !plan.tasks.iter().any(|t| t.id == to)
                    && !super::act::added_at_run_time(&plan, to)
                {
                    eprintln!("orch: no task {to:?} in this plan");
                    return 1;
                }
            }
            let request = crate::engine::Request::SendMessage {
                to: to.to_string(),
                text,
                from_attempt: None,
            };
            super::act::run(config, request)
        }
        Err(err) => failed("msg send", err),
    }
}

/// The text of a message given on stdin (a byte over the limit is enough
/// to refuse it).
fn read_stdin() -> Result<String, String> {
    use std::io::IsTerminal;
    let max = crate::engine::message::MESSAGE_MAX;
    if std::io::stdin().is_terminal() {
        return Err(
            "no message: give its text as an argument, or on stdin (not a terminal)".into(),
        );
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the message from stdin: {e}"))?;
    if bytes.len() > max {
        return Err(format!("a message is at most {max} bytes (stdin has more)"));
    }
    String::from_utf8(bytes).map_err(|_| "the message on stdin is not UTF-8 text".to_string())
}

/// `orch msg poll [--wait D] [--json]`: print this agent's messages,
/// oldest first, each once; 0 whether or not any came, 1 refused, 2 bad
/// usage.
pub fn msg_poll(wait: Duration, json: bool) -> i32 {
    if wait > crate::control::mail::POLL_WAIT_MAX {
        eprintln!("orch msg poll: --wait is at most 1h");
        return 2;
    }
    let Some(socket) = agent_socket() else {
        eprintln!("{}", not_an_agent("msg poll"));
        return 2;
    };
    let Some(runtime) = runtime("msg poll") else {
        return 1;
    };
    let print = |mail: &[Mail]| print_mail(mail, json).is_ok();
    match runtime.block_on(client::poll(Target::Socket(&socket), wait, print)) {
        Ok(reply) => said(reply, true),
        Err(err) => failed("msg poll", err),
    }
}

/// Messages on stdout, flushed (only then are they acknowledged): `#ID
/// from TASK: TEXT`, further lines indented; or one JSON object a line.
fn print_mail(mail: &[Mail], json: bool) -> std::io::Result<()> {
    // Rust's stdout takes writes to a closed descriptor as done: they
    // would be acknowledged unread.
    rustix::io::fcntl_getfd(rustix::stdio::stdout())?;
    let mut out = std::io::stdout().lock();
    for m in mail {
        if json {
            let line = serde_json::to_string(m).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")?;
        } else {
            let mut lines = m.text.lines();
            writeln!(
                out,
                "#{} from {} {}: {}",
                m.id,
                m.from_kind,
                m.from,
                lines.next().unwrap_or("")
            )?;
            for line in lines {
                writeln!(out, "  {line}")?;
            }
        }
    }
    out.flush()
}

/// The most a hook's JSON may be, in bytes.
const HOOK_PAYLOAD_MAX: u64 = 1 << 20;

/// `orch __hook KIND [PAYLOAD]`: an agent CLI's hook event, told to the
/// orch that runs the agent as a heartbeat (see `agent::kinds`). Silent
/// and always 0, whatever goes wrong (it is logged on stderr, which the
/// agent keeps to its debug log).
pub fn hook(kind: &str, payload: Option<String>) -> i32 {
    let text = match payload {
        Some(text) => text,
        None => {
            let mut bytes = Vec::new();
            let read = std::io::stdin()
                .lock()
                .take(HOOK_PAYLOAD_MAX)
                .read_to_end(&mut bytes);
            if let Err(err) = read {
                eprintln!("orch __hook: cannot read the event: {err}");
                return 0;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(err) => {
            eprintln!("orch __hook: the event is not JSON: {err}");
            return 0;
        }
    };
    let beat = match kind {
        "claude-code" => crate::agent::kinds::claude_event(&value),
        "codex" => crate::agent::kinds::codex_event(&value),
        other => {
            eprintln!("orch __hook: no hooks for agents of kind {other:?}");
            return 0;
        }
    };
    if beat.activity.is_none() && beat.session_id.is_none() {
        return 0;
    }
    let Some(socket) = agent_socket() else {
        return 0;
    };
    let Some(runtime) = runtime("__hook") else {
        return 0;
    };
    let command = Command::Heartbeat {
        progress: None,
        note: None,
        activity: beat.activity,
        session_id: beat.session_id,
    };
    match runtime.block_on(client::command_at(&socket, command)) {
        Ok(reply) if !reply.ok => eprintln!("{}", reply.message),
        Ok(_) => {}
        Err(err) => eprintln!("orch __hook: {err}"),
    }
    0
}
