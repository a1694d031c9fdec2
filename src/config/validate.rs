//! Turns the text of an `orch.toml` into a [`Config`], or into every problem
//! found in it.
//!
//! The file is parsed into a span-carrying TOML tree, which is then walked by
//! hand: unlike serde's `deny_unknown_fields`, this keeps going after the first
//! unknown key or wrong type, so one run reports them all, each at the key or
//! value at fault.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::duration::{format_duration, parse_duration};
use super::error::{ConfigError, ConfigErrors};
use super::model::{
    AgentConfig, Approval, Config, MergeMode, Policy, ProjectConfig, Risk, TaskConfig, UiConfig,
};
use super::suggest::{did_you_mean, unknown_key_message};

type Span = Range<usize>;
type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &["project", "ui", "defaults", "agents", "tasks"];
const PROJECT_KEYS: &[&str] = &["base_branch", "max_parallel", "state_dir"];
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
];
const AGENT_KEYS: &[&str] = &["command", "env", "max_instances", "fallback"];
const TASK_KEYS: &[&str] = &[
    "id",
    "title",
    "agent",
    "prompt",
    "depends_on",
    "approval",
    "risk",
    "retries",
    "backoff",
    "backoff_max",
    "timeout",
    "heartbeat_warn",
    "heartbeat_stall",
    "cpu_warn",
    "cpu_critical",
    "merge",
];

const MERGE_MODES: &[(&str, MergeMode)] = &[
    ("auto", MergeMode::Auto),
    ("manual", MergeMode::Manual),
    ("never", MergeMode::Never),
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

const BUILT_IN: &str = "the built-in default";
const FROM_DEFAULTS: &str = "from [defaults]";

/// Parse and validate `src`, read from `path`. Touches no files.
pub(crate) fn check(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let mut checker = Checker::new(src, path);
    let config = match DeTable::parse(src) {
        Ok(document) => Some(checker.document(document.get_ref())),
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let mut message = format!("invalid TOML: {}", error.message());
            // The parser says only "duplicate key"; name it.
            if error.message() == "duplicate key" {
                if let Some(key) = src.get(span.clone()).filter(|key| !key.is_empty()) {
                    message.push_str(&format!(" {:?}", key.trim_matches(['"', '\'']).trim()));
                }
            }
            checker.error(span, message);
            None
        }
    };
    match config {
        Some(config) if checker.errors.is_empty() => Ok(config),
        _ => {
            let mut errors = ConfigErrors(checker.errors);
            errors.sort();
            Err(errors)
        }
    }
}

/// The directory holding the config file: relative paths are relative to it.
fn root_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A policy key as written in one table: absent, present but invalid (already
/// reported), or present and valid.
#[derive(Debug, Clone, Default)]
enum Slot<T> {
    #[default]
    Absent,
    Invalid,
    Set(T, Span),
}

impl<T: Copy> Slot<T> {
    /// The value in force given what the enclosing level resolved to; `None`
    /// when it cannot be known because some level is invalid.
    fn over(&self, inherited: Option<T>) -> Option<T> {
        match self {
            Slot::Absent => inherited,
            Slot::Invalid => None,
            Slot::Set(value, _) => Some(*value),
        }
    }

    fn resolve(&self, inherited: T) -> T {
        self.over(Some(inherited)).unwrap_or(inherited)
    }

    fn is_set(&self) -> bool {
        matches!(self, Slot::Set(..))
    }

    fn from_checked(value: Option<T>, span: Span) -> Self {
        match value {
            Some(value) => Slot::Set(value, span),
            None => Slot::Invalid,
        }
    }
}

/// The policy keys of `[defaults]` or of one task.
#[derive(Debug, Clone, Default)]
struct PolicySlots {
    retries: Slot<u32>,
    backoff: Slot<Duration>,
    backoff_max: Slot<Duration>,
    timeout: Slot<Duration>,
    heartbeat_warn: Slot<Duration>,
    heartbeat_stall: Slot<Duration>,
    cpu_warn: Slot<f64>,
    cpu_critical: Slot<f64>,
    merge: Slot<MergeMode>,
}

impl PolicySlots {
    fn resolve(&self, base: &Policy) -> Policy {
        Policy {
            retries: self.retries.resolve(base.retries),
            backoff: self.backoff.resolve(base.backoff),
            backoff_max: self.backoff_max.resolve(base.backoff_max),
            timeout: self.timeout.resolve(base.timeout),
            heartbeat_warn: self.heartbeat_warn.resolve(base.heartbeat_warn),
            heartbeat_stall: self.heartbeat_stall.resolve(base.heartbeat_stall),
            cpu_warn: self.cpu_warn.resolve(base.cpu_warn),
            cpu_critical: self.cpu_critical.resolve(base.cpu_critical),
            merge: self.merge.resolve(base.merge),
        }
    }
}

/// One side of an ordering rule such as `backoff <= backoff_max`.
struct Side<'a, T> {
    name: &'static str,
    slot: &'a Slot<T>,
    /// What applies when `slot` is absent; `None` if that is unknown.
    inherited: Option<T>,
    /// Where `inherited` comes from, for messages.
    source: &'static str,
}

