//! The typed walk of an `orch.toml` tree: each table's keys and each
//! value's type and range, into raw tables that keep the spans later
//! checks report at. Problems go to the [`Doc`]; the walk carries on past
//! them so every one is found.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::defaults::{PolicySlots, Slot};
use super::duration::parse_duration;
use super::model::{
    Approval, HooksConfig, MergeMode, Position, ProjectConfig, PushMode, Risk, SandboxMode,
    UiConfig,
};
use super::placeholders::{self, Scope};
use super::sandbox;
use crate::tomldoc::{toml_key, Doc, Span, Value};

const TOP_KEYS: &[&str] = &["project", "ui", "hooks", "defaults", "agents", "tasks"];
const PROJECT_KEYS: &[&str] = &[
    "base_branch",
    "max_parallel",
    "state_dir",
    "worktree_include",
    "remote",
    "push",
    "max_subtasks",
    "max_subtask_depth",
];
/// The largest `max_subtasks` and `max_subtask_depth` accepted: limits
/// on a runaway agent, not settings anyone needs in the thousands.
const MAX_SUBTASKS: i64 = 1000;
const MAX_SUBTASK_DEPTH: i64 = 20;
const HOOK_KEYS: &[&str] = &["on_done", "on_merge", "on_fail", "on_attention", "timeout"];
const UI_KEYS: &[&str] = &["theme", "keymap"];
const POLICY_KEYS: &[&str] = &[
    "retries",
    "backoff",
    "backoff_max",
    "timeout",
    "heartbeat_warn",
    "heartbeat_stall",
    "cpu_warn",
    "cpu_critical",
    "merge",
    "input_timeout",
];
const AGENT_KEYS: &[&str] = &[
    "command",
    "env",
    "max_instances",
    "fallback",
    "sandbox",
    "writable",
    "kind",
    "resume",
    "waiting_patterns",
    "auto_answer",
];
/// A task's own keys; it may also override every [`POLICY_KEYS`] one.
const TASK_OWN_KEYS: &[&str] = &[
    "id",
    "title",
    "agent",
    "prompt",
    "depends_on",
    "approval",
    "risk",
];

const MERGE_MODES: &[(&str, MergeMode)] = &[
    ("auto", MergeMode::Auto),
    ("manual", MergeMode::Manual),
    ("never", MergeMode::Never),
];
const PUSH_MODES: &[(&str, PushMode)] = &[
    ("never", PushMode::Never),
    ("on_done", PushMode::OnDone),
    ("on_merge", PushMode::OnMerge),
];
const APPROVALS: &[(&str, Approval)] = &[
    ("none", Approval::None),
    ("before_start", Approval::BeforeStart),
    ("before_merge", Approval::BeforeMerge),
];
const RISKS: &[(&str, Risk)] = &[
    ("low", Risk::Low),
    ("medium", Risk::Medium),
    ("high", Risk::High),
    ("critical", Risk::Critical),
];

pub(super) struct RawAgent {
    pub(super) name: String,
    pub(super) command: Vec<String>,
    pub(super) env: BTreeMap<String, String>,
    pub(super) max_instances: Option<usize>,
    pub(super) fallback: Option<(String, Span)>,
    pub(super) sandbox: SandboxMode,
    /// As expanded; relative ones are joined to the root when assembled.
    pub(super) writable: Vec<PathBuf>,
    pub(super) attention: super::attention::Keys,
}

pub(super) struct RawTask {
    /// 1-based position among the tasks.
    pub(super) number: usize,
    pub(super) id: Option<(String, Span)>,
    pub(super) title: Option<String>,
    pub(super) agent: Option<(String, Span)>,
    pub(super) prompt: Option<String>,
    pub(super) depends_on: Vec<(String, Span)>,
    pub(super) approval: Option<(Approval, Span)>,
    pub(super) risk: Option<Risk>,
    pub(super) policy: PolicySlots,
}

impl RawTask {
    /// `task "design"`, or `task #3` when it has no usable id.
    pub(super) fn label(&self) -> String {
        match &self.id {
            Some((id, _)) => format!("task {id:?}"),
            None => format!("task #{}", self.number),
        }
    }
}

