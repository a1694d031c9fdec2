//! Who is asking: every connection on the control socket is an operator's
//! or an agent's, and an agent is held to what agents may do (DESIGN
//! section 1.5: "an agent can never approve, reject, cancel or attach to
//! anything, nor act on another task, with or without its token").
//!
//! A client is an **agent** when its process descends from the orch that
//! serves the socket, or when its hello carries a valid `ORCH_TOKEN`:
//!
//! - the peer's pid (`SO_PEERCRED`) is walked up through `/proc/PID/stat`.
//!   Passing an agent's session leader makes it that agent's, whatever its
//!   environment says, so dropping `ORCH_TOKEN` changes nothing. Reaching
//!   orch without passing one makes it an orphan (a double fork or
//!   `setsid`, reparented to orch, its agents' subreaper): its attempt is
//!   the one a valid token names (its hello's, else the `ORCH_TOKEN` in the
//!   environment of a process on the way), else it is an agent of unknown
//!   attempt. Below one of orch's own helpers (a hook, a push) it is the
//!   operator's: the user wrote the hook.
//! - a token that is not the attempt the ancestry says (another task's,
//!   or none orch knows) is refused and recorded.
//! - a process that does not descend from orch is the operator's (the
//!   user's shells), unless it presents a valid token: a token only ever
//!   makes its bearer an agent, never more. An unknown token from outside
//!   is ignored: it is another orch's (an orch run by an agent, with that
//!   agent's environment).
//!
//! What stays open: an orphan's attempt comes from tokens in environments
//! the agent controls, and agents can read each other's environments (same
//! user), so an orphan can pass for another task's agent: never for the
//! operator. A process an agent has someone else start (a service of the
//! user's listening on a socket) does not descend from orch and is not
//! caught.

use crate::agent::proc_tree;
use crate::agent::reaper::{self, Owner};
use crate::agent::token::{AgentTokens, AttemptId};
use crate::control::protocol::Command;

/// How far up a process's ancestry is walked (a loop in `/proc` cannot be,
/// but a bound costs nothing).
const MAX_DEPTH: usize = 4096;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The user: a process that does not descend from orch, or one of
    /// orch's own helpers (a hook).
    Operator,
    /// An agent (or a process it started), of this attempt if known.
    Agent {
        attempt: Option<AttemptId>,
        /// The peer process, from `SO_PEERCRED`.
        pid: Option<u32>,
    },
}

impl Caller {
    pub fn is_agent(&self) -> bool {
        matches!(self, Caller::Agent { .. })
    }

    /// The attempt an agent speaks for.
    pub fn attempt(&self) -> Option<&AttemptId> {
        match self {
            Caller::Agent { attempt, .. } => attempt.as_ref(),
            Caller::Operator => None,
        }
    }
}

/// Where a process sits below orch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Not below orch (or orch itself).
    Outside,
    /// Below one of orch's own helpers (a hook or push).
    Helper,
    /// Below the agent whose session leader is `leader`.
    Agent { leader: u32 },
    /// Below orch, outside any agent: an orphan. `path` runs from the peer
    /// up to orch's direct child.
    Orphan { path: Vec<u32> },
}