fn side<'a, T: Copy>(
    name: &'static str,
    slot: &'a Slot<T>,
    parent: Option<&Slot<T>>,
    built_in: T,
) -> Side<'a, T> {
    match parent {
        None => Side {
            name,
            slot,
            inherited: Some(built_in),
            source: BUILT_IN,
        },
        Some(parent) => Side {
            name,
            slot,
            inherited: parent.over(Some(built_in)),
            source: if parent.is_set() {
                FROM_DEFAULTS
            } else {
                BUILT_IN
            },
        },
    }
}

struct RawAgent {
    name: String,
    command: Vec<String>,
    env: BTreeMap<String, String>,
    max_instances: Option<usize>,
    fallback: Option<(String, Span)>,
}

struct RawTask {
    /// 1-based position among the tasks.
    number: usize,
    id: Option<(String, Span)>,
    title: Option<String>,
    agent: Option<(String, Span)>,
    prompt: Option<String>,
    depends_on: Vec<(String, Span)>,
    approval: Option<Approval>,
    risk: Option<Risk>,
    policy: PolicySlots,
}

impl RawTask {
    /// `task "design"`, or `task #3` when it has no usable id.
    fn label(&self) -> String {
        match &self.id {
            Some((id, _)) => format!("task {id:?}"),
            None => format!("task #{}", self.number),
        }
    }
}

struct Checker<'s> {
    path: &'s Path,
    src: &'s str,
    lines: crate::config::LineIndex,
    errors: Vec<ConfigError>,
}

impl<'s> Checker<'s> {
    fn new(src: &'s str, path: &'s Path) -> Self {
        Self {
            path,
            src,
            lines: crate::config::LineIndex::new(src),
            errors: Vec::new(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        self.lines.position(self.src, offset)
    }

    fn line_of(&self, span: &Span) -> usize {
        self.position(span.start).0
    }

    fn error(&mut self, span: Span, message: String) {
        let (line, column) = self.position(span.start);
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            message,
        });
    }

    // ----- the document -------------------------------------------------

    fn document(&mut self, top: &DeTable<'_>) -> Config {
        self.unknown_keys(top, TOP_KEYS, "at the top level");

        let project = match top.get("project").and_then(|v| self.table("project", v)) {
            Some(table) => self.project(table),
            None => ProjectConfig::default(),
        };
        let ui = match top.get("ui").and_then(|v| self.table("ui", v)) {
            Some(table) => self.ui(table),
            None => UiConfig::default(),
        };
        let defaults = match top.get("defaults").and_then(|v| self.table("defaults", v)) {
            Some(table) => {
                self.unknown_keys(table, POLICY_KEYS, "in [defaults]");
                self.policy(table)
            }
            None => PolicySlots::default(),
        };
        self.check_policy_order(&defaults, None);
        let agents_value = top.get("agents");
        let agents = match agents_value.and_then(|v| self.table("agents", v)) {
            Some(table) => self.agents(table),
            None => Vec::new(),
        };
        // When `agents` is there but is not a table, that is already reported:
        // do not also call every task's agent unknown.
        let agents_known = !matches!(agents_value, Some(v) if !v.get_ref().is_table());
        let tasks = match top.get("tasks") {
            Some(value) => self.tasks(value, &defaults),
            None => Vec::new(),
        };

        self.check_fallbacks(&agents);
        self.check_tasks(&tasks, &agents, agents_known);

        let base_policy = defaults.resolve(&Policy::default());
        Config {
            path: self.path.to_path_buf(),
            root: root_of(self.path),
            project,
            ui,
            agents: agents
                .into_iter()
                .map(|agent| {
                    let config = AgentConfig {
                        name: agent.name.clone(),
                        command: agent.command,
                        env: agent.env,
                        max_instances: agent.max_instances,
                        fallback: agent.fallback.map(|(name, _)| name),
                    };
                    (agent.name, config)
                })
                .collect(),
            tasks: tasks
                .into_iter()
                .map(|task| {
                    let id = task.id.map(|(id, _)| id).unwrap_or_default();
                    TaskConfig {
                        title: task.title.unwrap_or_else(|| id.clone()),
                        id,
                        agent: task.agent.map(|(agent, _)| agent).unwrap_or_default(),
                        prompt: task.prompt.unwrap_or_default(),
                        depends_on: task.depends_on.into_iter().map(|(dep, _)| dep).collect(),
                        approval: task.approval.unwrap_or_default(),
                        risk: task.risk.unwrap_or_default(),
                        policy: task.policy.resolve(&base_policy),
                    }
                })
                .collect(),
        }
    }