/// The whole file as walked.
pub(super) struct RawConfig {
    pub(super) project: ProjectConfig,
    pub(super) ui: UiConfig,
    pub(super) hooks: HooksConfig,
    pub(super) defaults: PolicySlots,
    pub(super) agents: Vec<RawAgent>,
    /// False when `agents` is there but is not a table: that is already
    /// reported, so tasks naming an agent must not also be told it is
    /// unknown.
    pub(super) agents_known: bool,
    pub(super) tasks: Vec<RawTask>,
}

pub(super) fn document(doc: &mut Doc<'_>, top: &DeTable<'_>) -> RawConfig {
    doc.unknown_keys(top, TOP_KEYS, "at the top level");

    let project = match top.get("project").and_then(|v| doc.table("project", v)) {
        Some(table) => project(doc, table),
        None => ProjectConfig::default(),
    };
    let ui = match top.get("ui").and_then(|v| doc.table("ui", v)) {
        Some(table) => ui(doc, table),
        None => UiConfig::default(),
    };
    let hooks = match top.get("hooks").and_then(|v| doc.table("hooks", v)) {
        Some(table) => hooks(doc, table),
        None => HooksConfig::default(),
    };
    let defaults = match top.get("defaults").and_then(|v| doc.table("defaults", v)) {
        Some(table) => {
            doc.unknown_keys(table, POLICY_KEYS, "in [defaults]");
            policy(doc, table)
        }
        None => PolicySlots::default(),
    };
    let agents_value = top.get("agents");
    let agents = match agents_value.and_then(|v| doc.table("agents", v)) {
        Some(table) => agents(doc, table),
        None => Vec::new(),
    };
    let agents_known = !matches!(agents_value, Some(v) if !v.get_ref().is_table());
    let tasks = match top.get("tasks") {
        Some(value) => tasks(doc, value),
        None => Vec::new(),
    };
    RawConfig {
        project,
        ui,
        hooks,
        defaults,
        agents,
        agents_known,
        tasks,
    }
}

fn project(doc: &mut Doc<'_>, table: &DeTable<'_>) -> ProjectConfig {
    doc.unknown_keys(table, PROJECT_KEYS, "in [project]");
    let mut project = ProjectConfig::default();
    if let Some(value) = table.get("base_branch") {
        project.base_branch = doc
            .non_empty_string("base_branch", value)
            .map(str::to_owned);
        if project.base_branch.is_some() {
            let (line, column) = doc.position(value.span().start);
            project.base_branch_at = Some(Position { line, column });
        }
    }
    if let Some(value) = table.get("max_parallel") {
        if let Some(n) = doc.usize_at_least_1("max_parallel", value) {
            project.max_parallel = n;
        }
    }
    if let Some(value) = table.get("state_dir") {
        if let Some(dir) = doc.non_empty_string("state_dir", value) {
            project.state_dir = PathBuf::from(dir);
        }
    }
    if let Some(value) = table.get("worktree_include") {
        project.worktree_include = doc
            .string_list("worktree_include", value)
            .into_iter()
            .filter(|(glob, span)| include_glob_ok(doc, glob, span))
            .map(|(glob, _)| glob)
            .collect();
    }
    if let Some(value) = table.get("remote") {
        if let Some(remote) = doc.non_empty_string("remote", value) {
            if remote.starts_with('-') {
                doc.error(
                    value.span(),
                    format!("remote {remote:?} must not start with \"-\": git would read it as an option"),
                );
            } else {
                project.remote = remote.to_owned();
            }
        }
    }
    if let Some(value) = table.get("push") {
        if let Some(mode) = doc.one_of("push", value, PUSH_MODES) {
            project.push = mode;
        }
    }
    // Bounded so a typo (an extra zero or three) is caught; 0 turns
    // subtasks off.
    if let Some(value) = table.get("max_subtasks") {
        if let Some(n) = doc.integer("max_subtasks", value, 0, MAX_SUBTASKS) {
            project.max_subtasks = usize::try_from(n).unwrap_or(project.max_subtasks);
        }
    }
    if let Some(value) = table.get("max_subtask_depth") {
        if let Some(n) = doc.integer("max_subtask_depth", value, 0, MAX_SUBTASK_DEPTH) {
            project.max_subtask_depth = usize::try_from(n).unwrap_or(project.max_subtask_depth);
        }
    }
    project
}

