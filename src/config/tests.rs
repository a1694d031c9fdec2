//! Tests of loading and validating `orch.toml`, including the fixture files
//! under `tests/fixtures/config`.
//!
//! Set `ORCH_BLESS_FIXTURES=1` to rewrite the `.expected` files from the
//! current output (then review the diff).

use crate::tomldoc::fixtures::{read, toml_files};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/config");

fn ok(src: &str) -> Config {
    match parse(src, Path::new("orch.toml")) {
        Ok(config) => config,
        Err(errors) => panic!("expected a valid config, got:\n{errors}"),
    }
}

/// The full error output for `src`, read as `orch.toml`.
fn err(src: &str) -> String {
    match parse(src, Path::new("orch.toml")) {
        Ok(config) => panic!("expected errors, got a valid config: {config:#?}"),
        Err(errors) => errors.to_string(),
    }
}

/// Like [`err`] for a config that must fail with exactly one error.
fn err1(src: &str) -> String {
    let out = err(src);
    assert_eq!(out.lines().count(), 1, "expected one error, got:\n{out}");
    out
}

const SH: &str = "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n";

fn with_sh(rest: &str) -> String {
    format!("{SH}{rest}")
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn task<'a>(config: &'a Config, id: &str) -> &'a TaskConfig {
    match config.tasks.iter().find(|t| t.id == id) {
        Some(task) => task,
        None => panic!("no task {id:?}"),
    }
}

// ----- valid configs ----------------------------------------------------

/// `rest` followed by one task, so that the plan is not empty.
fn with_task(rest: &str) -> String {
    format!("{rest}\n[[tasks]]\nid = \"t\"\nagent = \"sh\"\n{SH}")
}

#[test]
fn one_task_and_nothing_else_is_all_defaults() {
    let config = ok(&with_task(""));
    assert_eq!(config.path, PathBuf::from("orch.toml"));
    assert_eq!(config.root, PathBuf::from("."));
    assert_eq!(config.project, ProjectConfig::default());
    assert_eq!(config.ui, UiConfig::default());
    assert_eq!(config.agents.len(), 1);
    assert_eq!(config.tasks.len(), 1);
}

#[test]
fn a_plan_without_tasks_is_refused() {
    let empty = "orch.toml: the plan is empty: no [[tasks]] are defined; add a [[tasks]] table with an id and an agent for each task to run";
    assert_eq!(err1(""), empty);
    assert_eq!(err1("# nothing yet\n"), empty);
    assert_eq!(err1(&with_sh("[project]\nmax_parallel = 2\n")), empty);
    assert_eq!(err1("tasks = []\n"), empty);
    // Another problem is the one to fix first: no word of an empty plan.
    assert_eq!(
        err1("tasks = [1]\n"),
        "orch.toml:1:10: expected a table for task #1, found an integer"
    );
}

#[test]
fn root_is_the_parent_directory() {
    let src = with_task("");
    let config = parse(&src, Path::new("/work/repo/orch.toml")).map_err(|e| e.to_string());
    assert_eq!(config.map(|c| c.root), Ok(PathBuf::from("/work/repo")));
    let config = parse(&src, Path::new("sub/orch.toml")).map_err(|e| e.to_string());
    assert_eq!(config.map(|c| c.root), Ok(PathBuf::from("sub")));
}

#[test]
fn task_defaults() {
    let config = ok(&with_sh("[[tasks]]\nid = \"a\"\nagent = \"sh\"\n"));
    let a = task(&config, "a");
    assert_eq!(a.title, "a");
    assert_eq!(a.agent, "sh");
    assert_eq!(a.prompt, "");
    assert!(a.depends_on.is_empty());
    assert_eq!(a.approval, Approval::None);
    assert_eq!(a.risk, Risk::Low);
    assert_eq!(a.policy, Policy::default());
    let sh = &config.agents["sh"];
    assert_eq!(sh.name, "sh");
    assert_eq!(sh.command, ["sh", "-c", "{prompt}"]);
    assert!(sh.env.is_empty());
    assert_eq!(sh.max_instances, None);
    assert_eq!(sh.fallback, None);
}

#[test]
fn task_value_beats_defaults_beats_built_in() {
    let config = ok(&with_sh(
        r#"
[defaults]
retries = 7
timeout = "1h"
merge = "never"
cpu_warn = 10

[[tasks]]
id = "inherits"
agent = "sh"

[[tasks]]
id = "overrides"
agent = "sh"
retries = 1
merge = "manual"
cpu_warn = 20.5
heartbeat_warn = "1m"
"#,
    ));
    let built_in = Policy::default();

    let inherits = &task(&config, "inherits").policy;
    assert_eq!(inherits.retries, 7);
    assert_eq!(inherits.timeout, secs(3_600));
    assert_eq!(inherits.merge, MergeMode::Never);
    assert_eq!(inherits.cpu_warn, 10.0);
    assert_eq!(inherits.backoff, built_in.backoff);
    assert_eq!(inherits.heartbeat_warn, built_in.heartbeat_warn);

    let overrides = &task(&config, "overrides").policy;
    assert_eq!(overrides.retries, 1);
    assert_eq!(overrides.timeout, secs(3_600));
    assert_eq!(overrides.merge, MergeMode::Manual);
    assert_eq!(overrides.cpu_warn, 20.5);
    assert_eq!(overrides.heartbeat_warn, secs(60));
    assert_eq!(overrides.heartbeat_stall, built_in.heartbeat_stall);
}

#[test]
fn durations_accept_strings_and_whole_seconds() {
    let config = ok(&with_sh(
        r#"
[defaults]
backoff = 0
backoff_max = 90
timeout = "1h30m"
heartbeat_warn = "500ms"
heartbeat_stall = "2d"

[[tasks]]
id = "a"
agent = "sh"
"#,
    ));
    let policy = &task(&config, "a").policy;
    assert_eq!(policy.backoff, Duration::ZERO);
    assert_eq!(policy.backoff_max, secs(90));
    assert_eq!(policy.timeout, secs(5_400));
    assert_eq!(policy.heartbeat_warn, Duration::from_millis(500));
    assert_eq!(policy.heartbeat_stall, secs(2 * 86_400));
}

