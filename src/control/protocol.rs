//! What client and server say first, and how a message rides in a frame.
//!
//! Control messages are JSON in frames of their own kind; terminal bytes
//! (keys in, screen output out) will ride raw in theirs, so a flood costs
//! no encoding. A connection starts with the client's [`Hello`]; the
//! server answers [`Welcome`] or [`Refused`] (another protocol version:
//! the message tells the user to `orch stop` the old server).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::frame::Frame;

/// The protocol this build speaks. Raised whenever a message changes.
/// 2: the hello's `token`, the `heartbeat` command.
/// 3: the `msg_send` and `msg_poll` commands, `MESSAGES` and `ACK`.
pub const PROTOCOL: u32 = 3;

/// A server that is ending refuses new clients with this reason; a client
/// that wanted a control room waits for it to go and starts a new one.
pub const ENDING: &str = "this orch server is ending";

/// Frame kinds.
pub mod kind {
    pub const HELLO: u8 = 1;
    pub const WELCOME: u8 = 2;
    pub const REFUSED: u8 = 3;
    // Client to server.
    /// A control room's terminal event (JSON `crossterm::event::Event`):
    /// a key, a paste, the mouse, a resize.
    pub const TERM_EVENT: u8 = 10;
    /// Raw bytes typed into `orch attach`, for the agent.
    pub const INPUT: u8 = 11;
    /// `orch attach`'s terminal changed size (JSON [`super::Size`]).
    pub const RESIZE: u8 = 12;
    /// The client has its terminal back after running a pager: repaint.
    pub const RESUMED: u8 = 13;
    /// A command's request (JSON [`super::Command`]).
    pub const COMMAND: u8 = 14;
    /// `orch msg poll` printed these messages (JSON list of their ids).
    pub const ACK: u8 = 15;
    // Server to client.
    /// Bytes for the client's terminal, to be written as they are.
    pub const OUTPUT: u8 = 20;
    /// Give the terminal to a pager for a while (JSON [`super::PagerRequest`]).
    pub const PAGER: u8 = 21;
    /// The end of the session (JSON [`super::Bye`]); the server closes next.
    pub const BYE: u8 = 22;
    /// A command's answer (JSON [`super::Reply`]).
    pub const REPLY: u8 = 23;
    /// Something was published (the events a `Watch` waits for); no payload.
    pub const WAKE: u8 = 24;
    /// Messages for `orch msg poll` to print, then acknowledge with `ACK`
    /// (JSON [`super::Mailbag`]).
    pub const MESSAGES: u8 = 25;
}

/// A terminal's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

/// The largest terminal a client may claim: a screen this size is already
/// far beyond any display, and a claim of 65535x65535 would have the server
/// allocate a buffer (and agents' screens) of hundreds of gigabytes.
pub const MAX_COLS: u16 = 1000;
pub const MAX_ROWS: u16 = 500;

/// A client's claimed size brought within `1..=MAX_COLS` x `1..=MAX_ROWS`.
pub fn sane_size(cols: u16, rows: u16) -> (u16, u16) {
    (cols.clamp(1, MAX_COLS), rows.clamp(1, MAX_ROWS))
}