    fn project(&mut self, table: &DeTable<'_>) -> ProjectConfig {
        self.unknown_keys(table, PROJECT_KEYS, "in [project]");
        let mut project = ProjectConfig::default();
        if let Some(value) = table.get("base_branch") {
            project.base_branch = self.non_empty_string("base_branch", value);
        }
        if let Some(value) = table.get("max_parallel") {
            if let Some(n) = self.usize_at_least_1("max_parallel", value) {
                project.max_parallel = n;
            }
        }
        if let Some(value) = table.get("state_dir") {
            if let Some(dir) = self.non_empty_string("state_dir", value) {
                project.state_dir = PathBuf::from(dir);
            }
        }
        project
    }

    fn ui(&mut self, table: &DeTable<'_>) -> UiConfig {
        self.unknown_keys(table, UI_KEYS, "in [ui]");
        UiConfig {
            theme: table.get("theme").and_then(|v| self.string("theme", v)),
            keymap: table.get("keymap").and_then(|v| self.string("keymap", v)),
        }
    }

    /// The policy keys of `table`; the caller reports the other keys.
    fn policy(&mut self, table: &DeTable<'_>) -> PolicySlots {
        let mut slots = PolicySlots::default();
        if let Some(v) = table.get("retries") {
            let n = self
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
        ];
        for (key, zero_ok, slot) in durations {
            if let Some(v) = table.get(key) {
                *slot = Slot::from_checked(self.duration(key, v, zero_ok), v.span());
            }
        }
        for (key, slot) in [
            ("cpu_warn", &mut slots.cpu_warn),
            ("cpu_critical", &mut slots.cpu_critical),
        ] {
            if let Some(v) = table.get(key) {
                *slot = Slot::from_checked(self.positive_number(key, v), v.span());
            }
        }
        if let Some(v) = table.get("merge") {
            slots.merge = Slot::from_checked(self.one_of("merge", v, MERGE_MODES), v.span());
        }
        slots
    }

    /// `backoff_max >= backoff`, `heartbeat_stall > heartbeat_warn` and
    /// `cpu_critical >= cpu_warn` for one level: `[defaults]` (`parent` is
    /// `None`) or a task (`parent` is `[defaults]`). A level that sets neither
    /// key of a pair inherits a pair already checked, so it is skipped.
    fn check_policy_order(&mut self, slots: &PolicySlots, parent: Option<&PolicySlots>) {
        let built_in = Policy::default();
        self.check_order(
            side(
                "backoff",
                &slots.backoff,
                parent.map(|p| &p.backoff),
                built_in.backoff,
            ),
            side(
                "backoff_max",
                &slots.backoff_max,
                parent.map(|p| &p.backoff_max),
                built_in.backoff_max,
            ),
            false,
            format_duration,
        );
        self.check_order(
            side(
                "heartbeat_warn",
                &slots.heartbeat_warn,
                parent.map(|p| &p.heartbeat_warn),
                built_in.heartbeat_warn,
            ),
            side(
                "heartbeat_stall",
                &slots.heartbeat_stall,
                parent.map(|p| &p.heartbeat_stall),
                built_in.heartbeat_stall,
            ),
            true,
            format_duration,
        );
        self.check_order(
            side(
                "cpu_warn",
                &slots.cpu_warn,
                parent.map(|p| &p.cpu_warn),
                built_in.cpu_warn,
            ),
            side(
                "cpu_critical",
                &slots.cpu_critical,
                parent.map(|p| &p.cpu_critical),
                built_in.cpu_critical,
            ),
            false,
            |n: f64| n.to_string(),
        );
    }