#[test]
fn full_fixture_has_every_value() {
    let path = Path::new(FIXTURES).join("valid/full.toml");
    let config = match load(&path) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.path, path);
    assert_eq!(config.root, Path::new(FIXTURES).join("valid"));
    assert_eq!(
        config.project,
        ProjectConfig {
            base_branch: Some("develop".into()),
            base_branch_at: Some(Position {
                line: 4,
                column: 16
            }),
            max_parallel: 8,
            state_dir: PathBuf::from("var/orch"),
            worktree_include: vec![".env".into(), "config/*.local.toml".into()],
            remote: "upstream".into(),
            push: PushMode::OnMerge,
            max_subtasks: 5,
            max_subtask_depth: 1,
        }
    );
    assert_eq!(
        config.hooks,
        HooksConfig {
            on_done: [
                "gh",
                "pr",
                "create",
                "--head",
                "{branch}",
                "--title",
                "{task} is done"
            ]
            .map(String::from)
            .to_vec(),
            on_merge: [
                "sh",
                "-c",
                "notify \"$1 merged as $2\"",
                "hook",
                "{task}",
                "{commit}"
            ]
            .map(String::from)
            .to_vec(),
            on_fail: vec!["notify-send".into(), "{task} failed: {cause}".into()],
            on_attention: Vec::new(),
            timeout: secs(120),
        }
    );
    assert_eq!(
        config.ui,
        UiConfig {
            theme: Some("light".into()),
            keymap: Some("vim".into()),
        }
    );

    let claude = &config.agents["claude"];
    assert_eq!(claude.command, ["claude", "--print", "{prompt}"]);
    assert_eq!(
        claude.env.get("CLAUDE_MODEL").map(String::as_str),
        Some("sonnet")
    );
    assert_eq!(claude.env.get("NO_COLOR").map(String::as_str), Some("1"));
    assert_eq!(claude.max_instances, Some(1));
    assert_eq!(claude.fallback.as_deref(), Some("codex"));
    assert_eq!(config.agents["codex"].fallback.as_deref(), Some("claude"));
    assert_eq!(config.agents["sh"].max_instances, Some(16));
    assert_eq!(claude.sandbox, SandboxMode::Worktree);
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    assert_eq!(
        claude.writable,
        [
            home.join(".claude"),
            PathBuf::from("/var/cache/claude"),
            config.root.join("build/cache"),
        ]
    );
    assert_eq!(config.agents["codex"].sandbox, SandboxMode::BestEffort);
    assert!(config.agents["codex"].writable.is_empty());
    assert_eq!(config.agents["sh"].sandbox, SandboxMode::None);

    let ids: Vec<&str> = config.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["design", "implement", "release-1.2_final"]);

    let design = task(&config, "design");
    assert_eq!(design.title, "Design the auth module");
    assert_eq!(design.agent, "claude");
    assert_eq!(
        design.prompt,
        "Write docs/auth.md describing the auth module. {conflicts}"
    );
    assert_eq!(design.approval, Approval::BeforeStart);
    assert_eq!(design.risk, Risk::Medium);
    assert_eq!(
        design.policy,
        Policy {
            retries: 3,
            backoff: secs(10),
            backoff_max: secs(600),
            timeout: secs(5_400),
            heartbeat_warn: secs(180),
            heartbeat_stall: secs(600),
            cpu_warn: 150.0,
            cpu_critical: 190.5,
            merge: MergeMode::Never,
            input_timeout: None,
        }
    );

    let implement = task(&config, "implement");
    assert_eq!(
        implement.prompt,
        "Implement docs/auth.md.\nKeep the tests green.\n"
    );
    assert_eq!(implement.depends_on, ["design"]);
    assert_eq!(implement.approval, Approval::BeforeStart);
    assert_eq!(implement.risk, Risk::High);
    assert_eq!(
        implement.policy,
        Policy {
            retries: 0,
            backoff: Duration::ZERO,
            backoff_max: Duration::ZERO,
            timeout: secs(7_200),
            heartbeat_warn: Duration::from_millis(500),
            heartbeat_stall: secs(1),
            cpu_warn: 50.0,
            cpu_critical: 50.0,
            merge: MergeMode::Never,
            input_timeout: None,
        }
    );

    let release = task(&config, "release-1.2_final");
    assert_eq!(release.title, "release-1.2_final");
    assert_eq!(release.depends_on, ["design", "implement"]);
    assert_eq!(release.risk, Risk::Critical);
    assert_eq!(release.policy.merge, MergeMode::Manual);
    assert_eq!(release.policy.retries, 3);
}

#[test]
fn overrides_fixture_resolves_each_level() {
    let path = Path::new(FIXTURES).join("valid/overrides.toml");
    let config = match load(&path) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let built_in = Policy::default();
    let defaults = Policy {
        retries: 5,
        backoff: secs(30),
        timeout: secs(45 * 60),
        heartbeat_warn: secs(240),
        merge: MergeMode::Never,
        ..built_in.clone()
    };
    assert_eq!(task(&config, "inherits").policy, defaults);
    assert_eq!(
        task(&config, "overrides").policy,
        Policy {
            retries: 0,
            backoff: secs(1),
            backoff_max: secs(2),
            timeout: secs(60),
            heartbeat_warn: secs(10),
            heartbeat_stall: secs(60),
            cpu_warn: 10.0,
            cpu_critical: 20.5,
            merge: MergeMode::Manual,
            input_timeout: None,
        }
    );
    assert_eq!(
        task(&config, "partial").policy,
        Policy {
            heartbeat_stall: secs(86_400),
            cpu_critical: 400.0,
            ..defaults
        }
    );
}

#[test]
fn inline_tasks_keep_file_order() {
    let config = match load(&Path::new(FIXTURES).join("valid/inline_tasks.toml")) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let ids: Vec<&str> = config.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(
        config.agents["sh"].env.get("LANG").map(String::as_str),
        Some("C.UTF-8")
    );
}

#[test]
fn acyclic_diamond_is_fine() {
    ok(&with_sh(
        r#"
[[tasks]]
id = "d"
agent = "sh"
depends_on = ["b", "c"]
[[tasks]]
id = "b"
agent = "sh"
depends_on = ["a"]
[[tasks]]
id = "c"
agent = "sh"
depends_on = ["a"]
[[tasks]]
id = "a"
agent = "sh"
"#,
    ));
}

#[test]
fn mutual_fallback_is_allowed() {
    let config = ok(&with_task(
        r#"
[agents.a]
command = ["a"]
fallback = "b"
[agents.b]
command = ["b"]
fallback = "a"
"#,
    ));
    assert_eq!(config.agents["a"].fallback.as_deref(), Some("b"));
}

// ----- errors: one kind at a time --------------------------------------

#[test]
fn syntax_error_is_the_only_error() {
    assert_eq!(
        err1("[defaults]\nretires = 2\nbackoff = \n"),
        "orch.toml:3:11: invalid TOML: string values must be quoted, expected literal string"
    );
    assert_eq!(
        err1("[project]\nmax_parallel = 1\nmax_parallel = 2\n"),
        "orch.toml:3:1: invalid TOML: duplicate key \"max_parallel\""
    );
}