/// What a client asks of a running orch, one per connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    Approve {
        task: String,
        reason: Option<String>,
    },
    Reject {
        task: String,
        reason: String,
    },
    Retry {
        task: String,
        fresh: bool,
    },
    Cancel {
        task: String,
    },
    Skip {
        task: String,
        reason: Option<String>,
    },
    Resolve {
        task: String,
    },
    /// Merge, and answer once the merge has an outcome.
    Merge {
        task: String,
    },
    AddTask(crate::engine::message::NewTask),
    /// Stop the agents cleanly, save, and end the server; answered when the
    /// engine has stopped (the connection closes as the server exits).
    Stop,
    /// Say `WAKE` whenever the engine publishes something, until it ends
    /// (`BYE`): for followers reading `state.db`.
    Watch,
    /// An agent's sign of life (`orch heartbeat`), with its progress in
    /// percent and a note when given (each kept until the next says
    /// otherwise; an empty note clears it). The task and attempt are the
    /// caller's, as `control::identity` finds them: never named here.
    Heartbeat {
        #[serde(default)]
        progress: Option<u8>,
        #[serde(default)]
        note: Option<String>,
        /// What the agent says it is doing (`--waiting`, `--idle`,
        /// `--busy`, or its hooks).
        #[serde(default)]
        activity: Option<crate::agent::waiting::Seen>,
        /// The conversation it is in, for a later attempt to resume.
        #[serde(default)]
        session_id: Option<String>,
    },
    /// A message for `to`'s agent (`orch msg send`), from the caller: an
    /// agent (its task) or the user.
    MsgSend {
        to: String,
        text: String,
    },
    /// The calling agent's messages (`orch msg poll`): `MESSAGES` frames,
    /// each answered by the client's `ACK` once printed, waiting up to
    /// `wait_ms` for the first; then a `REPLY`.
    MsgPoll {
        #[serde(default)]
        wait_ms: u64,
    },
}

/// One message as `orch msg poll` gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub id: i64,
    /// The sending agent's task, or the person who sent it.
    pub from: String,
    /// `task` (an agent sent it) or `user` (a person did).
    pub from_kind: String,
    /// The sending agent's attempt; `None` from a person.
    #[serde(default)]
    pub from_attempt: Option<u32>,
    pub text: String,
    /// Unix milliseconds.
    pub sent_at: i64,
}

impl Mail {
    pub fn of(row: &crate::store::MessageRow) -> Mail {
        Mail {
            id: row.id,
            from: row.from_task.clone().unwrap_or_else(|| row.sender.clone()),
            from_kind: if row.from_task.is_some() {
                "task"
            } else {
                "user"
            }
            .to_string(),
            from_attempt: row.from_attempt,
            text: row.text.clone(),
            sent_at: row.sent_at,
        }
    }
}

/// A batch of messages for `orch msg poll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbag {
    pub messages: Vec<Mail>,
}

/// The answer to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Done as asked (an existing task, for `add_task`, counts as done).
    pub ok: bool,
    /// One line for the user: what was done, or why not.
    pub message: String,
    /// The exit status the command should end with.
    pub code: i32,
}

/// What the client should show in its pager, with the terminal given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "show")]
pub enum PagerRequest {
    /// These log files, in order, in `$PAGER` (default `less -R`).
    Logs { files: Vec<std::path::PathBuf> },
    /// A patch, in the pager git would choose (`core.pager` is the
    /// repository's setting, read by the server). The patch is in `file`
    /// (it may be far larger than a frame); the server removes the file
    /// when the client is back.
    Patch {
        file: std::path::PathBuf,
        core_pager: Option<String>,
    },
}

/// The last message of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bye {
    /// Printed by the client once its terminal is restored (may be empty).
    pub message: String,
    /// The client's exit status.
    pub code: i32,
}

/// Who is connecting, and for what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "as")]
pub enum Role {
    /// A control room of this terminal size, in the client's choice of
    /// theme and keymap (names; `None`: the config's, else the defaults).
    ControlRoom {
        cols: u16,
        rows: u16,
        #[serde(default)]
        theme: Option<String>,
        #[serde(default)]
        keymap: Option<String>,
        /// `NO_COLOR` is set where the client runs.
        #[serde(default)]
        no_color: bool,
        /// The client runs inside tmux (`TMUX` is set): notifications
        /// (OSC 9, OSC 777) are wrapped for tmux to pass them on.
        #[serde(default)]
        in_tmux: bool,
    },
    /// `orch attach TASK` in a terminal of this size.
    Attach { task: String, cols: u16, rows: u16 },
    /// A one-request command (`orch approve`, `orch status`, ...).
    Command,
}

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    /// The client's orch version, for the messages.
    pub orch: String,
    pub role: Role,
    /// The `ORCH_TOKEN` of the client's environment, if it has one: which
    /// attempt an agent speaks for. Every client sends it (an agent's
    /// `orch approve` included); it can only make the client an agent,
    /// never an operator, and one that disagrees with the client's
    /// ancestry is refused (see `control::identity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Hello {
    pub fn new(role: Role) -> Hello {
        Hello {
            protocol: PROTOCOL,
            orch: env!("CARGO_PKG_VERSION").to_string(),
            role,
            token: None,
        }
    }

    /// With the token of this process's environment, if any.
    pub fn with_env_token(mut self) -> Hello {
        self.token = std::env::var("ORCH_TOKEN").ok().filter(|t| !t.is_empty());
        self
    }
}

