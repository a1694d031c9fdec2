#!/bin/sh
# Tries to approve TASK (a gated task waiting to start) three ways, and its
# own task once, each answer (exit status, what orch said) a line of
# LEDGER: with its ORCH_TOKEN, with ORCH_TOKEN unset, from an orphaned
# grandchild that called setsid (its own session, no terminal, its parent
# gone: reparented to orch), and its own task with the token; then waits
# until GO exists.
#   approver.sh ORCH CONFIG TASK LEDGER GO
orch="$1"
said=$("$orch" --config "$2" approve "$3" --reason "agent with token" 2>&1)
echo "token $? $said" >> "$4"
said=$(env -u ORCH_TOKEN "$orch" --config "$2" approve "$3" --reason "agent without token" 2>&1)
echo "no-token $? $said" >> "$4"
(
    setsid sh -c "said=\$(env -u ORCH_TOKEN '$orch' --config '$2' approve '$3' 2>&1); echo \"setsid \$? \$said\" >> '$4'" \
        </dev/null >/dev/null 2>&1 &
)
while ! grep -q '^setsid ' "$4" 2>/dev/null; do sleep 0.1; done
said=$("$orch" --config "$2" approve "$ORCH_TASK_ID" 2>&1)
echo "own $? $said" >> "$4"
echo "tried"
while [ ! -e "$5" ]; do sleep 0.1; done