#[test]
fn unknown_keys_everywhere() {
    let out = err(&format!(
        "{}{SH}",
        r#"
foo = 1
[project]
max_paralel = 1
[ui]
them = "x"
[defaults]
retires = 2
[agents.x]
command = ["x"]
colour = "red"
[[tasks]]
id = "t"
agent = "sh"
zzz = 1
[hooks]
on_sucess = []
"#,
    ));
    let expected = [
        r#"orch.toml:2:1: unknown key "foo" at the top level (expected one of: project, ui, hooks, defaults, agents, tasks)"#,
        r#"orch.toml:4:1: unknown key "max_paralel" in [project] (expected one of: base_branch, max_parallel, state_dir, worktree_include, remote, push, max_subtasks, max_subtask_depth); did you mean "max_parallel"?"#,
        r#"orch.toml:6:1: unknown key "them" in [ui] (expected one of: theme, keymap); did you mean "theme"?"#,
        r#"orch.toml:8:1: unknown key "retires" in [defaults] (expected one of: retries, backoff, backoff_max, timeout, heartbeat_warn, heartbeat_stall, cpu_warn, cpu_critical, merge, input_timeout); did you mean "retries"?"#,
        r#"orch.toml:11:1: unknown key "colour" in [agents.x] (expected one of: command, env, max_instances, fallback, sandbox, writable, kind, resume, waiting_patterns, auto_answer)"#,
        r#"orch.toml:15:1: unknown key "zzz" in task "t" (expected one of: id, title, agent, prompt, depends_on, approval, risk, retries, backoff, backoff_max, timeout, heartbeat_warn, heartbeat_stall, cpu_warn, cpu_critical, merge, input_timeout)"#,
        r#"orch.toml:17:1: unknown key "on_sucess" in [hooks] (expected one of: on_done, on_merge, on_fail, on_attention, timeout)"#,
    ];
    assert_eq!(out, expected.join("\n"));
}

#[test]
fn nested_unknown_key_is_reported_at_its_name() {
    assert_eq!(
        err1("[defaults.extra]\nx = 1\n"),
        r#"orch.toml:1:11: unknown key "extra" in [defaults] (expected one of: retries, backoff, backoff_max, timeout, heartbeat_warn, heartbeat_stall, cpu_warn, cpu_critical, merge, input_timeout)"#
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        err1(&with_sh(
            "[[tasks]]\nid = \"t\"\nagent = \"sh\"\ntitle = 5\n"
        )),
        "orch.toml:6:9: expected a string for title, found an integer"
    );
    assert_eq!(
        err1("[project]\nmax_parallel = 2.0\n"),
        "orch.toml:2:16: expected an integer for max_parallel, found a float"
    );
    assert_eq!(
        err1("project = \"x\"\n"),
        "orch.toml:1:11: expected a table for project, found a string"
    );
    assert_eq!(
        err1("[tasks]\n"),
        "orch.toml:1:1: expected an array of tables ([[tasks]]) for tasks, found a table"
    );
    assert_eq!(
        err1("tasks = [1]\n"),
        "orch.toml:1:10: expected a table for task #1, found an integer"
    );
    assert_eq!(
        err1("[agents.x]\ncommand = [\"x\", true]\n"),
        "orch.toml:2:17: expected a string for command[1], found a boolean"
    );
    assert_eq!(
        err1("[agents.x]\ncommand = [\"x\"]\nenv = { A = [] }\n"),
        "orch.toml:3:13: expected a string for env.A, found an array"
    );
    assert_eq!(
        err1("[defaults]\ntimeout = 1979-05-27\n"),
        "orch.toml:2:11: expected a duration (e.g. \"90s\", \"5m\") or a number of seconds for timeout, found a datetime"
    );
    assert_eq!(
        err1("[defaults]\ncpu_warn = \"80%\"\n"),
        "orch.toml:2:12: expected a number for cpu_warn, found a string"
    );
}

#[test]
fn agents_that_are_not_tables_do_not_make_tasks_fail_twice() {
    assert_eq!(
        err1("agents = 3\n[[tasks]]\nid = \"a\"\nagent = \"x\"\n"),
        "orch.toml:1:10: expected a table for agents, found an integer"
    );
    assert_eq!(
        err1("[agents]\nsh = \"sh\"\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n"),
        "orch.toml:2:6: expected a table for agents.sh, found a string"
    );
}

#[test]
fn bad_enum_values() {
    assert_eq!(
        err1("[defaults]\nmerge = \"sometimes\"\n"),
        r#"orch.toml:2:9: merge must be one of "auto", "manual", "never", found "sometimes""#
    );
    assert_eq!(
        err1(&with_sh(
            "[[tasks]]\nid = \"t\"\nagent = \"sh\"\napproval = \"before-strat\"\n"
        )),
        r#"orch.toml:6:12: approval must be one of "none", "before_start", "before_merge", found "before-strat"; did you mean "before_start"?"#
    );
    assert_eq!(
        err1(&with_sh(
            "[[tasks]]\nid = \"t\"\nagent = \"sh\"\nrisk = 3\n"
        )),
        r#"orch.toml:6:8: risk must be one of "low", "medium", "high", "critical", found an integer"#
    );
}

#[test]
fn malformed_durations() {
    assert_eq!(
        err1("[defaults]\nbackoff = \"5 minutes\"\n"),
        r#"orch.toml:2:11: invalid duration "5 minutes" for backoff: expected a number followed by ms, s, m, h or d (e.g. "90s", "5m")"#
    );
    assert_eq!(
        err1("[defaults]\ntimeout = -5\n"),
        "orch.toml:2:11: invalid duration -5 for timeout: must not be negative"
    );
    assert_eq!(
        err1("[defaults]\ntimeout = \"99999999999999999999d\"\n"),
        r#"orch.toml:2:11: invalid duration "99999999999999999999d" for timeout: too large"#
    );
}

#[test]
fn zero_durations_only_where_they_make_sense() {
    ok(&with_task(
        "[defaults]\nbackoff = \"0s\"\nbackoff_max = 0\n",
    ));
    assert_eq!(
        err1("[defaults]\ntimeout = \"0s\"\n"),
        r#"orch.toml:2:11: timeout must be greater than 0, found "0s""#
    );
    assert_eq!(
        err1("[defaults]\nheartbeat_warn = 0\n"),
        "orch.toml:2:18: heartbeat_warn must be greater than 0, found 0"
    );
    assert_eq!(
        err1("[defaults]\nheartbeat_stall = \"0ms\"\n"),
        r#"orch.toml:2:19: heartbeat_stall must be greater than 0, found "0ms""#
    );
}

