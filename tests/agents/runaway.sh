#!/bin/sh
# An agent that tries to flood the plan: it asks for COUNT subtasks (every
# attempt), reports how each request was answered, and ends well whatever
# orch said. The orch binary is $ORCH_BIN; the config comes from ORCH_CONFIG.
#   runaway.sh COUNT
n=1
while [ "$n" -le "${1:-10}" ]; do
    if out=$("$ORCH_BIN" task add --parent "$ORCH_TASK_ID" --id "$ORCH_TASK_ID-$n" \
        --agent sh --prompt "echo $n > part-$n.txt" 2>&1); then
        echo "add $n: ok: $out"
    else
        echo "add $n: refused: $out"
    fi
    n=$((n + 1))
done