/// What a process's ancestry says, by walking `parent_of` from `pid` up to
/// `orch`. `owner` tells orch's agent leaders and helpers apart.
pub fn place_of(
    pid: u32,
    orch: u32,
    parent_of: impl Fn(u32) -> Option<u32>,
    owner: impl Fn(u32) -> Option<Owner>,
) -> Place {
    let mut path = Vec::new();
    let mut current = pid;
    for _ in 0..MAX_DEPTH {
        if current == orch {
            return match path.is_empty() {
                true => Place::Outside,
                false => Place::Orphan { path },
            };
        }
        match owner(current) {
            Some(Owner::Agent) => return Place::Agent { leader: current },
            Some(Owner::Helper) => return Place::Helper,
            None => {}
        }
        path.push(current);
        match parent_of(current) {
            Some(parent) if parent != 0 && parent != current => current = parent,
            _ => return Place::Outside,
        }
    }
    Place::Outside
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSays {
    Absent,
    /// Not the token of any running attempt.
    Unknown,
    Valid(AttemptId),
}

impl TokenSays {
    pub fn of(token: Option<&str>, tokens: &AgentTokens) -> TokenSays {
        match token.filter(|t| !t.is_empty()) {
            None => TokenSays::Absent,
            Some(token) => tokens
                .lookup(token)
                .map_or(TokenSays::Unknown, TokenSays::Valid),
        }
    }
}

/// A token that does not match what the ancestry says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refused: this process runs under the agent of {ancestry}, but its ORCH_TOKEN is {}",
    describe(token)
)]
pub struct Mismatch {
    /// The attempt the ancestry names.
    pub ancestry: AttemptId,
    pub token: TokenSays,
}

fn describe(token: &TokenSays) -> String {
    match token {
        TokenSays::Valid(id) => format!("that of {id}"),
        TokenSays::Unknown | TokenSays::Absent => "no running attempt's".to_string(),
    }
}

/// The decision (pure): who a client is, from where its process sits, the
/// attempt of the agent it runs under (`leader_attempt`, for
/// [`Place::Agent`]), its hello's token and, for an orphan, the first valid
/// token in its ancestors' environments (`env_token`).
pub fn decide(
    place: &Place,
    leader_attempt: Option<AttemptId>,
    hello: TokenSays,
    env_token: Option<AttemptId>,
    pid: Option<u32>,
) -> Result<Caller, Mismatch> {
    let agent = |attempt| Ok(Caller::Agent { attempt, pid });
    match place {
        Place::Outside | Place::Helper => match hello {
            TokenSays::Valid(id) => agent(Some(id)),
            TokenSays::Absent | TokenSays::Unknown => Ok(Caller::Operator),
        },
        Place::Agent { .. } => match (leader_attempt, hello) {
            (Some(ours), TokenSays::Absent) => agent(Some(ours)),
            (Some(ours), TokenSays::Valid(id)) if id == ours => agent(Some(ours)),
            (Some(ours), token) => Err(Mismatch {
                ancestry: ours,
                token,
            }),
            // Its agent is starting or has just ended: a valid token names it.
            (None, TokenSays::Valid(id)) => agent(Some(id)),
            (None, _) => agent(None),
        },
        Place::Orphan { .. } => match hello {
            TokenSays::Valid(id) => agent(Some(id)),
            TokenSays::Absent | TokenSays::Unknown => agent(env_token),
        },
    }
}

/// Who the peer `pid` presenting `token` is, for the orch of this process
/// whose running agents are `agents` and attempts' tokens `tokens`.
pub fn identify(
    pid: Option<u32>,
    token: Option<&str>,
    agents: &crate::agent::backend::AgentRegistry,
    tokens: &AgentTokens,
) -> Result<Caller, Mismatch> {
    let hello = TokenSays::of(token, tokens);
    let Some(peer) = pid else {
        // No credentials (not on Linux): the token is all there is.
        return decide(&Place::Outside, None, hello, None, None);
    };
    let orch = std::process::id();
    let place = place_of(peer, orch, proc_tree::parent, reaper::owner);
    let leader_attempt = match &place {
        Place::Agent { leader } => agents
            .all()
            .into_iter()
            .find(|(_, _, terminal)| terminal.pid() == *leader)
            .map(|(task, attempt, _)| AttemptId { task, attempt }),
        _ => None,
    };
    let env_token = match &place {
        Place::Orphan { path } => path.iter().find_map(|&p| env_token(p, tokens)),
        _ => None,
    };
    decide(&place, leader_attempt, hello, env_token, pid)
}