#[test]
fn number_ranges() {
    assert_eq!(
        err1("[project]\nmax_parallel = 0\n"),
        "orch.toml:2:16: max_parallel must be at least 1, found 0"
    );
    assert_eq!(
        err1("[project]\nmax_subtasks = -1\n"),
        "orch.toml:2:16: max_subtasks must be at least 0, found -1"
    );
    assert_eq!(
        err1("[project]\nmax_subtasks = 10000\n"),
        "orch.toml:2:16: max_subtasks must be at most 1000, found 10000"
    );
    assert_eq!(
        err1("[project]\nmax_subtask_depth = \"3\"\n"),
        "orch.toml:2:21: expected an integer for max_subtask_depth, found a string"
    );
    assert_eq!(
        err1("[project]\nmax_subtask_depth = 21\n"),
        "orch.toml:2:21: max_subtask_depth must be at most 20, found 21"
    );
    let zero = ok(&with_sh(
        "[project]\nmax_subtasks = 0\nmax_subtask_depth = 0\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
    ));
    assert_eq!(
        (zero.project.max_subtasks, zero.project.max_subtask_depth),
        (0, 0)
    );
    assert_eq!(
        err1("[defaults]\nretries = -1\n"),
        "orch.toml:2:11: retries must be at least 0, found -1"
    );
    assert_eq!(
        err1("[defaults]\nretries = 4294967296\n"),
        "orch.toml:2:11: retries must be at most 4294967295, found 4294967296"
    );
    assert_eq!(
        err1("[defaults]\nretries = 99999999999999999999\n"),
        "orch.toml:2:11: retries is out of range, found 99999999999999999999"
    );
    assert_eq!(
        err1("[agents.x]\ncommand = [\"x\"]\nmax_instances = 0\n"),
        "orch.toml:3:17: max_instances must be at least 1, found 0"
    );
    assert_eq!(
        err1("[defaults]\ncpu_warn = 0.0\n"),
        "orch.toml:2:12: cpu_warn must be greater than 0, found 0.0"
    );
    assert_eq!(
        err1("[defaults]\ncpu_critical = inf\n"),
        "orch.toml:2:16: cpu_critical must be a finite number, found inf"
    );
    assert_eq!(
        err1("[defaults]\ncpu_critical = nan\n"),
        "orch.toml:2:16: cpu_critical must be a finite number, found nan"
    );
    let config = ok(&with_task(
        "[defaults]\ncpu_warn = 0x10\ncpu_critical = 1e3\n",
    ));
    assert_eq!(config.tasks[0].policy.cpu_warn, 16.0);
    assert_eq!(config.tasks[0].policy.cpu_critical, 1000.0);
}

#[test]
fn empty_strings_where_they_cannot_work() {
    assert_eq!(
        err1("[project]\nbase_branch = \"\"\n"),
        "orch.toml:2:15: base_branch must not be empty"
    );
    assert_eq!(
        err1("[project]\nstate_dir = \"\"\n"),
        "orch.toml:2:13: state_dir must not be empty"
    );
    assert_eq!(
        err1("[agents.x]\ncommand = []\n"),
        "orch.toml:2:11: command must not be empty: expected the program followed by its arguments"
    );
    assert_eq!(
        err1("[agents.x]\ncommand = [\"\"]\n"),
        "orch.toml:2:12: command[0] must not be empty: it is the program to run"
    );
    assert_eq!(
        err1("[agents.x]\ncommand = [\"x\"]\nenv = { \"\" = \"v\" }\n"),
        r#"orch.toml:3:9: invalid environment variable name "" in env: it must be non-empty and contain no "=""#
    );
}

#[test]
fn missing_required_keys() {
    assert_eq!(
        err1("[agents.x]\nenv = {}\n"),
        r#"orch.toml:1:1: missing key "command" in [agents.x]"#
    );
    assert_eq!(
        err(&with_sh("[[tasks]]\ntitle = \"t\"\n")),
        "orch.toml:3:1: missing key \"id\" in task #1\norch.toml:3:1: missing key \"agent\" in task #1"
    );
}

#[test]
fn unknown_agent() {
    assert_eq!(
        err1(&with_sh("[agents.claude]\ncommand = [\"claude\"]\n[[tasks]]\nid = \"design\"\nagent = \"cluade\"\n")),
        r#"orch.toml:7:9: unknown agent "cluade" for task "design" (defined agents: claude, sh); did you mean "claude"?"#
    );
    assert_eq!(
        err1("[[tasks]]\nid = \"a\"\nagent = \"claude\"\n"),
        r#"orch.toml:3:9: unknown agent "claude" for task "a" (no agents are defined)"#
    );
}

#[test]
fn fallbacks() {
    assert_eq!(
        err1(&with_sh("fallback = \"shh\"\n")),
        r#"orch.toml:3:12: unknown fallback agent "shh" for agent "sh" (defined agents: sh); did you mean "sh"?"#
    );
    assert_eq!(
        err1(&with_sh("fallback = \"sh\"\n")),
        r#"orch.toml:3:12: agent "sh" cannot fall back to itself"#
    );
}

#[test]
fn missing_and_repeated_dependencies() {
    let out = err(&with_sh(
        r#"[[tasks]]
id = "a"
agent = "sh"
[[tasks]]
id = "b"
agent = "sh"
depends_on = ["zz", "a", "a"]
"#,
    ));
    assert_eq!(
        out,
        [
            r#"orch.toml:9:15: task "b" depends on "zz", which is not a task"#,
            r#"orch.toml:9:26: task "b" lists "a" more than once in depends_on"#,
        ]
        .join("\n")
    );
}

#[test]
fn duplicate_task_id_points_at_the_second() {
    assert_eq!(
        err1(&with_sh(
            "[[tasks]]\nid = \"a\"\nagent = \"sh\"\n\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n"
        )),
        r#"orch.toml:8:6: duplicate task id "a" (first defined at line 4)"#
    );
}

#[test]
fn task_ids_must_be_branch_and_directory_names() {
    for (id, problem) in [
        ("", "it must not be empty"),
        (".hidden", "it must start with an ASCII letter or digit"),
        ("_x", "it must start with an ASCII letter or digit"),
        (
            "a b",
            r#"it may contain only ASCII letters, digits, ".", "_" and "-""#,
        ),
        (
            "a/b",
            r#"it may contain only ASCII letters, digits, ".", "_" and "-""#,
        ),
        (
            "a..b",
            r#"it must not contain ".." (it becomes a git branch name)"#,
        ),
        (
            "a.",
            r#"it must not end with "." (it becomes a git branch name)"#,
        ),
        (
            "a.lock",
            r#"it must not end with ".lock" (it becomes a git branch name)"#,
        ),
    ] {
        let src = with_sh(&format!("[[tasks]]\nid = {id:?}\nagent = \"sh\"\n"));
        assert_eq!(
            err1(&src),
            format!("orch.toml:4:6: invalid task id {id:?}: {problem}"),
            "{id:?}"
        );
    }
    for id in ["a", "A1", "0", "v1.2.3", "fix_bug-2", "a.lock.b"] {
        ok(&with_sh(&format!(
            "[[tasks]]\nid = {id:?}\nagent = \"sh\"\n"
        )));
    }
}