/// The server's yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub orch: String,
    pub server_pid: u32,
}

/// The server's no, with what the user should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("expected a frame of kind {expected}, got kind {got}")]
    UnexpectedKind { expected: u8, got: u8 },
    #[error("a malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The server's answer to `hello`: `Ok` to go on, or the refusal to send.
pub fn answer_hello(hello: &Hello, server_pid: u32) -> Result<Welcome, Refused> {
    if hello.protocol != PROTOCOL {
        return Err(Refused {
            reason: format!(
                "this orch server (version {server}, protocol {PROTOCOL}) does not speak the \
                 protocol of your orch (version {client}, protocol {}): run `orch stop` to end \
                 the old server, then start orch again",
                hello.protocol,
                server = env!("CARGO_PKG_VERSION"),
                client = hello.orch,
            ),
        });
    }
    Ok(Welcome {
        protocol: PROTOCOL,
        orch: env!("CARGO_PKG_VERSION").to_string(),
        server_pid,
    })
}

/// `message` as the payload of a frame of `kind`.
pub fn encode<T: Serialize>(kind: u8, message: &T) -> Result<Frame, ProtocolError> {
    Ok(Frame {
        kind,
        payload: serde_json::to_vec(message)?,
    })
}

/// The message in `frame`, which must be of `kind`.
pub fn decode<T: DeserializeOwned>(frame: &Frame, kind: u8) -> Result<T, ProtocolError> {
    if frame.kind != kind {
        return Err(ProtocolError::UnexpectedKind {
            expected: kind,
            got: frame.kind,
        });
    }
    Ok(serde_json::from_slice(&frame.payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_round_trips_and_is_welcomed() {
        let hello = Hello::new(Role::Attach {
            task: "api".into(),
            cols: 120,
            rows: 40,
        });
        let frame = encode(kind::HELLO, &hello).expect("encode");
        let back: Hello = decode(&frame, kind::HELLO).expect("decode");
        assert_eq!(back, hello);
        let welcome = answer_hello(&back, 4242).expect("same protocol");
        assert_eq!((welcome.protocol, welcome.server_pid), (PROTOCOL, 4242));
    }

    #[test]
    fn another_protocol_is_refused_with_what_to_do() {
        let mut hello = Hello::new(Role::Command);
        hello.protocol = PROTOCOL + 1;
        hello.orch = "9.9.9".into();
        let refused = answer_hello(&hello, 1).expect_err("refused");
        assert!(refused.reason.contains("orch stop"), "{}", refused.reason);
        assert!(refused.reason.contains("9.9.9"), "{}", refused.reason);
    }

    #[test]
    fn garbage_and_the_wrong_kind_are_errors() {
        let garbage = Frame {
            kind: kind::HELLO,
            payload: b"\x00\xffnot json".to_vec(),
        };
        assert!(matches!(
            decode::<Hello>(&garbage, kind::HELLO),
            Err(ProtocolError::Malformed(_))
        ));
        let frame = encode(kind::WELCOME, &Refused { reason: "x".into() }).expect("encode");
        assert!(matches!(
            decode::<Hello>(&frame, kind::HELLO),
            Err(ProtocolError::UnexpectedKind {
                expected: 1,
                got: 2
            })
        ));
    }
}
