#!/bin/sh
# A well-behaved agent: thinks out loud with colour and a spinner (cursor
# moves), edits files in its worktree, and finishes. Leaves its changes
# uncommitted, as many agents do; orch commits them on the task branch.
#   worker.sh [STEPS] [DELAY]
steps=${1:-5}
delay=${2:-0.1}
task=${ORCH_TASK_ID:-task}
printf '\033[1;36m%s\033[0m starting on \033[33m%s\033[0m (attempt %s)\n' "worker" "$task" "${ORCH_ATTEMPT:-1}"
i=1
while [ "$i" -le "$steps" ]; do
    for frame in '|' '/' '-' '\'; do
        printf '\r\033[K\033[2m%s\033[0m step %d/%d' "$frame" "$i" "$steps"
    done
    sleep "$delay"
    printf '\r\033[K\033[32m✓\033[0m step %d/%d done\n' "$i" "$steps"
    echo "step $i of $task" >> "notes-$task.md"
    i=$((i + 1))
done
printf 'wrote \033[4mnotes-%s.md\033[0m\n' "$task"
printf '\033[1;32mdone\033[0m\n'
