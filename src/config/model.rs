//! The resolved, validated configuration: plain data, every default filled in.
//!
//! `crate::config::load` turns an `orch.toml` into a [`Config`]; nothing
//! downstream ever sees the raw file or an unvalidated value.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::placeholders::{HookVars, Placeholders};

/// A whole, valid `orch.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from.
    pub path: PathBuf,
    /// The directory holding the file; relative paths in the config are relative to it.
    pub root: PathBuf,
    pub project: ProjectConfig,
    pub ui: UiConfig,
    /// Commands orch runs when a task is done, merged or fails.
    pub hooks: HooksConfig,
    /// Agents by name.
    pub agents: BTreeMap<String, AgentConfig>,
    /// Tasks in file order, each with its policy fully resolved.
    pub tasks: Vec<TaskConfig>,
    /// `[defaults]` over the built-in policy: what a task that sets no
    /// policy key of its own gets (one added at run time, for one).
    pub defaults: Policy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectConfig {
    /// `None`: the branch checked out when orch starts.
    pub base_branch: Option<String>,
    /// Where `base_branch`'s value is written, for errors found later
    /// (`crate::config::check_base_branch`); `None` when it is not set.
    pub base_branch_at: Option<Position>,
    pub max_parallel: usize,
    /// As written (default `.orch`); join with `Config::root` when relative.
    pub state_dir: PathBuf,
    /// Globs (relative to the repository root) of untracked or ignored
    /// files copied into each new worktree; a `.worktreeinclude` file at
    /// the root adds more, one a line.
    pub worktree_include: Vec<String>,
    /// Where `push` goes (a remote name or URL).
    pub remote: String,
    pub push: PushMode,
    /// Subtasks one task may have (`orch task add --parent`), done or not;
    /// 0 allows none.
    pub max_subtasks: usize,
    /// How deep subtasks may nest: a task of the file (or one added
    /// without a parent) is at depth 0, its subtasks at 1, theirs at 2;
    /// 0 allows none.
    pub max_subtask_depth: usize,
}

impl Default for ProjectConfig {
    fn default() -> Self {
        Self {
            base_branch: None,
            base_branch_at: None,
            max_parallel: 4,
            state_dir: PathBuf::from(".orch"),
            worktree_include: Vec::new(),
            remote: "origin".to_string(),
            push: PushMode::Never,
            max_subtasks: 20,
            max_subtask_depth: 3,
        }
    }
}

/// A place in the config file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Choices for the control room; `None` means "the built-in default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UiConfig {
    pub theme: Option<String>,
    pub keymap: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub name: String,
    /// argv; may contain the placeholders `{prompt}` `{task_id}` `{worktree}`
    /// `{branch}` (see [`Placeholders`]), and so may `env`'s values.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// `None`: unlimited; `Some(1)`: singleton.
    pub max_instances: Option<usize>,
    /// Agent to use instead when this one's command is not found.
    pub fallback: Option<String>,
    /// Whether the kernel confines the agent's writes (Landlock).
    pub sandbox: SandboxMode,
    /// Extra paths a confined agent may write: `~` expanded, relative
    /// ones joined to [`Config::root`]. Empty unless `sandbox` is set.
    pub writable: Vec<PathBuf>,
    /// Which agent CLI it is: presets for its hooks, its prompts, `resume`.
    pub kind: AgentKind,
    /// The command that continues an interrupted conversation, with
    /// `{session_id}`; empty: the kind's preset ([`AgentConfig::resume`]).
    pub resume: Vec<String>,
    /// Regexes over the bottom of its screen that mean it waits for an
    /// answer, besides its kind's presets.
    pub waiting_patterns: Vec<Pattern>,
    /// Answers typed for it when its screen asks what a rule matches.
    pub auto_answer: Vec<AutoAnswer>,
}

/// A regex as written in the config (compared by its text).
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: regex::Regex,
}