    /// Require `low <= high` (`low < high` when `strict`), reporting at the
    /// `high` key if this level sets it, else at the `low` key.
    fn check_order<T: PartialOrd + Copy>(
        &mut self,
        low: Side<'_, T>,
        high: Side<'_, T>,
        strict: bool,
        show: impl Fn(T) -> String,
    ) {
        if !low.slot.is_set() && !high.slot.is_set() {
            return;
        }
        let (Some(low_value), Some(high_value)) =
            (low.slot.over(low.inherited), high.slot.over(high.inherited))
        else {
            return;
        };
        let in_order = if strict {
            high_value > low_value
        } else {
            high_value >= low_value
        };
        if in_order {
            return;
        }
        if let Slot::Set(_, span) = high.slot {
            let relation = if strict { "greater than" } else { "at least" };
            let note = if low.slot.is_set() {
                String::new()
            } else {
                format!(", {}", low.source)
            };
            self.error(
                span.clone(),
                format!(
                    "{} ({}) must be {relation} {} ({}{note})",
                    high.name,
                    show(high_value),
                    low.name,
                    show(low_value),
                ),
            );
        } else if let Slot::Set(_, span) = low.slot {
            let relation = if strict { "less than" } else { "at most" };
            self.error(
                span.clone(),
                format!(
                    "{} ({}) must be {relation} {} ({}, {})",
                    low.name,
                    show(low_value),
                    high.name,
                    show(high_value),
                    high.source,
                ),
            );
        }
    }

    // ----- agents -------------------------------------------------------

