#!/bin/sh
# Prints nothing after its first line: it tells orch how far it is with
# `orch heartbeat` (progress and a note) every half second, COUNT times,
# then says 100% and waits until GO exists.
#   heartbeats.sh ORCH COUNT GO
orch="$1"
echo "working quietly"
i=1
while [ "$i" -le "$2" ]; do
    "$orch" heartbeat --progress "$((i * 90 / $2))" --note "step $i of $2" || exit 3
    sleep 0.5
    i=$((i + 1))
done
"$orch" heartbeat --progress 100 --note "all steps done" || exit 3
while [ ! -e "$3" ]; do
    "$orch" heartbeat || exit 3
    sleep 0.5
done