impl Pattern {
    /// The error is the regex crate's message.
    pub fn new(source: &str) -> Result<Pattern, String> {
        regex::RegexBuilder::new(source)
            .size_limit(1 << 20)
            .build()
            .map(|regex| Pattern {
                source: source.to_string(),
                regex,
            })
            .map_err(|e| e.to_string())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// One `auto_answer` rule: when the screen asks what `pattern` matches,
/// type `answer`.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoAnswer {
    pub pattern: Pattern,
    pub answer: String,
}

/// `kind` of an agent: which agent CLI it is, for the presets orch has for
/// it (its hooks, the look of its prompts, how to resume a conversation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum AgentKind {
    ClaudeCode,
    Codex,
    Aider,
    Gemini,
    #[default]
    Generic,
}

impl AgentKind {
    pub const ALL: [AgentKind; 5] = [
        AgentKind::ClaudeCode,
        AgentKind::Codex,
        AgentKind::Aider,
        AgentKind::Gemini,
        AgentKind::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Codex => "codex",
            AgentKind::Aider => "aider",
            AgentKind::Gemini => "gemini",
            AgentKind::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Option<AgentKind> {
        AgentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `sandbox` of an agent: whether its writes are confined to its worktree
/// (and the temp directory and its `writable` paths) by the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Not confined.
    #[default]
    None,
    /// Confined, or not started at all where the kernel cannot do it.
    Worktree,
    /// Confined as far as the kernel can, possibly not at all; the
    /// attempt records what was applied.
    BestEffort,
}

impl SandboxMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::None => "none",
            SandboxMode::Worktree => "worktree",
            SandboxMode::BestEffort => "best-effort",
        }
    }
}

impl AgentConfig {
    /// The argv to run for one task.
    pub fn render_command(&self, vars: &Placeholders<'_>) -> Vec<String> {
        self.command.iter().map(|arg| vars.fill(arg)).collect()
    }

    /// The command that continues a conversation: `resume` as written, else
    /// the kind's preset with the agent's own program (`claude --resume
    /// {session_id}` for Claude Code, `codex resume {session_id}` for
    /// Codex); empty when there is none.
    pub fn resume(&self) -> Vec<String> {
        if !self.resume.is_empty() {
            return self.resume.clone();
        }
        let Some(program) = self.command.first() else {
            return Vec::new();
        };
        let preset: &[&str] = match self.kind {
            AgentKind::ClaudeCode => &["--resume", "{session_id}"],
            AgentKind::Codex => &["resume", "{session_id}"],
            AgentKind::Aider | AgentKind::Gemini | AgentKind::Generic => return Vec::new(),
        };
        std::iter::once(program.clone())
            .chain(preset.iter().map(|s| s.to_string()))
            .collect()
    }
}

impl AgentConfig {
    /// Whose screen presets read its screen: its `kind`, or when that is
    /// left `generic`, the CLI its program is named after (`claude`,
    /// `codex`, `aider`, `gemini`). Reading a screen changes nothing, so
    /// the name is enough for it; hooks and `resume` need `kind` written.
    pub fn screen_kind(&self) -> AgentKind {
        if self.kind != AgentKind::Generic {
            return self.kind;
        }
        let program = self.command.first().map(std::path::Path::new);
        match program.and_then(|p| p.file_name()).and_then(|n| n.to_str()) {
            Some("claude") => AgentKind::ClaudeCode,
            Some("codex") => AgentKind::Codex,
            Some("aider") => AgentKind::Aider,
            Some("gemini") => AgentKind::Gemini,
            _ => AgentKind::Generic,
        }
    }
}

/// What `push` sends to `remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushMode {
    #[default]
    Never,
    /// `orch/TASK` when the task is done.
    OnDone,
    /// `base_branch` after each merge onto it.
    OnMerge,
}

/// `[hooks]`: argv lists run by orch (never through a shell unless the
/// command is one), with placeholders filled in; empty means none.
#[derive(Debug, Clone, PartialEq)]
pub struct HooksConfig {
    /// `{task}` `{branch}` `{worktree}`
    pub on_done: Vec<String>,
    /// `{task}` `{branch}` `{commit}`
    pub on_merge: Vec<String>,
    /// `{task}` `{cause}`
    pub on_fail: Vec<String>,
    /// `{task}` `{reason}` `{question}`: something joined the attention
    /// queue (an agent waits for an answer or went idle).
    pub on_attention: Vec<String>,
    /// How long a hook may run before it is killed.
    pub timeout: Duration,
}