    fn agents(&mut self, table: &DeTable<'_>) -> Vec<RawAgent> {
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
            };
            // An agent whose table is wrong is still defined: tasks naming it
            // should not also be told it does not exist.
            if let Some(body) = self.table(&path, value) {
                self.agent(&mut agent, body, &path, value.span());
            }
            agents.push(agent);
        }
        agents
    }

    fn agent(&mut self, agent: &mut RawAgent, table: &DeTable<'_>, path: &str, span: Span) {
        self.unknown_keys(table, AGENT_KEYS, &format!("in [{path}]"));
        match table.get("command") {
            Some(value) => agent.command = self.command(value),
            None => self.error(span, format!("missing key \"command\" in [{path}]")),
        }
        if let Some(value) = table.get("env") {
            if let Some(env) = self.table("env", value) {
                agent.env = self.env(env);
            }
        }
        if let Some(value) = table.get("max_instances") {
            agent.max_instances = self.usize_at_least_1("max_instances", value);
        }
        if let Some(value) = table.get("fallback") {
            agent.fallback = self
                .string("fallback", value)
                .map(|name| (name, value.span()));
        }
    }

    fn command(&mut self, value: &Value<'_>) -> Vec<String> {
        let DeValue::Array(items) = value.get_ref() else {
            self.expected("an array of strings", "command", value);
            return Vec::new();
        };
        if items.is_empty() {
            self.error(
                value.span(),
                "command must not be empty: expected the program followed by its arguments"
                    .to_owned(),
            );
        }
        let mut argv = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(arg) = self.string(&format!("command[{i}]"), item) {
                if i == 0 && arg.is_empty() {
                    self.error(
                        item.span(),
                        "command[0] must not be empty: it is the program to run".to_owned(),
                    );
                }
                argv.push(arg);
            }
        }
        argv
    }

    fn env(&mut self, table: &DeTable<'_>) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for (key, value) in table.iter() {
            let name = key.get_ref();
            if name.is_empty() || name.contains(['=', '\0']) {
                self.error(
                    key.span(),
                    format!("invalid environment variable name {name:?} in env: it must be non-empty and contain no \"=\""),
                );
            }
            let field = format!("env.{}", toml_key(name));
            if let Some(text) = self.string(&field, value) {
                if text.contains('\0') {
                    self.error(
                        value.span(),
                        format!("{field} must not contain a NUL character"),
                    );
                }
                env.insert(name.to_string(), text);
            }
        }
        env
    }

    fn check_fallbacks(&mut self, agents: &[RawAgent]) {
        for agent in agents {
            let Some((fallback, span)) = &agent.fallback else {
                continue;
            };
            if *fallback == agent.name {
                self.error(
                    span.clone(),
                    format!("agent {:?} cannot fall back to itself", agent.name),
                );
            } else if !agents.iter().any(|other| other.name == *fallback) {
                self.error(
                    span.clone(),
                    format!(
                        "unknown fallback agent {fallback:?} for agent {:?} ({}){}",
                        agent.name,
                        defined_agents(agents),
                        did_you_mean(fallback, agents.iter().map(|a| a.name.as_str())),
                    ),
                );
            }
        }
    }

    // ----- tasks --------------------------------------------------------

    fn tasks(&mut self, value: &Value<'_>, defaults: &PolicySlots) -> Vec<RawTask> {
        let DeValue::Array(items) = value.get_ref() else {
            self.expected("an array of tables ([[tasks]])", "tasks", value);
            return Vec::new();
        };
        let mut tasks = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let number = i + 1;
            if let Some(table) = self.table(&format!("task #{number}"), item) {
                tasks.push(self.task(number, table, item.span(), defaults));
            }
        }
        tasks
    }

    fn task(
        &mut self,
        number: usize,
        table: &DeTable<'_>,
        span: Span,
        defaults: &PolicySlots,
    ) -> RawTask {
        let id = match table.get("id") {
            Some(value) => self.string("id", value).map(|id| {
                if let Some(problem) = task_id_problem(&id) {
                    self.error(value.span(), format!("invalid task id {id:?}: {problem}"));
                }
                (id, value.span())
            }),
            None => {
                self.error(
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
        self.unknown_keys(table, TASK_KEYS, &format!("in {label}"));

        task.title = table.get("title").and_then(|v| self.string("title", v));
        task.agent = match table.get("agent") {
            Some(value) => self.string("agent", value).map(|name| (name, value.span())),
            None => {
                self.error(span, format!("missing key \"agent\" in {label}"));
                None
            }
        };
        task.prompt = table.get("prompt").and_then(|v| self.string("prompt", v));
        if let Some(value) = table.get("depends_on") {
            task.depends_on = self.string_list("depends_on", value);
        }
        task.approval = table
            .get("approval")
            .and_then(|v| self.one_of("approval", v, APPROVALS));
        task.risk = table
            .get("risk")
            .and_then(|v| self.one_of("risk", v, RISKS));
        task.policy = self.policy(table);
        self.check_policy_order(&task.policy, Some(defaults));
        task
    }

    /// References between tasks and to agents, duplicate ids and cycles.
    fn check_tasks(&mut self, tasks: &[RawTask], agents: &[RawAgent], agents_known: bool) {
        // Ids, first definitions win.
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        for (i, task) in tasks.iter().enumerate() {
            let Some((id, span)) = &task.id else { continue };
            match index_of.entry(id.as_str()) {
                Entry::Occupied(first) => {
                    let first_line = tasks[*first.get()]
                        .id
                        .as_ref()
                        .map_or(0, |(_, first_span)| self.line_of(first_span));
                    self.error(
                        span.clone(),
                        format!("duplicate task id {id:?} (first defined at line {first_line})"),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }

        for task in tasks {
            let label = task.label();
            if let Some((agent, span)) = &task.agent {
                if agents_known && !agents.iter().any(|a| a.name == *agent) {
                    self.error(
                        span.clone(),
                        format!(
                            "unknown agent {agent:?} for {label} ({}){}",
                            defined_agents(agents),
                            did_you_mean(agent, agents.iter().map(|a| a.name.as_str())),
                        ),
                    );
                }
            }
            let mut seen = HashSet::new();
            for (dep, span) in &task.depends_on {
                if !seen.insert(dep.as_str()) {
                    self.error(
                        span.clone(),
                        format!("{label} lists {dep:?} more than once in depends_on"),
                    );
                } else if !index_of.contains_key(dep.as_str()) {
                    self.error(
                        span.clone(),
                        format!(
                            "{label} depends on {dep:?}, which is not a task{}",
                            did_you_mean(
                                dep,
                                tasks
                                    .iter()
                                    .filter_map(|t| t.id.as_ref().map(|(id, _)| id.as_str())),
                            ),
                        ),
                    );
                }
            }
        }

        self.check_cycles(tasks, &index_of);
    }

    /// Report dependency cycles, each once, starting at its task that comes
    /// first in the file, at that task's `depends_on` entry for the next task.
    ///
    /// Each back edge of a depth-first search in file order closes one cycle;
    /// breaking every reported cycle makes the graph acyclic.
    fn check_cycles(&mut self, tasks: &[RawTask], index_of: &HashMap<&str, usize>) {
        let is_node = |i: usize, task: &RawTask| {
            task.id
                .as_ref()
                .is_some_and(|(id, _)| index_of.get(id.as_str()) == Some(&i))
        };
        let edges: Vec<Vec<usize>> = tasks
            .iter()
            .enumerate()
            .map(|(i, task)| {
                if !is_node(i, task) {
                    return Vec::new();
                }
                let mut targets = Vec::new();
                for (dep, _) in &task.depends_on {
                    if let Some(&target) = index_of.get(dep.as_str()) {
                        if !targets.contains(&target) {
                            targets.push(target);
                        }
                    }
                }
                targets
            })
            .collect();

        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut marks = vec![Mark::New; tasks.len()];
        let mut cycles: Vec<Vec<usize>> = Vec::new();
        for root in 0..tasks.len() {
            if marks[root] != Mark::New || !is_node(root, &tasks[root]) {
                continue;
            }
            marks[root] = Mark::Open;
            // (task, index of its next edge to follow)
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            while let Some(top) = stack.last_mut() {
                let (node, next) = *top;
                let Some(&target) = edges[node].get(next) else {
                    marks[node] = Mark::Done;
                    stack.pop();
                    continue;
                };
                top.1 += 1;
                match marks[target] {
                    Mark::New => {
                        marks[target] = Mark::Open;
                        stack.push((target, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|&(n, _)| n == target).unwrap_or(0);
                        let mut cycle: Vec<usize> =
                            stack[start..].iter().map(|&(n, _)| n).collect();
                        let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                        cycle.rotate_left(first);
                        if !cycles.contains(&cycle) {
                            cycles.push(cycle);
                        }
                    }
                    Mark::Done => {}
                }
            }
        }

        let id_of = |i: usize| tasks[i].id.as_ref().map_or("", |(id, _)| id.as_str());
        for cycle in cycles {
            let from = cycle[0];
            let to = cycle[1 % cycle.len()];
            let names: Vec<&str> = cycle
                .iter()
                .chain(std::iter::once(&from))
                .map(|&i| id_of(i))
                .collect();
            let span = tasks[from]
                .depends_on
                .iter()
                .find(|(dep, _)| dep == id_of(to))
                .map_or(0..0, |(_, span)| span.clone());
            self.error(span, format!("dependency cycle: {}", names.join(" -> ")));
        }
    }

    // ----- values -------------------------------------------------------

    fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], place: &str) {
        for key in table.keys() {
            let name = key.get_ref();
            if allowed.contains(&name.as_ref()) {
                continue;
            }
            self.error(key.span(), unknown_key_message(name, allowed, place));
        }
    }

    fn expected(&mut self, what: &str, field: &str, value: &Value<'_>) {
        self.error(
            value.span(),
            format!(
                "expected {what} for {field}, found {}",
                type_name(value.get_ref())
            ),
        );
    }

    fn table<'v, 'i>(&mut self, field: &str, value: &'v Value<'i>) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.expected("a table", field, value);
                None
            }
        }
    }

    fn string(&mut self, field: &str, value: &Value<'_>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.to_string()),
            _ => {
                self.expected("a string", field, value);
                None
            }
        }
    }

    fn non_empty_string(&mut self, field: &str, value: &Value<'_>) -> Option<String> {
        let text = self.string(field, value)?;
        if text.is_empty() {
            self.error(value.span(), format!("{field} must not be empty"));
            return None;
        }
        Some(text)
    }

    fn string_list(&mut self, field: &str, value: &Value<'_>) -> Vec<(String, Span)> {
        let DeValue::Array(items) = value.get_ref() else {
            self.expected("an array of strings", field, value);
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                self.string(&format!("{field}[{i}]"), item)
                    .map(|text| (text, item.span()))
            })
            .collect()
    }

    /// An integer in `min..=max`.
    fn integer(&mut self, field: &str, value: &Value<'_>, min: i64, max: i64) -> Option<i64> {
        let DeValue::Integer(integer) = value.get_ref() else {
            self.expected("an integer", field, value);
            return None;
        };
        let message = match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(n) if (min..=max).contains(&n) => return Some(n),
            Ok(n) if n < min => format!("{field} must be at least {min}, found {integer}"),
            Ok(_) => format!("{field} must be at most {max}, found {integer}"),
            Err(_) => format!("{field} is out of range, found {integer}"),
        };
        self.error(value.span(), message);
        None
    }

    fn usize_at_least_1(&mut self, field: &str, value: &Value<'_>) -> Option<usize> {
        let max = i64::try_from(usize::MAX).unwrap_or(i64::MAX);
        self.integer(field, value, 1, max)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// A finite number (integer or float) greater than zero.
    fn positive_number(&mut self, field: &str, value: &Value<'_>) -> Option<f64> {
        let (number, text) = match value.get_ref() {
            DeValue::Integer(integer) => (
                i64::from_str_radix(integer.as_str(), integer.radix())
                    .ok()
                    .map(|n| n as f64),
                integer.to_string(),
            ),
            DeValue::Float(float) => (float.as_str().parse::<f64>().ok(), float.to_string()),
            _ => {
                self.expected("a number", field, value);
                return None;
            }
        };
        let message = match number {
            Some(n) if n.is_finite() && n > 0.0 => return Some(n),
            Some(n) if n.is_nan() || n > 0.0 => {
                format!("{field} must be a finite number, found {text}")
            }
            Some(_) => format!("{field} must be greater than 0, found {text}"),
            None => format!("{field} is out of range, found {text}"),
        };
        self.error(value.span(), message);
        None
    }

    /// A duration string (`"5m"`) or a whole number of seconds.
    fn duration(&mut self, field: &str, value: &Value<'_>, zero_ok: bool) -> Option<Duration> {
        let (duration, shown) = match value.get_ref() {
            DeValue::String(text) => match parse_duration(text) {
                Ok(duration) => (duration, format!("{text:?}")),
                Err(error) => {
                    self.error(
                        value.span(),
                        format!("invalid duration {text:?} for {field}: {error}"),
                    );
                    return None;
                }
            },
            DeValue::Integer(integer) => {
                match u64::from_str_radix(integer.as_str(), integer.radix()) {
                    Ok(seconds) => (Duration::from_secs(seconds), integer.to_string()),
                    Err(_) => {
                        let problem = if integer.as_str().starts_with('-') {
                            "must not be negative"
                        } else {
                            "too large"
                        };
                        self.error(
                            value.span(),
                            format!("invalid duration {integer} for {field}: {problem}"),
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.expected(
                    "a duration (e.g. \"90s\", \"5m\") or a number of seconds",
                    field,
                    value,
                );
                return None;
            }
        };
        if !zero_ok && duration.is_zero() {
            self.error(
                value.span(),
                format!("{field} must be greater than 0, found {shown}"),
            );
            return None;
        }
        Some(duration)
    }

    fn one_of<T: Copy>(
        &mut self,
        field: &str,
        value: &Value<'_>,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<String> = choices
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        let found = match value.get_ref() {
            DeValue::String(text) => {
                if let Some((_, choice)) = choices.iter().find(|(name, _)| *name == text.as_ref()) {
                    return Some(*choice);
                }
                format!(
                    "{text:?}{}",
                    did_you_mean(text, choices.iter().map(|(name, _)| *name))
                )
            }
            other => type_name(other).to_owned(),
        };
        self.error(
            value.span(),
            format!("{field} must be one of {}, found {found}", names.join(", ")),
        );
        None
    }
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

/// How a TOML value's type is named in messages ("expected ..., found an integer").
pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A key as it would be written in TOML: bare when possible, else quoted.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

fn defined_agents(agents: &[RawAgent]) -> String {
    if agents.is_empty() {
        "no agents are defined".to_owned()
    } else {
        let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
        format!("defined agents: {}", names.join(", "))
    }
}