/// A `worktree_include` glob names files inside the repository: not
/// empty, not absolute, no `..`. Reports the problem and says whether the
/// glob is usable.
fn include_glob_ok(doc: &mut Doc<'_>, glob: &str, span: &Span) -> bool {
    let problem = if glob.trim().is_empty() {
        "must not be empty"
    } else if glob.starts_with(['/', '\\']) || std::path::Path::new(glob).is_absolute() {
        "is absolute: globs are relative to the repository root"
    } else if glob.split(['/', '\\']).any(|part| part == "..") {
        "must not contain \"..\": only files inside the repository are copied"
    } else {
        return true;
    };
    doc.error(
        span.clone(),
        format!("worktree_include glob {glob:?} {problem}"),
    );
    false
}

fn ui(doc: &mut Doc<'_>, table: &DeTable<'_>) -> UiConfig {
    doc.unknown_keys(table, UI_KEYS, "in [ui]");
    let mut string = |key: &str| {
        table
            .get(key)
            .and_then(|v| doc.string(key, v))
            .map(str::to_owned)
    };
    UiConfig {
        theme: string("theme"),
        keymap: string("keymap"),
    }
}

fn hooks(doc: &mut Doc<'_>, table: &DeTable<'_>) -> HooksConfig {
    doc.unknown_keys(table, HOOK_KEYS, "in [hooks]");
    let mut hooks = HooksConfig::default();
    let commands = [
        ("on_done", &placeholders::HOOK_ON_DONE, &mut hooks.on_done),
        (
            "on_merge",
            &placeholders::HOOK_ON_MERGE,
            &mut hooks.on_merge,
        ),
        ("on_fail", &placeholders::HOOK_ON_FAIL, &mut hooks.on_fail),
        (
            "on_attention",
            &placeholders::HOOK_ON_ATTENTION,
            &mut hooks.on_attention,
        ),
    ];
    for (key, scope, slot) in commands {
        if let Some(value) = table.get(key) {
            // Empty: no hook.
            *slot = argv(doc, key, value, scope, false);
        }
    }
    if let Some(value) = table.get("timeout") {
        if let Some(timeout) = duration(doc, "timeout", value, false) {
            hooks.timeout = timeout;
        }
    }
    hooks
}

/// The policy keys of `table`; the caller reports the other keys.
fn policy(doc: &mut Doc<'_>, table: &DeTable<'_>) -> PolicySlots {
    let mut slots = PolicySlots::default();
    if let Some(v) = table.get("retries") {
        let n = doc
            .integer("retries", v, 0, i64::from(u32::MAX))
            .and_then(|n| u32::try_from(n).ok());
        slots.retries = Slot::from_checked(n, v.span());
    }
    let durations = [
        ("backoff", true, &mut slots.backoff),
        ("backoff_max", true, &mut slots.backoff_max),
        ("timeout", false, &mut slots.timeout),
        ("heartbeat_warn", false, &mut slots.heartbeat_warn),
        ("heartbeat_stall", false, &mut slots.heartbeat_stall),
        ("input_timeout", true, &mut slots.input_timeout),
    ];
    for (key, zero_ok, slot) in durations {
        if let Some(v) = table.get(key) {
            *slot = Slot::from_checked(duration(doc, key, v, zero_ok), v.span());
        }
    }
    for (key, slot) in [
        ("cpu_warn", &mut slots.cpu_warn),
        ("cpu_critical", &mut slots.cpu_critical),
    ] {
        if let Some(v) = table.get(key) {
            *slot = Slot::from_checked(doc.positive_number(key, v), v.span());
        }
    }
    if let Some(v) = table.get("merge") {
        slots.merge = Slot::from_checked(doc.one_of("merge", v, MERGE_MODES), v.span());
    }
    slots
}

