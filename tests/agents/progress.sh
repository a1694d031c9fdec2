#!/bin/sh
# Works without printing, as `claude --print` does before it answers, and
# tells orch how far it is instead: `orch heartbeat --progress PCT --note`
# after each of STEPS steps (DELAY seconds each), so the control room shows
# the percentage and the note and the silence is never taken for a stall.
# The orch binary is $ORCH_BIN (orch sets it).
#   progress.sh [STEPS] [DELAY]
steps=${1:-5}
delay=${2:-0.5}
task=${ORCH_TASK_ID:-task}
orch=${ORCH_BIN:-orch}
echo "working quietly on $task"
i=1
while [ "$i" -le "$steps" ]; do
    sleep "$delay"
    echo "part $i of $task" >> "notes-$task.md"
    "$orch" heartbeat --progress "$((i * 100 / steps))" --note "part $i of $steps written" || exit 3
    i=$((i + 1))
done
echo "done: notes-$task.md"