fn tasks_with_deps(deps: &[(&str, &[&str])]) -> String {
    let mut src = SH.to_owned();
    for (id, on) in deps {
        src.push_str(&format!(
            "[[tasks]]\nid = {id:?}\nagent = \"sh\"\ndepends_on = {on:?}\n"
        ));
    }
    src
}

#[test]
fn three_cycle_is_named_from_its_first_task() {
    // c comes first in the file, so the cycle is reported from c.
    let src = tasks_with_deps(&[("c", &["a"]), ("a", &["b"]), ("b", &["c"])]);
    assert_eq!(
        err1(&src),
        "orch.toml:6:15: dependency cycle: c -> a -> b -> c"
    );
}

#[test]
fn self_dependency_is_a_cycle() {
    let src = tasks_with_deps(&[("a", &[]), ("b", &["a", "b"])]);
    assert_eq!(err1(&src), "orch.toml:10:20: dependency cycle: b -> b");
}

#[test]
fn each_cycle_is_reported_once() {
    let src = tasks_with_deps(&[
        ("a", &["b"]),
        ("b", &["a"]),
        ("x", &["a", "y"]),
        ("y", &["x"]),
        ("z", &["z"]),
    ]);
    assert_eq!(
        err(&src),
        [
            "orch.toml:6:15: dependency cycle: a -> b -> a",
            "orch.toml:14:20: dependency cycle: x -> y -> x",
            "orch.toml:22:15: dependency cycle: z -> z",
        ]
        .join("\n")
    );
}

#[test]
fn ordering_rules_on_defaults_are_reported_once() {
    let src = with_sh(
        "[defaults]\nbackoff = \"10m\"\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\n",
    );
    assert_eq!(
        err1(&src),
        "orch.toml:4:11: backoff (10m) must be at most backoff_max (5m, the built-in default)"
    );
}

#[test]
fn ordering_rules() {
    let defaults = |body: &str| err1(&format!("[defaults]\n{body}"));
    assert_eq!(
        defaults("backoff = \"1m\"\nbackoff_max = \"30s\"\n"),
        "orch.toml:3:15: backoff_max (30s) must be at least backoff (1m)"
    );
    assert_eq!(
        defaults("heartbeat_warn = \"1m\"\nheartbeat_stall = 60\n"),
        "orch.toml:3:19: heartbeat_stall (1m) must be greater than heartbeat_warn (1m)"
    );
    assert_eq!(
        defaults("heartbeat_warn = \"6m\"\n"),
        "orch.toml:2:18: heartbeat_warn (6m) must be less than heartbeat_stall (5m, the built-in default)"
    );
    assert_eq!(
        defaults("cpu_critical = 70\n"),
        "orch.toml:2:16: cpu_critical (70) must be at least cpu_warn (80, the built-in default)"
    );
    ok(&with_task(
        "[defaults]\nbackoff = \"5m\"\nbackoff_max = 300\ncpu_warn = 95\n",
    ));

    // Per task: checked on the resolved values, reported at the task's override.
    let src = with_sh(
        r#"[defaults]
backoff_max = "1m"
[[tasks]]
id = "a"
agent = "sh"
backoff = "2m"
[[tasks]]
id = "b"
agent = "sh"
cpu_warn = 10
cpu_critical = 9.5
"#,
    );
    assert_eq!(
        err(&src),
        [
            "orch.toml:8:11: backoff (2m) must be at most backoff_max (1m, from [defaults])",
            "orch.toml:13:16: cpu_critical (9.5) must be at least cpu_warn (10)",
        ]
        .join("\n")
    );

    // A task may repair what [defaults] got wrong for it, but [defaults] is
    // still wrong.
    let src = with_sh(
        "[defaults]\ncpu_critical = 50\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\ncpu_warn = 40\n",
    );
    assert_eq!(
        err1(&src),
        "orch.toml:4:16: cpu_critical (50) must be at least cpu_warn (80, the built-in default)"
    );
}

#[test]
fn invalid_values_do_not_cause_ordering_errors() {
    assert_eq!(
        err1("[defaults]\nbackoff = \"lots\"\nbackoff_max = \"1s\"\n"),
        r#"orch.toml:2:11: invalid duration "lots" for backoff: expected a number followed by ms, s, m, h or d (e.g. "90s", "5m")"#
    );
    let src = with_sh(
        "[defaults]\nheartbeat_stall = \"?\"\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\nheartbeat_warn = \"1h\"\n",
    );
    assert_eq!(
        err1(&src),
        r#"orch.toml:4:19: invalid duration "?" for heartbeat_stall: expected a number followed by ms, s, m, h or d (e.g. "90s", "5m")"#
    );
}

#[test]
fn every_problem_is_reported_together_in_order() {
    let src = r#"[[tasks]]
id = "b"
agent = "nope"
depends_on = ["zz"]
retires = 1

[defaults]
merge = "sometimes"

[project]
max_parallel = "four"
"#;
    assert_eq!(
        err(src),
        [
            r#"orch.toml:3:9: unknown agent "nope" for task "b" (no agents are defined)"#,
            r#"orch.toml:4:15: task "b" depends on "zz", which is not a task"#,
            r#"orch.toml:5:1: unknown key "retires" in task "b" (expected one of: id, title, agent, prompt, depends_on, approval, risk, retries, backoff, backoff_max, timeout, heartbeat_warn, heartbeat_stall, cpu_warn, cpu_critical, merge, input_timeout); did you mean "retries"?"#,
            r#"orch.toml:8:9: merge must be one of "auto", "manual", "never", found "sometimes""#,
            r#"orch.toml:11:16: expected an integer for max_parallel, found a string"#,
        ]
        .join("\n")
    );
    let errors = match parse(src, Path::new("orch.toml")) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors,
    };
    assert_eq!(errors.len(), 5);
    let positions: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted, "the vector itself is sorted");
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        err1("[ui]\n\"thème\" = 1 # ü\n[project]\nstate_dir = \"é\"  ;\n"),
        "orch.toml:4:18: invalid TOML: unexpected key or value, expected newline, `#`"
    );
    assert_eq!(
        err1("# héllo wörld\n[ui]\ntheme = \"ü\"\nkeymap = 1\n"),
        "orch.toml:4:10: expected a string for keymap, found an integer"
    );
    assert_eq!(
        err1("[ui]\ntheme = \"ü\"; keymap = 1\n"),
        "orch.toml:2:12: invalid TOML: unexpected key or value, expected newline, `#`"
    );
    assert_eq!(
        err("tasks = [{ id = \"ü\", agent = \"é\" }]\n"),
        [
            r#"orch.toml:1:17: invalid task id "ü": it must start with an ASCII letter or digit"#,
            r#"orch.toml:1:30: unknown agent "é" for task "ü" (no agents are defined)"#,
        ]
        .join("\n")
    );
}

