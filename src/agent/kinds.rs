//! What orch knows of particular agent CLIs (an agent's `kind`): how to
//! wire their own hook systems to `orch heartbeat` without touching the
//! user's files, and what their hooks' payloads mean.
//!
//! - Claude Code: `--settings JSON` adds hooks (they merge with the user's;
//!   https://code.claude.com/docs/en/hooks, "Hook entries merge across
//!   settings levels") that run `orch __hook claude-code` with the event's
//!   JSON on stdin (fields `hook_event_name`, `session_id`,
//!   `notification_type`, `message`, `tool_name`). The hook prints nothing:
//!   what SessionStart and UserPromptSubmit hooks print reaches the model.
//! - Codex: `-c notify=[...]` runs `orch __hook codex JSON` after each turn,
//!   the JSON as the last argument (fields `type` =
//!   `"agent-turn-complete"`, `thread-id`;
//!   https://developers.openai.com/codex/config-advanced#notify).

use serde_json::Value;

use crate::agent::waiting::Seen;
use crate::config::AgentKind;

/// What one hook call says of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookBeat {
    pub activity: Option<Seen>,
    pub session_id: Option<String>,
}

/// The Claude Code events orch listens to.
const CLAUDE_EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Notification",
    "Stop",
];

/// How long Claude Code lets orch's hook run, in seconds: the hook only
/// tells orch and returns.
const HOOK_TIMEOUT_S: u64 = 10;

/// `argv` with what lets `kind`'s own hooks reach orch (`orch` is the
/// orch program), added after the program: `--settings` for Claude Code,
/// `-c notify=...` for Codex; unchanged for other kinds.
pub fn wire_hooks(kind: AgentKind, mut argv: Vec<String>, orch: &str) -> Vec<String> {
    let added = match kind {
        AgentKind::ClaudeCode => vec!["--settings".to_string(), claude_settings(orch)],
        AgentKind::Codex => vec!["-c".to_string(), codex_notify(orch)],
        AgentKind::Aider | AgentKind::Gemini | AgentKind::Generic => Vec::new(),
    };
    if argv.is_empty() || added.is_empty() {
        return argv;
    }
    let rest = argv.split_off(1);
    argv.extend(added);
    argv.extend(rest);
    argv
}

/// The `--settings` JSON whose hooks call `orch __hook claude-code`.
pub fn claude_settings(orch: &str) -> String {
    let command = format!("{} __hook claude-code", shell_quote(orch));
    let handler = serde_json::json!([{
        "hooks": [{ "type": "command", "command": command, "timeout": HOOK_TIMEOUT_S }]
    }]);
    let hooks: serde_json::Map<String, Value> = CLAUDE_EVENTS
        .iter()
        .map(|event| (event.to_string(), handler.clone()))
        .collect();
    serde_json::json!({ "hooks": hooks }).to_string()
}

/// The `notify` setting (TOML, for `-c`) that calls `orch __hook codex`.
pub fn codex_notify(orch: &str) -> String {
    let argv = [orch, "__hook", "codex"];
    let items: Vec<String> = argv
        .iter()
        .map(|a| serde_json::Value::String(a.to_string()).to_string())
        .collect();
    format!("notify=[{}]", items.join(","))
}

/// What a Claude Code hook's stdin JSON says: busy on a prompt or a tool,
/// waiting on a permission request (or its notification), idle when the
/// turn stopped; the session id from every event.
pub fn claude_event(payload: &Value) -> HookBeat {
    let text = |key: &str| payload.get(key).and_then(Value::as_str);
    let session_id = text("session_id")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let activity = match text("hook_event_name") {
        Some("UserPromptSubmit" | "PreToolUse" | "PostToolUse") => Some(Seen::Busy),
        Some("PermissionRequest") => Some(Seen::Waiting {
            question: match text("tool_name") {
                Some(tool) => format!("Allow {tool}? {}", tool_summary(payload)),
                None => "Claude asks for permission".to_string(),
            },
        }),
        Some("Notification") => match text("notification_type") {
            Some("permission_prompt" | "elicitation_dialog" | "agent_needs_input") => {
                Some(Seen::Waiting {
                    question: text("message")
                        .unwrap_or("Claude needs your input")
                        .to_string(),
                })
            }
            Some("idle_prompt") => Some(Seen::Idle),
            _ => None,
        },
        Some("Stop") => Some(Seen::Idle),
        _ => None,
    };
    HookBeat {
        activity: activity.map(Seen::cleaned),
        session_id,
    }
}