/// The attempt whose valid `ORCH_TOKEN` `pid` was started with.
fn env_token(pid: u32, tokens: &AgentTokens) -> Option<AttemptId> {
    proc_tree::environ(pid)
        .into_iter()
        .rev()
        .find(|(k, _)| k == b"ORCH_TOKEN")
        .and_then(|(_, v)| std::str::from_utf8(&v).ok().and_then(|t| tokens.lookup(t)))
}

/// What agents may ask, for the refusals' wording.
pub const AGENTS_MAY: &str = "agents may only send heartbeats (orch heartbeat), messages \
     (orch msg) and add subtasks of their own task (orch task add --parent $ORCH_TASK_ID)";

/// The parent a task to add names (an agent may add subtasks of its own
/// task only; the engine checks it again for `Actor::Agent`).
fn parent_of(new: &crate::engine::message::NewTask) -> Option<&str> {
    new.parent.as_deref()
}

/// Whether an agent of `own` (if known) may send `command`; the refusal
/// says why. `Watch` reads only. Heartbeats and messages speak for the
/// agent's own task (a message may go to any task, and says whom it is
/// from).
pub fn agent_may(command: &Command, own: Option<&AttemptId>) -> Result<(), String> {
    match command {
        Command::Watch => Ok(()),
        Command::Heartbeat { .. } | Command::MsgSend { .. } | Command::MsgPoll { .. } => {
            match own {
                Some(_) => Ok(()),
                None => Err(
                    "orch cannot tell which attempt this process works for (its agent \
                 is not running, and ORCH_TOKEN is missing or not valid)"
                        .to_string(),
                ),
            }
        }
        Command::AddTask(new) => match (own, parent_of(new)) {
            (Some(own), Some(parent)) if parent == own.task => Ok(()),
            _ => Err(format!(
                "{AGENTS_MAY}: task add {} refused (not a subtask of its own task)",
                new.id
            )),
        },
        other => Err(format!("{AGENTS_MAY}: {} refused", what(other))),
    }
}

/// A command as the user would have typed it, for refusals and events.
pub fn what(command: &Command) -> String {
    match command {
        Command::Approve { task, .. } => format!("approve {task}"),
        Command::Reject { task, .. } => format!("reject {task}"),
        Command::Retry { task, .. } => format!("task retry {task}"),
        Command::Cancel { task } => format!("task cancel {task}"),
        Command::Skip { task, .. } => format!("task skip {task}"),
        Command::Resolve { task } => format!("task resolve {task}"),
        Command::Merge { task } => format!("worktree merge {task}"),
        Command::AddTask(new) => format!("task add {}", new.id),
        Command::Stop => "stop".to_string(),
        Command::Watch => "events --follow".to_string(),
        Command::Heartbeat { .. } => "heartbeat".to_string(),
        Command::MsgSend { to, .. } => format!("msg send --to {to}"),
        Command::MsgPoll { .. } => "msg poll".to_string(),
    }
}