/// A duration string (`"5m"`) or a whole number of seconds.
fn duration(doc: &mut Doc<'_>, field: &str, value: &Value<'_>, zero_ok: bool) -> Option<Duration> {
    let (duration, shown) = match value.get_ref() {
        DeValue::String(text) => match parse_duration(text) {
            Ok(duration) => (duration, format!("{text:?}")),
            Err(error) => {
                doc.error(
                    value.span(),
                    format!("invalid duration {text:?} for {field}: {error}"),
                );
                return None;
            }
        },
        DeValue::Integer(integer) => match u64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(seconds) => (Duration::from_secs(seconds), integer.to_string()),
            Err(_) => {
                let problem = if integer.as_str().starts_with('-') {
                    "must not be negative"
                } else {
                    "too large"
                };
                doc.error(
                    value.span(),
                    format!("invalid duration {integer} for {field}: {problem}"),
                );
                return None;
            }
        },
        _ => {
            doc.expected(
                "a duration (e.g. \"90s\", \"5m\") or a number of seconds",
                field,
                value,
            );
            return None;
        }
    };
    if !zero_ok && duration.is_zero() {
        doc.error(
            value.span(),
            format!("{field} must be greater than 0, found {shown}"),
        );
        return None;
    }
    Some(duration)
}

// ----- agents -------------------------------------------------------------

fn agents(doc: &mut Doc<'_>, table: &DeTable<'_>) -> Vec<RawAgent> {
    let mut agents = Vec::new();
    for (key, value) in table.iter() {
        let name = key.get_ref().to_string();
        let path = format!("agents.{}", toml_key(&name));
        let mut agent = RawAgent {
            name,
            command: Vec::new(),
            env: BTreeMap::new(),
            max_instances: None,
            fallback: None,
            sandbox: SandboxMode::None,
            writable: Vec::new(),
            attention: super::attention::Keys::default(),
        };
        // An agent whose table is wrong is still defined: tasks naming it
        // should not also be told it does not exist.
        if let Some(body) = doc.table(&path, value) {
            agent_body(doc, &mut agent, body, &path, value.span());
        }
        agents.push(agent);
    }
    agents
}

fn agent_body(
    doc: &mut Doc<'_>,
    agent: &mut RawAgent,
    table: &DeTable<'_>,
    path: &str,
    span: Span,
) {
    doc.unknown_keys(table, AGENT_KEYS, &format!("in [{path}]"));
    match table.get("command") {
        Some(value) => agent.command = argv(doc, "command", value, &placeholders::COMMAND, true),
        None => doc.error(span, format!("missing key \"command\" in [{path}]")),
    }
    if let Some(value) = table.get("env") {
        if let Some(table) = doc.table("env", value) {
            agent.env = env(doc, table);
        }
    }
    if let Some(value) = table.get("max_instances") {
        agent.max_instances = doc.usize_at_least_1("max_instances", value);
    }
    if let Some(value) = table.get("fallback") {
        agent.fallback = doc
            .string("fallback", value)
            .map(|name| (name.to_owned(), value.span()));
    }
    let home = std::env::var_os("HOME");
    (agent.sandbox, agent.writable) = sandbox::keys(doc, table, path, home.as_deref());
    agent.attention = super::attention::keys(doc, table);
}

/// A program and its arguments (`key` is what holds them, for messages),
/// each checked for the placeholders of `scope`. An empty list is an error
/// when `required`.
pub(super) fn argv(
    doc: &mut Doc<'_>,
    key: &str,
    value: &Value<'_>,
    scope: &Scope,
    required: bool,
) -> Vec<String> {
    let DeValue::Array(items) = value.get_ref() else {
        doc.expected("an array of strings", key, value);
        return Vec::new();
    };
    if items.is_empty() && required {
        doc.error(
            value.span(),
            format!("{key} must not be empty: expected the program followed by its arguments"),
        );
    }
    let mut argv = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("{key}[{i}]");
        if let Some(arg) = doc.string(&field, item) {
            if i == 0 && arg.is_empty() {
                doc.error(
                    item.span(),
                    format!("{key}[0] must not be empty: it is the program to run"),
                );
            }
            placeholders::check(doc, &field, &item.span(), arg, scope);
            argv.push(arg.to_owned());
        }
    }
    argv
}