/// A tool call's input in a few words (a command, a file).
fn tool_summary(payload: &Value) -> String {
    let input = payload.get("tool_input");
    let field = |key: &str| input.and_then(|i| i.get(key)).and_then(Value::as_str);
    field("command")
        .or_else(|| field("file_path"))
        .or_else(|| field("url"))
        .unwrap_or("")
        .to_string()
}

/// What Codex's notify JSON says: a turn completed (idle), in thread
/// `thread-id`.
pub fn codex_event(payload: &Value) -> HookBeat {
    let text = |key: &str| payload.get(key).and_then(Value::as_str);
    HookBeat {
        activity: (text("type") == Some("agent-turn-complete")).then_some(Seen::Idle),
        session_id: text("thread-id")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    }
}

/// `s` quoted for a POSIX shell (Claude Code runs hook commands with one).
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_gets_settings_whose_hooks_call_orch_and_codex_a_notify_program() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let wired = wire_hooks(
            AgentKind::ClaudeCode,
            argv(&["claude", "--model", "opus", "do it"]),
            "/opt/my orch/orch",
        );
        assert_eq!(wired[0], "claude");
        assert_eq!(wired[1], "--settings");
        assert_eq!(&wired[3..], ["--model", "opus", "do it"]);
        let settings: Value = serde_json::from_str(&wired[2]).expect("JSON");
        for event in CLAUDE_EVENTS {
            let command = settings["hooks"][event][0]["hooks"][0]["command"]
                .as_str()
                .expect("a command");
            assert_eq!(command, "'/opt/my orch/orch' __hook claude-code");
            assert_eq!(settings["hooks"][event][0]["hooks"][0]["type"], "command");
        }
        let codex = wire_hooks(
            AgentKind::Codex,
            argv(&["codex", "fix it"]),
            "/usr/bin/orch",
        );
        assert_eq!(
            codex,
            [
                "codex",
                "-c",
                r#"notify=["/usr/bin/orch","__hook","codex"]"#,
                "fix it"
            ]
        );
        let generic = wire_hooks(AgentKind::Generic, argv(&["sh", "-c", "x"]), "orch");
        assert_eq!(generic, ["sh", "-c", "x"]);
    }

    #[test]
    fn claude_s_events_say_busy_waiting_and_idle_with_the_session() {
        let event = |json: &str| claude_event(&serde_json::from_str(json).expect("JSON"));
        assert_eq!(
            event(r#"{"hook_event_name":"SessionStart","session_id":"s1","source":"startup"}"#),
            HookBeat {
                activity: None,
                session_id: Some("s1".into())
            }
        );
        assert_eq!(
            event(r#"{"hook_event_name":"UserPromptSubmit","session_id":"s1","prompt":"x"}"#)
                .activity,
            Some(Seen::Busy)
        );
        assert_eq!(
            event(
                r#"{"hook_event_name":"PermissionRequest","session_id":"s1","tool_name":"Bash","tool_input":{"command":"rm -rf build"}}"#
            )
            .activity,
            Some(Seen::Waiting {
                question: "Allow Bash? rm -rf build".into()
            })
        );
        assert_eq!(
            event(
                r#"{"hook_event_name":"Notification","session_id":"s1","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt"}"#
            )
            .activity,
            Some(Seen::Waiting {
                question: "Claude needs your permission to use Bash".into()
            })
        );
        assert_eq!(
            event(r#"{"hook_event_name":"Notification","notification_type":"idle_prompt","message":"Claude is waiting for your input"}"#)
                .activity,
            Some(Seen::Idle)
        );
        assert_eq!(
            event(r#"{"hook_event_name":"Notification","notification_type":"auth_success"}"#)
                .activity,
            None
        );
        assert_eq!(
            event(r#"{"hook_event_name":"Stop","session_id":"s1","stop_hook_active":false}"#)
                .activity,
            Some(Seen::Idle)
        );
        assert_eq!(event("{}"), HookBeat::default());
    }

    #[test]
    fn codex_s_turn_complete_is_idle_in_its_thread() {
        let beat = codex_event(
            &serde_json::from_str(
                r#"{"type":"agent-turn-complete","thread-id":"b5f6c1c2-1111","turn-id":"12345","cwd":"/w","input-messages":["x"],"last-assistant-message":"done"}"#,
            )
            .expect("JSON"),
        );
        assert_eq!(
            beat,
            HookBeat {
                activity: Some(Seen::Idle),
                session_id: Some("b5f6c1c2-1111".into())
            }
        );
        assert_eq!(
            codex_event(&serde_json::json!({"type": "other"})).activity,
            None
        );
    }
}
