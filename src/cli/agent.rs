//! The commands agents run (`orch heartbeat`; `orch msg` is to come): they
//! talk to the orch that started them through `ORCH_SOCKET`, presenting
//! `ORCH_TOKEN`, and need no config. Which task they speak for is the
//! server's to find (`control::identity`), never the command line's.

use crate::control::client::{self, ClientError};
use crate::control::protocol::Command;

/// What an agent's environment gives it to reach orch.
struct AgentEnv {
    socket: std::path::PathBuf,
}

/// `ORCH_SOCKET` and `ORCH_TOKEN`, or the message to exit 2 with.
fn agent_env(command: &str) -> Result<AgentEnv, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let missing = |name: &str| {
        format!(
            "orch {command}: {name} is not set; orch {command} is for agents orch runs (it sets \
             ORCH_SOCKET and ORCH_TOKEN in each agent's environment)"
        )
    };
    let socket = var("ORCH_SOCKET").ok_or_else(|| missing("ORCH_SOCKET"))?;
    var("ORCH_TOKEN").ok_or_else(|| missing("ORCH_TOKEN"))?;
    Ok(AgentEnv {
        socket: socket.into(),
    })
}

/// `orch heartbeat [--progress PCT] [--note TEXT]`: 0 when orch heard it,
/// 1 when it refused (the message says why), 2 for bad usage.
pub fn heartbeat(progress: Option<u8>, note: Option<String>) -> i32 {
    let env = match agent_env("heartbeat") {
        Ok(env) => env,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    if let Some(Err(err)) = note.as_deref().map(crate::engine::message::check_note) {
        eprintln!("orch heartbeat: {err}");
        return 2;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("orch heartbeat: cannot start the async runtime: {err}");
            return 1;
        }
    };
    let command = Command::Heartbeat { progress, note };
    match runtime.block_on(client::command_at(&env.socket, command)) {
        Ok(reply) if reply.ok => 0,
        Ok(reply) => {
            eprintln!("{}", reply.message);
            reply.code
        }
        Err(ClientError::NotRunning(err)) => {
            eprintln!("orch heartbeat: no orch answers on ORCH_SOCKET: {err}");
            1
        }
        Err(err) => {
            eprintln!("orch heartbeat: {err}");
            1
        }
    }
}
