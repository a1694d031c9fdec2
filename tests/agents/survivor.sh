#!/bin/sh
# Its first attempt starts helpers that a lost terminal does not stop (one
# in a session of its own, one that ignores SIGHUP), writes their pids and
# its own to PIDFILE, and works for a long time; later attempts finish at
# once. Each start is recorded in LEDGER.
#   survivor.sh LEDGER PIDFILE
echo "${ORCH_TASK_ID:-task} ${ORCH_ATTEMPT:-1}" >> "$1"
if [ "${ORCH_ATTEMPT:-1}" = 1 ]; then
    setsid sleep 300 &
    echo $! >> "$2"
    (trap '' HUP; exec sleep 300) &
    echo $! >> "$2"
    echo $$ >> "$2"
    echo "helpers started"
    sleep 300
fi
echo "${ORCH_TASK_ID:-task}" > "done-${ORCH_TASK_ID:-task}.txt"
echo done
