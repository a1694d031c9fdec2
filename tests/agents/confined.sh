#!/bin/sh
# An agent run with sandbox = "worktree": it writes where it may (its
# worktree, the temp directory, a commit on its own branch) and tries where
# it must not (the user's checkout, a sibling task's worktree, the shared
# git config, hooks, another branch's ref, the user's index; moving another
# task's branch with git, which git refuses for want of its reflog, while
# writing that ref file directly is the exposure docs/ARCHITECTURE.md
# states, not tried here). Each outcome
# is a line of sandbox-report.txt in its worktree: "wrote NAME" (it
# worked) or "denied NAME"; the errors the shell saw go to
# sandbox-errors.txt.
#
# Needs CHECKOUT (the user's checkout), SIBLING (another task's worktree)
# and PROBE_TMP (a file to create in the temp directory) in its environment;
# it starts in its worktree.
report="$PWD/sandbox-report.txt"
errors="$PWD/sandbox-errors.txt"
: >"$report"
COMMON=$(git rev-parse --path-format=absolute --git-common-dir) || exit 1
export COMMON

attempt() {
    name=$1
    shift
    if (eval "$*") 2>>"$errors"; then
        echo "wrote $name" >>"$report"
    else
        echo "denied $name" >>"$report"
    fi
}

attempt worktree 'echo mine > work.txt'
attempt tmp 'echo scratch > "$PROBE_TMP"'
attempt dev-null 'echo nothing > /dev/null'
attempt tty 'stty size < /dev/tty > /dev/null'
attempt commit 'git add work.txt && git -c user.name=agent -c user.email=agent@example.com commit -q -m "agent: work"'
attempt checkout 'echo pwned >> "$CHECKOUT/README.md"'
attempt checkout-new 'echo pwned > "$CHECKOUT/new-file"'
attempt sibling 'echo pwned >> "$SIBLING/README.md"'
attempt config 'echo "[core] pwned = true" >> "$COMMON/config"'
attempt hooks 'echo "#!/bin/sh" > "$COMMON/hooks/x"'
attempt main-ref 'git update-ref refs/heads/main HEAD'
attempt sibling-ref 'git update-ref refs/heads/orch/sibling HEAD'
attempt main-ref-file 'echo 0000000000000000000000000000000000000000 > "$COMMON/refs/heads/main"'
attempt index 'echo pwned >> "$COMMON/index"'
attempt truncate 'truncate -s 0 "$CHECKOUT/README.md"'
grep NoNewPrivs /proc/self/status >>"$report"
exit 0