/// One line for the `security` event: who (pid, command line, attempt)
/// tried what.
pub fn security_cause(caller: &Caller, tried: &str, why: &str) -> String {
    let (attempt, pid) = match caller {
        Caller::Agent { attempt, pid } => (attempt.as_ref(), *pid),
        Caller::Operator => (None, None),
    };
    let who = match pid {
        Some(pid) => {
            let line = proc_tree::command_line(pid);
            match line.is_empty() {
                true => format!("pid {pid}"),
                false => format!("pid {pid} ({line})"),
            }
        }
        None => "a process of unknown pid".to_string(),
    };
    let whose = attempt.map_or_else(
        || "an agent of unknown task".to_string(),
        |id| format!("the agent of {id}"),
    );
    format!("{who}, {whose}, tried {tried}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn id(task: &str, attempt: u32) -> AttemptId {
        AttemptId {
            task: task.into(),
            attempt,
        }
    }

    /// A process tree: child -> parent.
    fn tree(pairs: &[(u32, u32)]) -> HashMap<u32, u32> {
        pairs.iter().copied().collect()
    }

    fn place(pid: u32, parents: &HashMap<u32, u32>, owners: &[(u32, Owner)]) -> Place {
        let owners: HashMap<u32, Owner> = owners.iter().copied().collect();
        place_of(
            pid,
            100,
            |p| parents.get(&p).copied(),
            |p| owners.get(&p).copied(),
        )
    }

    #[test]
    fn ancestry_finds_the_agent_an_orphan_a_helper_or_nothing() {
        // 1 <- 50 (a shell) <- 100 (orch) <- 200 (agent leader) <- 201 <- 202;
        // 100 <- 300 <- 301 (an orphan's child); 100 <- 400 (a hook) <- 401;
        // 1 <- 60 (the user's shell) <- 61.
        let parents = tree(&[
            (50, 1),
            (100, 50),
            (200, 100),
            (201, 200),
            (202, 201),
            (300, 100),
            (301, 300),
            (400, 100),
            (401, 400),
            (60, 1),
            (61, 60),
        ]);
        let owners = [(200, Owner::Agent), (400, Owner::Helper)];
        assert_eq!(place(202, &parents, &owners), Place::Agent { leader: 200 });
        assert_eq!(place(200, &parents, &owners), Place::Agent { leader: 200 });
        assert_eq!(
            place(301, &parents, &owners),
            Place::Orphan {
                path: vec![301, 300]
            }
        );
        assert_eq!(place(401, &parents, &owners), Place::Helper);
        assert_eq!(place(61, &parents, &owners), Place::Outside);
        assert_eq!(place(100, &parents, &owners), Place::Outside, "orch itself");
        // An unreadable parent (the process went) is outside.
        assert_eq!(place(999, &parents, &owners), Place::Outside);
    }

    #[test]
    fn an_agent_is_its_ancestry_s_whatever_its_token() {
        let agent = Place::Agent { leader: 200 };
        let ours = Some(id("api", 1));
        let pid = Some(202);
        // No token: still the agent.
        assert_eq!(
            decide(&agent, ours.clone(), TokenSays::Absent, None, pid),
            Ok(Caller::Agent {
                attempt: ours.clone(),
                pid
            })
        );
        assert_eq!(
            decide(
                &agent,
                ours.clone(),
                TokenSays::Valid(id("api", 1)),
                None,
                pid
            )
            .map(|c| c.attempt().cloned()),
            Ok(ours.clone())
        );
        // Another task's token, or one of no running attempt: refused.
        let other = decide(
            &agent,
            ours.clone(),
            TokenSays::Valid(id("ui", 2)),
            None,
            pid,
        );
        let err = other.expect_err("mismatch");
        assert!(err.to_string().contains("api attempt 1"), "{err}");
        assert!(err.to_string().contains("ui attempt 2"), "{err}");
        assert!(decide(&agent, ours, TokenSays::Unknown, None, pid).is_err());
        // Its agent not registered (starting): the token names it, if valid.
        assert_eq!(
            decide(&agent, None, TokenSays::Valid(id("ui", 2)), None, pid)
                .map(|c| c.attempt().cloned()),
            Ok(Some(id("ui", 2)))
        );
        assert_eq!(
            decide(&agent, None, TokenSays::Unknown, None, pid),
            Ok(Caller::Agent { attempt: None, pid })
        );
    }

    #[test]
    fn orphans_are_agents_and_the_rest_are_operators_unless_a_token_says_otherwise() {
        let orphan = Place::Orphan { path: vec![301] };
        let pid = Some(301);
        assert_eq!(
            decide(&orphan, None, TokenSays::Absent, Some(id("api", 1)), pid),
            Ok(Caller::Agent {
                attempt: Some(id("api", 1)),
                pid
            })
        );
        // Never an operator, even with nothing to say whose it is.
        assert_eq!(
            decide(&orphan, None, TokenSays::Unknown, None, pid),
            Ok(Caller::Agent { attempt: None, pid })
        );
        for place in [Place::Outside, Place::Helper] {
            assert_eq!(
                decide(&place, None, TokenSays::Absent, None, Some(61)),
                Ok(Caller::Operator)
            );
            // Another orch's token (an orch an agent runs): ignored.
            assert_eq!(
                decide(&place, None, TokenSays::Unknown, None, Some(61)),
                Ok(Caller::Operator)
            );
            assert!(
                decide(&place, None, TokenSays::Valid(id("api", 1)), None, Some(61))
                    .is_ok_and(|c| c.is_agent())
            );
        }
    }

    fn heartbeat() -> Command {
        Command::Heartbeat {
            progress: Some(10),
            note: None,
            activity: None,
            session_id: None,
        }
    }

    #[test]
    fn agents_may_only_heartbeat_watch_and_add_their_own_subtasks() {
        let own = id("api", 1);
        assert_eq!(agent_may(&heartbeat(), Some(&own)), Ok(()));
        assert!(agent_may(&heartbeat(), None).is_err(), "whose heartbeat?");
        assert_eq!(agent_may(&Command::Watch, None), Ok(()));
        // Messages: to any task, from its own; polled for its own.
        let send = Command::MsgSend {
            to: "ui".into(),
            text: "hi".into(),
        };
        let poll = Command::MsgPoll { wait_ms: 0 };
        for command in [&send, &poll] {
            assert_eq!(agent_may(command, Some(&own)), Ok(()));
            assert!(agent_may(command, None).is_err(), "from whom?");
        }
        assert_eq!(what(&send), "msg send --to ui");
        let refused = [
            Command::Approve {
                task: "api".into(),
                reason: None,
            },
            Command::Reject {
                task: "api".into(),
                reason: "no".into(),
            },
            Command::Cancel { task: "ui".into() },
            Command::Skip {
                task: "api".into(),
                reason: None,
            },
            Command::Retry {
                task: "api".into(),
                fresh: false,
            },
            Command::Resolve { task: "api".into() },
            Command::Merge { task: "api".into() },
            Command::Stop,
            Command::AddTask(crate::engine::message::NewTask {
                id: "sub".into(),
                agent: "sh".into(),
                prompt: "x".into(),
                title: None,
                depends_on: Vec::new(),
                parent: None,
            }),
            Command::AddTask(crate::engine::message::NewTask {
                id: "sub".into(),
                agent: "sh".into(),
                prompt: "x".into(),
                title: None,
                depends_on: Vec::new(),
                parent: Some("ui".into()),
            }),
        ];
        let own_subtask = Command::AddTask(crate::engine::message::NewTask {
            id: "sub".into(),
            agent: "sh".into(),
            prompt: "x".into(),
            title: None,
            depends_on: Vec::new(),
            parent: Some("api".into()),
        });
        assert_eq!(agent_may(&own_subtask, Some(&own)), Ok(()));
        assert!(agent_may(&own_subtask, None).is_err(), "whose subtask?");
        for command in refused {
            let err = agent_may(&command, Some(&own)).expect_err("refused");
            assert!(err.starts_with(AGENTS_MAY), "{err}");
            assert!(err.contains(&what(&command)), "{err}");
        }
    }

    #[test]
    fn a_security_cause_names_the_pid_its_command_line_and_the_attempt() {
        let me = std::process::id();
        let caller = Caller::Agent {
            attempt: Some(id("api", 2)),
            pid: Some(me),
        };
        let cause = security_cause(&caller, "approve api", "not allowed");
        assert!(cause.starts_with(&format!("pid {me} (")), "{cause}");
        assert!(cause.contains("the agent of api attempt 2"), "{cause}");
        assert!(cause.ends_with("tried approve api: not allowed"), "{cause}");
        let unknown = Caller::Agent {
            attempt: None,
            pid: None,
        };
        assert!(security_cause(&unknown, "stop", "x").contains("an agent of unknown task"));
    }
}
