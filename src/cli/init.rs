//! `orch init`: a commented `orch.toml` for the repository here, with the
//! agent CLIs found on PATH. It never overwrites a file, and what it writes
//! is loaded back before it says it is done, so a first `orch` runs.

use std::path::Path;

use crate::agent::which::find_program;

/// An agent CLI orch knows, as `orch init` writes it.
struct Known {
    /// The program on PATH, and the agent's name in the file.
    program: &'static str,
    kind: &'static str,
    /// The command, `{prompt}` included: each starts an interactive
    /// session with the task's prompt, so you can attach and answer.
    command: &'static str,
    /// A comment line on running it without anyone to answer.
    headless: &'static str,
}

const KNOWN: [Known; 4] = [
    Known {
        program: "claude",
        kind: "claude-code",
        command: r#"["claude", "{prompt}"]"#,
        headless: r#"headless: ["claude", "--print", "{prompt}"] ends when it answered"#,
    },
    Known {
        program: "codex",
        kind: "codex",
        command: r#"["codex", "{prompt}"]"#,
        headless: r#"headless: ["codex", "exec", "{prompt}"] ends when it answered"#,
    },
    Known {
        program: "aider",
        kind: "aider",
        command: r#"["aider", "--message", "{prompt}"]"#,
        headless: "--message runs the prompt and exits; add --yes-always to answer its questions",
    },
    Known {
        program: "gemini",
        kind: "gemini",
        command: r#"["gemini", "--prompt-interactive", "{prompt}"]"#,
        headless: r#"headless: ["gemini", "--prompt", "{prompt}"] ends when it answered"#,
    },
];

pub fn run(config_path: &Path) -> i32 {
    if config_path.exists() {
        eprintln!(
            "orch: {} exists already; orch init never overwrites it (edit it, or move it away first)",
            config_path.display()
        );
        return 2;
    }
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let repo = match crate::git::Repo::discover(dir) {
        Ok(repo) => repo,
        Err(err) => {
            eprintln!(
                "orch: {err}; orch init writes a plan for a git repository (`git init` first)"
            );
            return 2;
        }
    };
    let base = repo.current_branch().ok();
    let found: Vec<&Known> = KNOWN
        .iter()
        .filter(|k| find_program(k.program, dir, None).is_some())
        .collect();
    let text = plan_text(base.as_deref(), &found);
    if let Err(err) = write_new(config_path, &text) {
        eprintln!("orch: cannot write {}: {err}", config_path.display());
        return 1;
    }
    if let Err(err) = crate::config::load(config_path) {
        // A bug of this module: say so and leave the file to look at.
        eprintln!("orch: the plan orch init wrote does not load (please report it):\n{err}");
        return 1;
    }
    let agents = if found.is_empty() {
        "no agent CLI found on PATH (claude, codex, aider, gemini): the first task runs a shell command"
            .to_string()
    } else {
        let names: Vec<&str> = found.iter().map(|k| k.program).collect();
        format!("agents found: {}", names.join(", "))
    };
    println!(
        "wrote {} ({agents}).\nEdit its task, then `orch check` and `orch` to run it.",
        config_path.display()
    );
    0
}

/// Create `path`, failing if it appeared meanwhile.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The file's text: project, defaults, one agent per CLI found (each
/// falling back to the next, the last to the shell), and a first task.
fn plan_text(base: Option<&str>, found: &[&Known]) -> String {
    let mut out = String::from(HEADER);
    out.push_str("[project]\n");
    match base {
        Some(branch) => out.push_str(&format!(
            "base_branch  = {}      # worktrees branch from here; merges land here\n",
            toml_string(branch)
        )),
        None => out.push_str(
            "# base_branch = \"main\"   # default: the branch checked out when orch starts\n",
        ),
    }
    out.push_str(PROJECT_REST);
    for (n, known) in found.iter().enumerate() {
        out.push_str(&format!(
            "\n[agents.{name}]\ncommand  = {command}\n# {headless}\nkind     = \"{kind}\"   # its hooks, screen and resume\n",
            name = known.program,
            command = known.command,
            headless = known.headless,
            kind = known.kind,
        ));
        if let Some(next) = found.get(n + 1) {
            out.push_str(&format!(
                "fallback = \"{}\"   # used when {} is not installed\n",
                next.program, known.program
            ));
        }
    }
    out.push_str(SHELL_AGENT);
    let first = found.first().map_or("shell", |k| k.program);
    let prompt = if found.is_empty() {
        "echo 'hello from orch' > HELLO.md && git add HELLO.md && git commit -qm 'Say hello'"
    } else {
        "Read the README and add a section on how to run the tests. Commit your work."
    };
    out.push_str(&format!(
        "{TASK_HEAD}id     = \"first\"\nagent  = \"{first}\"\nprompt = {}\n{TASK_TAIL}",
        toml_string(prompt)
    ));
    out
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const HEADER: &str = "\
# orch's plan for this repository, written by `orch init`.
#
# Each [[tasks]] entry runs one agent in its own pseudo-terminal, git
# worktree (.orch/worktrees/ID) and branch (orch/ID), after the tasks it
# depends on (it starts from their work). `orch` opens the control room
# (`?` lists the keys, Enter attaches to an agent, Ctrl-] detaches);
# `orch --no-tui` runs the same plan headless; `orch check` validates this
# file and finds each agent's program. State lives in .orch/state.db (git
# ignores it): an interrupted run resumes.

";

const PROJECT_REST: &str = "\
max_parallel = 2          # agents running at once

[defaults]                # every task's, unless the task says otherwise
retries = 1               # attempts after the first failed one
timeout = \"30m\"           # an attempt running longer is stopped
heartbeat_stall = \"10m\"   # no output, file change or heartbeat this long: stopped and retried
merge   = \"manual\"        # auto | manual | never: how a done task's branch reaches base_branch
";

const SHELL_AGENT: &str = "
# Any program is an agent: {prompt} {task_id} {worktree} {branch} are filled in.
[agents.shell]
command = [\"sh\", \"-c\", \"{prompt}\"]
";

const TASK_HEAD: &str = "
[[tasks]]
";

const TASK_TAIL: &str = "\
# depends_on = [\"other\"]   # tasks that must be done first
# approval   = \"before_start\"   # wait for `a` in the control room or `orch approve first`
# risk       = \"high\"      # low | medium | high | critical; high and critical wait for approval to start

# [[tasks]]
# id         = \"review\"
# agent      = \"shell\"
# prompt     = \"git log --oneline -5\"
# depends_on = [\"first\"]
";
