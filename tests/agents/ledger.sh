#!/bin/sh
# Records each start in a ledger file outside the worktree (so tests can
# count how often a task really ran), then works for a while.
#   ledger.sh LEDGER [SECONDS]
echo "${ORCH_TASK_ID:-task} ${ORCH_ATTEMPT:-1}" >> "$1"
secs=${2:-0}
i=0
while [ "$i" -lt "$secs" ]; do
    printf 'working %d/%d\n' "$i" "$secs"
    sleep 1
    i=$((i + 1))
done
# One file per task: tasks that depend on each other merge their work.
echo "${ORCH_TASK_ID:-task}" > "done-${ORCH_TASK_ID:-task}.txt"
echo done
