#!/bin/sh
# An agent run with a sandbox (the demo's `sandbox = "best-effort"`): it
# works in its worktree, then tries to leave a file outside it, in orch's
# state directory (never the user's files), and says what the kernel did:
# refused where Landlock confines it; where the kernel has no Landlock the
# write works, the file is removed again, and the agent says it ran
# unconfined (orch's details dialog shows the level it got).
#   fenced.sh
task=${ORCH_TASK_ID:-task}
echo "notes of $task, written inside the worktree" > "notes-$task.md"
probe="${ORCH_WORKTREE:-.}/../../sandbox-probe-$task"
if (echo probe > "$probe") 2>/dev/null; then
    rm -f "$probe"
    printf '\033[33mno sandbox here:\033[0m writing outside the worktree worked (removed again)\n'
else
    printf '\033[32msandboxed:\033[0m writing outside the worktree was refused by the kernel\n'
fi