#[test]
fn windows_line_endings() {
    assert_eq!(
        err1("[project]\r\nmax_parallel = 0\r\n"),
        "orch.toml:2:16: max_parallel must be at least 1, found 0"
    );
}

#[test]
fn unknown_placeholders_are_errors_at_their_brace() {
    assert_eq!(
        err1("[agents.sh]\ncommand = [\"sh\", \"-c\", \"{promt}\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n"),
        r#"orch.toml:2:25: unknown placeholder "{promt}" in command[2] (known: {prompt}, {task_id}, {worktree}, {branch}; {{promt}} is a literal "{promt}"); did you mean "{prompt}"?"#
    );
    assert_eq!(
        err1(&with_task(
            "[agents.x]\ncommand = [\"x\"]\nenv = { B = 'on {brnch}' }\n"
        )),
        r#"orch.toml:3:17: unknown placeholder "{brnch}" in env.B (known: {prompt}, {task_id}, {worktree}, {branch}; {{brnch}} is a literal "{brnch}"); did you mean "{branch}"?"#
    );
    assert_eq!(
        err1(&with_sh(
            "[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"fix {task_ID}\"\n"
        )),
        r#"orch.toml:6:15: unknown placeholder "{task_ID}" in the prompt of task "a" (known: {task_id}, {worktree}, {branch}, {conflicts}, {children}; {{task_ID}} is a literal "{task_ID}"); did you mean "{task_id}"?"#
    );
    // With an escape in the string, the string's own position.
    assert_eq!(
        err1(&with_sh(
            "[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"\\t{x}\"\n"
        )),
        r#"orch.toml:6:10: unknown placeholder "{x}" in the prompt of task "a" (known: {task_id}, {worktree}, {branch}, {conflicts}, {children}; {{x}} is a literal "{x}")"#
    );
}

#[test]
fn known_placeholders_escapes_and_shell_braces_are_fine() {
    let config = ok(&with_sh(
        r#"[agents.all]
command = ["sh", "-c", "echo {prompt} {task_id} {worktree} {branch} ${HOME} {1..3} {a,b} {{x}} '{ print $1 }'"]
env = { W = "{worktree}", P = "{prompt}", S = "${SHELL}" }
[[tasks]]
id = "a"
agent = "all"
prompt = "on {branch} in {worktree} for {task_id}; not {{prompt}}"
"#,
    ));
    let vars = Placeholders {
        prompt: &config.tasks[0].prompt,
        task_id: "a",
        worktree: "/w/a",
        branch: "orch/a",
        conflicts: "",
        children: "",
        session_id: "",
    };
    assert_eq!(
        config.agents["all"].render_command(&vars)[2],
        "echo on orch/a in /w/a for a; not {prompt} a /w/a orch/a ${HOME} {1..3} {a,b} {x} '{ print $1 }'"
    );
}

#[test]
fn merge_policies_and_the_merge_gate_are_read() {
    let config = ok(&with_task("[defaults]\nmerge = \"auto\"\n"));
    assert_eq!(config.tasks[0].policy.merge, MergeMode::Auto);
    let config = ok(&with_sh(
        "[[tasks]]\nid = \"a\"\nagent = \"sh\"\napproval = \"before_merge\"\n",
    ));
    assert_eq!(config.tasks[0].approval, Approval::BeforeMerge);
    assert!(config.tasks[0].needs_merge_approval());
    assert!(!config.tasks[0].needs_start_approval());
    let config = ok(&with_task("[defaults]\nmerge = \"never\"\n"));
    assert_eq!(config.tasks[0].policy.merge, MergeMode::Never);
    assert_eq!(
        err1(&with_task("[defaults]\nmerge = \"sometimes\"\n"))
            .split(':')
            .take(3)
            .collect::<Vec<_>>(),
        ["orch.toml", "2", "9"]
    );
}

#[test]
fn project_ops_keys_default_and_are_read() {
    let config = ok(&with_task(""));
    assert_eq!(config.project.worktree_include, Vec::<String>::new());
    assert_eq!(config.project.remote, "origin");
    assert_eq!(config.project.push, PushMode::Never);
    assert_eq!(config.hooks, HooksConfig::default());
    assert_eq!(config.hooks.timeout, secs(60));
    let config = ok(&with_task(
        "[project]\nworktree_include = [\"./.env\", \"a/**/b..c\"]\nremote = \"git@example.com:x/y.git\"\npush = \"on_done\"\n",
    ));
    assert_eq!(config.project.worktree_include, ["./.env", "a/**/b..c"]);
    assert_eq!(config.project.remote, "git@example.com:x/y.git");
    assert_eq!(config.project.push, PushMode::OnDone);
    // A bad glob is left out and reported; the good ones stay.
    assert_eq!(
        err1(&with_task(
            "[project]\nworktree_include = [\"ok\", \"a/../..\"]\n"
        )),
        r#"orch.toml:2:27: worktree_include glob "a/../.." must not contain "..": only files inside the repository are copied"#
    );
}