impl HooksConfig {
    /// The argv of the hook `vars` is for, its placeholders filled in;
    /// `None` when that hook is not set.
    pub fn render(&self, vars: &HookVars<'_>) -> Option<Vec<String>> {
        let argv = match vars {
            HookVars::Done { .. } => &self.on_done,
            HookVars::Merge { .. } => &self.on_merge,
            HookVars::Fail { .. } => &self.on_fail,
            HookVars::Attention { .. } => &self.on_attention,
        };
        (!argv.is_empty()).then(|| argv.iter().map(|arg| vars.fill(arg)).collect())
    }
}

impl Default for HooksConfig {
    fn default() -> Self {
        Self {
            on_done: Vec::new(),
            on_merge: Vec::new(),
            on_fail: Vec::new(),
            on_attention: Vec::new(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Who must say yes, and when: before the task runs, or before its branch
/// is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Approval {
    #[default]
    None,
    BeforeStart,
    BeforeMerge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Risk {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

/// What becomes of a task's branch once the task is done: `Auto` merges
/// it onto the base branch (in dependency order), `Manual` waits for an
/// operator, `Never` leaves the branch as the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeMode {
    Auto,
    #[default]
    Manual,
    Never,
}

/// The per-task knobs that `[defaults]` supplies and a task may override.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Extra attempts after the first.
    pub retries: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// Wall time per attempt.
    pub timeout: Duration,
    pub heartbeat_warn: Duration,
    pub heartbeat_stall: Duration,
    /// Percent of one core, summed over the agent's process tree.
    pub cpu_warn: f64,
    pub cpu_critical: f64,
    pub merge: MergeMode,
    /// How long an agent may wait for an answer (or sit idle after its
    /// turn) before the attempt fails; `Some(ZERO)` waits forever, `None`
    /// is the run's default (forever in the control room, five minutes
    /// headless: [`Policy::input_timeout_in`]).
    pub input_timeout: Option<Duration>,
}

/// `input_timeout` of a headless run that sets none.
pub const HEADLESS_INPUT_TIMEOUT: Duration = Duration::from_secs(300);

impl Policy {
    /// The input timeout in force; `None` waits forever.
    pub fn input_timeout_in(&self, headless: bool) -> Option<Duration> {
        match self.input_timeout {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None if headless => Some(HEADLESS_INPUT_TIMEOUT),
            None => None,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            timeout: Duration::from_secs(30 * 60),
            heartbeat_warn: Duration::from_secs(120),
            heartbeat_stall: Duration::from_secs(300),
            cpu_warn: 80.0,
            cpu_critical: 95.0,
            merge: MergeMode::Manual,
            input_timeout: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    pub id: String,
    /// Defaults to the id.
    pub title: String,
    pub agent: String,
    pub prompt: String,
    pub depends_on: Vec<String>,
    pub approval: Approval,
    pub risk: Risk,
    pub policy: Policy,
    /// The task this one is a subtask of (added with `--parent`); `None`
    /// for the file's tasks.
    pub parent: Option<String>,
}

impl TaskConfig {
    /// `approval = "before_start"`, or a risk of high or critical.
    pub fn needs_merge_approval(&self) -> bool {
        self.approval == Approval::BeforeMerge
    }

    pub fn needs_start_approval(&self) -> bool {
        self.approval == Approval::BeforeStart || self.risk >= Risk::High
    }

    /// Total attempts allowed: the first plus `retries`.
    pub fn max_attempts(&self) -> u32 {
        self.policy.retries.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_risk_forces_start_approval() {
        let mut task = TaskConfig {
            id: "a".into(),
            title: "a".into(),
            agent: "sh".into(),
            prompt: String::new(),
            depends_on: vec![],
            approval: Approval::None,
            risk: Risk::Medium,
            policy: Policy::default(),
            parent: None,
        };
        assert!(!task.needs_start_approval());
        task.risk = Risk::High;
        assert!(task.needs_start_approval());
        task.risk = Risk::Low;
        task.approval = Approval::BeforeStart;
        assert!(task.needs_start_approval());
    }
}
