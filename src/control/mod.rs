//! The control socket (DESIGN section 7): the server that owns the engine
//! and the agents, and the clients that talk to it.
//!
//! - `frame`, `protocol`: the wire format: bounded, length-prefixed
//!   frames, the versioned hello, and the messages each role exchanges.
//! - `socket`: where the socket lives and who may use it.
//! - `identity`: who each client is (the operator, or an agent and which
//!   attempt) and what an agent may ask.
//! - `conn`: one connection as a reader and a writer task with bounded
//!   queues.
//! - `server`: what sessions share, the accept loop (peer check, hello,
//!   dispatch), and the agents' sizes when several clients show them
//!   (`sizes`: the pure rule).
//! - `remote_term`: a client's screen as the server draws it (ratatui into
//!   bytes at the client's size).
//! - `attach`, `commands`: the server's side of `orch attach` and of the
//!   one-answer commands (a control room is `ui::serve_view`).
//! - `client`: the client side of all three.
//! - `daemon`: the background server's life (start, ready, idle end,
//!   goodbye) and a foreground run's socket.

pub mod attach;
pub mod client;
pub mod commands;
pub mod conn;
pub mod daemon;
pub mod frame;
pub mod identity;
pub mod mail;
pub mod protocol;
pub mod remote_term;
pub mod server;
pub mod server_log;
pub mod sizes;
pub mod socket;