#[test]
fn hooks_are_filled_with_their_own_names() {
    let config = ok(&with_task(
        r#"[hooks]
on_done = ["gh", "pr", "create", "--head", "{branch}", "--body", "{task} in {worktree}"]
on_fail = ["notify", "{task}: {cause}", "{{task}}"]
timeout = 5
"#,
    ));
    assert_eq!(config.hooks.timeout, secs(5));
    let done = HookVars::Done {
        task: "t",
        branch: "orch/t",
        worktree: "/w/t",
    };
    assert_eq!(
        config.hooks.render(&done),
        Some(
            [
                "gh",
                "pr",
                "create",
                "--head",
                "orch/t",
                "--body",
                "t in /w/t"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    let fail = HookVars::Fail {
        task: "t",
        cause: "exit code 1",
    };
    assert_eq!(
        config.hooks.render(&fail),
        Some(vec![
            "notify".to_string(),
            "t: exit code 1".to_string(),
            "{task}".to_string()
        ])
    );
    let merge = HookVars::Merge {
        task: "t",
        branch: "orch/t",
        commit: "c0ffee",
    };
    assert_eq!(config.hooks.render(&merge), None, "no on_merge hook");
}

#[test]
fn on_attention_takes_its_own_placeholders() {
    let config = ok(&with_task(
        "[hooks]\non_attention = [\"notify-send\", \"orch: {task}\", \"{reason}: {question}\"]\n",
    ));
    let vars = HookVars::Attention {
        task: "api",
        reason: "waiting for input",
        question: "Proceed? (y/n)",
    };
    assert_eq!(
        config.hooks.render(&vars),
        Some(vec![
            "notify-send".to_string(),
            "orch: api".to_string(),
            "waiting for input: Proceed? (y/n)".to_string()
        ])
    );
    let out = err1(&with_task(
        "[hooks]\non_attention = [\"notify\", \"{cause}\"]\n",
    ));
    assert!(
        out.contains("\"{cause}\" cannot be used in on_attention[1]: only on_fail has a cause"),
        "{out}"
    );
}

#[test]
fn an_agent_s_kind_resume_patterns_and_auto_answers() {
    let config = ok(&format!(
        r#"
[defaults]
input_timeout = "10m"

[agents.claude]
command = ["claude", "{{prompt}}"]
kind = "claude-code"
waiting_patterns = ['\(y/n\)\s*$', 'Approve\?']
auto_answer = [{{ pattern = 'Proceed\? \(y/n\)', answer = "y\r" }}]

[agents.codex]
command = ["codex", "{{prompt}}"]
kind = "codex"
resume = ["codex", "resume", "--yolo", "{{session_id}}"]

[[tasks]]
id = "a"
agent = "claude"

[[tasks]]
id = "b"
agent = "codex"
input_timeout = 0
{SH}"#
    ));
    let claude = &config.agents["claude"];
    assert_eq!(claude.kind, AgentKind::ClaudeCode);
    assert_eq!(claude.resume(), ["claude", "--resume", "{session_id}"]);
    let sources: Vec<&str> = claude
        .waiting_patterns
        .iter()
        .map(|p| p.source.as_str())
        .collect();
    assert_eq!(sources, [r"\(y/n\)\s*$", r"Approve\?"]);
    assert!(claude.waiting_patterns[0].regex.is_match("Go on? (y/n) "));
    assert_eq!(claude.auto_answer.len(), 1);
    assert_eq!(claude.auto_answer[0].answer, "y\r");
    assert!(claude.auto_answer[0]
        .pattern
        .regex
        .is_match("Proceed? (y/n)"));
    let codex = &config.agents["codex"];
    assert_eq!(
        codex.resume(),
        ["codex", "resume", "--yolo", "{session_id}"]
    );
    assert!(
        config.agents["sh"].resume().is_empty(),
        "a generic agent has none"
    );
    assert_eq!(config.agents["sh"].kind, AgentKind::Generic);
    let vars = Placeholders {
        prompt: "p",
        task_id: "b",
        worktree: "/w/b",
        branch: "orch/b",
        conflicts: "",
        children: "",
        session_id: "0199-abc",
    };
    assert_eq!(vars.fill_resume("{session_id}"), "0199-abc");
    assert_eq!(vars.fill("{session_id}"), "{session_id}", "only in resume");

    let a = &task(&config, "a").policy;
    assert_eq!(a.input_timeout, Some(secs(600)));
    assert_eq!(a.input_timeout_in(false), Some(secs(600)));
    let b = &task(&config, "b").policy;
    assert_eq!(
        b.input_timeout_in(true),
        None,
        "0 waits forever, headless too"
    );
    let built_in = Policy::default();
    assert_eq!(built_in.input_timeout_in(false), None);
    assert_eq!(
        built_in.input_timeout_in(true),
        Some(HEADLESS_INPUT_TIMEOUT)
    );
}

#[test]
fn screen_presets_follow_the_kind_or_else_the_program_s_name() {
    let config = ok(&with_task(
        r#"
[agents.claude]
command = ["/usr/local/bin/claude", "--model", "x"]

[agents.wrapped]
command = ["npx", "claude"]

[agents.told]
command = ["my-codex-wrapper"]
kind = "codex"
"#,
    ));
    let kind = |name: &str| config.agents[name].screen_kind();
    assert_eq!(kind("claude"), AgentKind::ClaudeCode);
    // Hooks and resume are not wired from a name.
    assert_eq!(config.agents["claude"].kind, AgentKind::Generic);
    assert!(config.agents["claude"].resume().is_empty());
    assert_eq!(kind("wrapped"), AgentKind::Generic);
    assert_eq!(kind("told"), AgentKind::Codex);
}

#[test]
fn bad_attention_keys_are_reported_where_they_are_written() {
    let out = err(r#"[agents.x]
command = ["x"]
kind = "cursor"
resume = ["x", "--resume"]
waiting_patterns = ['(unclosed', '', '(y/n)?\s*$']
auto_answer = [{ pattern = 'ok' }, { answer = "y" }, { pattern = 'a', answer = "", extra = 1 }, { pattern = 'x*', answer = "y" }]

[[tasks]]
id = "t"
agent = "x"
input_timeout = "soon"
"#);
    for expected in [
        "orch.toml:3:8: kind must be one of \"claude-code\", \"codex\", \"aider\", \"gemini\", \"generic\", found \"cursor\"",
        "orch.toml:4:10: resume must contain {session_id}",
        "orch.toml:5:21: invalid waiting_patterns pattern \"(unclosed\"",
        "orch.toml:5:34: a waiting_patterns pattern must not be empty",
        "orch.toml:5:38: waiting_patterns pattern \"(y/n)?\\\\s*$\" matches empty text, so every screen would ask",
        "auto_answer pattern \"x*\" matches empty text",
        "an auto_answer entry needs an answer",
        "an auto_answer entry needs a pattern",
        "an auto_answer answer must not be empty",
        "unknown key \"extra\" in an auto_answer entry",
        "invalid duration \"soon\" for input_timeout",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn the_merge_gate_needs_a_merge() {
    let gated = |merge: &str, defaults: &str| {
        format!("{defaults}{SH}[[tasks]]\nid = \"a\"\nagent = \"sh\"\napproval = \"before_merge\"\n{merge}")
    };
    for merge in ["", "merge = \"manual\"\n", "merge = \"auto\"\n"] {
        ok(&gated(merge, ""));
        // The task's own policy wins over [defaults].
        if !merge.is_empty() {
            ok(&gated(merge, "[defaults]\nmerge = \"never\"\n"));
        }
    }
    assert_eq!(
        err1(&gated("merge = \"never\"\n", "")),
        r#"orch.toml:6:12: approval = "before_merge" cannot be used with merge = "never": the branch is never merged, so there would be nothing to approve; set merge = "manual" or "auto" on task "a", or drop the approval"#
    );
    let from_defaults = err1(&gated("", "[defaults]\nmerge = \"never\"\n"));
    assert!(
        from_defaults.starts_with(r#"orch.toml:8:12: approval = "before_merge" cannot be used with merge = "never" (from [defaults])"#),
        "{from_defaults}"
    );
    // An invalid merge value is its own error, not also a gate error.
    assert_eq!(
        err1(&gated("merge = \"nevr\"\n", ""))
            .matches("orch.toml")
            .count(),
        1
    );
}

#[test]
fn a_byte_that_is_not_utf8_is_reported_at_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("orch.toml");
    std::fs::write(&path, b"[project]\nbase_branch = \"caf\xE9\"\n").expect("write");
    let errors = match load(&path) {
        Ok(_) => panic!("loaded a file that is not UTF-8"),
        Err(errors) => errors,
    };
    assert_eq!(
        errors.to_string(),
        format!(
            "{}:2:19: invalid UTF-8: byte 0xE9 is not valid here; save the file as UTF-8",
            path.display()
        )
    );
}

/// A repository with one commit on `main` and a branch `develop`.
fn repo_with_branches() -> (tempfile::TempDir, crate::git::Repo) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let git = git2::Repository::init_opts(dir.path(), &opts).expect("init");
    let signature = git2::Signature::now("t", "t@example.com").expect("signature");
    let tree = git
        .find_tree(git.index().expect("index").write_tree().expect("tree"))
        .expect("tree");
    let commit = git
        .commit(Some("HEAD"), &signature, &signature, "initial", &tree, &[])
        .expect("commit");
    git.branch("develop", &git.find_commit(commit).expect("commit"), false)
        .expect("branch");
    let repo = crate::git::Repo::discover(dir.path()).expect("discover");
    (dir, repo)
}

#[test]
fn a_missing_base_branch_is_reported_at_its_value() {
    let (_dir, repo) = repo_with_branches();
    let config = ok(&with_task(
        "[project]\nmax_parallel = 2\nbase_branch = \"mian\"\n",
    ));
    let error = match check_base_branch(&config, &repo) {
        Ok(()) => panic!("a missing branch passed"),
        Err(error) => error,
    };
    assert_eq!(
        error.to_string(),
        r#"orch.toml:3:15: base branch "mian" does not exist (local branches: develop, main); did you mean "main"?"#
    );
    for good in ["main", "develop"] {
        let config = ok(&with_task(&format!("[project]\nbase_branch = {good:?}\n")));
        assert_eq!(check_base_branch(&config, &repo), Ok(()), "{good}");
    }
    // None named: nothing in the file to check.
    assert_eq!(check_base_branch(&ok(&with_task("")), &repo), Ok(()));
}

// ----- the error types ---------------------------------------------------

#[test]
fn error_display() {
    let at = ConfigError {
        file: PathBuf::from("dir/orch.toml"),
        line: 3,
        column: 7,
        message: "bad".into(),
    };
    assert_eq!(at.to_string(), "dir/orch.toml:3:7: bad");
    let whole = ConfigError::whole_file("dir/orch.toml", "cannot read: gone");
    assert_eq!(whole.to_string(), "dir/orch.toml: cannot read: gone");

    let mut late = at.clone();
    late.line = 10;
    late.column = 1;
    let mut same_line = at.clone();
    same_line.column = 2;
    let errors = ConfigErrors(vec![late, at, same_line]);
    assert_eq!(
        errors.to_string(),
        "dir/orch.toml:3:2: bad\ndir/orch.toml:3:7: bad\ndir/orch.toml:10:1: bad"
    );
    assert_eq!(ConfigErrors(Vec::new()).to_string(), "");
    let boxed: Box<dyn std::error::Error> = Box::new(errors);
    assert!(boxed.to_string().starts_with("dir/orch.toml:3:2"));
}

#[test]
fn load_unreadable_file() {
    let path = Path::new(FIXTURES).join("no-such-file.toml");
    let errors = match load(&path) {
        Ok(_) => panic!("loaded a missing file"),
        Err(errors) => errors,
    };
    assert_eq!(errors.len(), 1);
    let error = &errors.0[0];
    assert_eq!((error.line, error.column), (0, 0));
    assert_eq!(error.file, path);
    let shown = errors.to_string();
    assert!(
        shown.starts_with(&format!("{}: cannot read: ", path.display())),
        "{shown}"
    );
    // A directory cannot be read as a file either.
    assert!(load(Path::new(FIXTURES)).is_err());
}

// ----- fixtures ------------------------------------------------------------

#[test]
fn valid_fixtures_load() {
    let files = toml_files(&Path::new(FIXTURES).join("valid"));
    assert!(files.len() >= 3, "valid fixtures missing");
    for file in files {
        if let Err(errors) = parse(&read(&file), Path::new("orch.toml")) {
            panic!("{} should be valid:\n{errors}", file.display());
        }
    }
}

#[test]
fn invalid_fixtures_give_the_expected_errors() {
    crate::tomldoc::fixtures::check_invalid(&Path::new(FIXTURES).join("invalid"), 8, |file| {
        // Read as `load` does (a non-UTF-8 fixture is one of them), but
        // named orch.toml in the messages.
        let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
        let src =
            crate::tomldoc::text_of(bytes, Path::new("orch.toml")).map_err(|e| e.to_string())?;
        parse(&src, Path::new("orch.toml"))
            .map(drop)
            .map_err(|e| e.to_string())
    });
}

#[test]
fn writable_paths_are_relative_to_the_config_root() {
    let src = "[agents.sh]\ncommand = [\"sh\"]\nsandbox = \"best-effort\"\n\
               writable = [\"cache\", \"/abs\", \"../shared\"]\n\
               [[tasks]]\nid = \"t\"\nagent = \"sh\"\n";
    let config = match parse(src, Path::new("/repo/orch.toml")) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    let sh = &config.agents["sh"];
    assert_eq!(sh.sandbox, SandboxMode::BestEffort);
    assert_eq!(
        sh.writable,
        [
            PathBuf::from("/repo/cache"),
            PathBuf::from("/abs"),
            PathBuf::from("/repo/../shared"),
        ]
    );
    // Without the key, no sandbox and nothing extra.
    let plain = ok(&with_task(""));
    assert_eq!(plain.agents["sh"].sandbox, SandboxMode::None);
    assert!(plain.agents["sh"].writable.is_empty());
}

#[test]
fn a_config_loaded_by_a_relative_path_has_an_absolute_root() {
    // Tests run in the crate's directory, whose orch.toml is the demo plan.
    let config = load(Path::new("orch.toml")).expect("the demo plan loads");
    assert!(config.root.is_absolute(), "{}", config.root.display());
    assert_eq!(
        config.root,
        std::env::current_dir().expect("cwd"),
        "the root is where the file is"
    );
}