fn env(doc: &mut Doc<'_>, table: &DeTable<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (key, value) in table.iter() {
        let name = key.get_ref();
        if name.is_empty() || name.contains(['=', '\0']) {
            doc.error(
                key.span(),
                format!("invalid environment variable name {name:?} in env: it must be non-empty and contain no \"=\""),
            );
        }
        let field = format!("env.{}", toml_key(name));
        if let Some(text) = doc.string(&field, value) {
            if text.contains('\0') {
                doc.error(
                    value.span(),
                    format!("{field} must not contain a NUL character"),
                );
            }
            placeholders::check(doc, &field, &value.span(), text, &placeholders::COMMAND);
            env.insert(name.to_string(), text.to_owned());
        }
    }
    env
}

// ----- tasks --------------------------------------------------------------

fn tasks(doc: &mut Doc<'_>, value: &Value<'_>) -> Vec<RawTask> {
    let DeValue::Array(items) = value.get_ref() else {
        doc.expected("an array of tables ([[tasks]])", "tasks", value);
        return Vec::new();
    };
    let mut tasks = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let number = i + 1;
        if let Some(table) = doc.table(&format!("task #{number}"), item) {
            tasks.push(task(doc, number, table, item.span()));
        }
    }
    tasks
}

fn task(doc: &mut Doc<'_>, number: usize, table: &DeTable<'_>, span: Span) -> RawTask {
    let id = match table.get("id") {
        Some(value) => doc.string("id", value).map(|id| {
            if let Some(problem) = invalid_task_id(id) {
                doc.error(value.span(), problem);
            }
            (id.to_owned(), value.span())
        }),
        None => {
            doc.error(
                span.clone(),
                format!("missing key \"id\" in task #{number}"),
            );
            None
        }
    };
    let mut task = RawTask {
        number,
        id,
        title: None,
        agent: None,
        prompt: None,
        depends_on: Vec::new(),
        approval: None,
        risk: None,
        policy: PolicySlots::default(),
    };
    let label = task.label();
    let keys: Vec<&str> = TASK_OWN_KEYS.iter().chain(POLICY_KEYS).copied().collect();
    doc.unknown_keys(table, &keys, &format!("in {label}"));

    task.title = table
        .get("title")
        .and_then(|v| doc.string("title", v))
        .map(str::to_owned);
    task.agent = match table.get("agent") {
        Some(value) => doc
            .string("agent", value)
            .map(|name| (name.to_owned(), value.span())),
        None => {
            doc.error(span, format!("missing key \"agent\" in {label}"));
            None
        }
    };
    if let Some(value) = table.get("prompt") {
        if let Some(prompt) = doc.string("prompt", value) {
            let field = format!("the prompt of {label}");
            placeholders::check(doc, &field, &value.span(), prompt, &placeholders::PROMPT);
            task.prompt = Some(prompt.to_owned());
        }
    }
    if let Some(value) = table.get("depends_on") {
        task.depends_on = doc.string_list("depends_on", value);
    }
    task.approval = table.get("approval").and_then(|v| {
        doc.one_of("approval", v, APPROVALS)
            .map(|approval| (approval, v.span()))
    });
    task.risk = table.get("risk").and_then(|v| doc.one_of("risk", v, RISKS));
    task.policy = policy(doc, table);
    task
}

/// What is wrong with a task id, if anything, as said to the user.
pub(super) fn invalid_task_id(id: &str) -> Option<String> {
    task_id_problem(id).map(|problem| format!("invalid task id {id:?}: {problem}"))
}

/// What is wrong with a task id, if anything. Ids become the branch name
/// `orch/ID` and a directory name, so on top of `[A-Za-z0-9][A-Za-z0-9._-]*`
/// the few patterns git refuses in a branch name are refused too.
fn task_id_problem(id: &str) -> Option<&'static str> {
    let mut chars = id.chars();
    match chars.next() {
        None => return Some("it must not be empty"),
        Some(first) if !first.is_ascii_alphanumeric() => {
            return Some("it must start with an ASCII letter or digit")
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Some("it may contain only ASCII letters, digits, \".\", \"_\" and \"-\"");
    }
    if id.contains("..") {
        return Some("it must not contain \"..\" (it becomes a git branch name)");
    }
    if id.ends_with('.') {
        return Some("it must not end with \".\" (it becomes a git branch name)");
    }
    if id.ends_with(".lock") {
        return Some("it must not end with \".lock\" (it becomes a git branch name)");
    }
    None
}
