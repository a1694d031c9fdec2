#!/bin/sh
# An agent that waits to be told something by another task's agent, as one
# told "start once the schema is ready" does: it polls orch for messages
# (`orch msg poll --wait`) until it has read WANT of them, keeps what it
# read in inbox.txt, shows it and commits it. With `lose-first`, its first
# poll cannot print (its stdout is a full disk, as when a tool's output
# breaks): orch must hand those messages out again. The orch binary is
# $ORCH_BIN.
#   inbox.sh WANT [lose-first]
want=$1
printf '\033[1mwaiting for %s message(s)\033[0m\n' "$want"
if [ "$2" = lose-first ]; then
    if "$ORCH_BIN" msg poll --wait 20s >/dev/full 2>/dev/null; then
        echo "the first poll printed to a full disk?"
        exit 1
    fi
    echo "the first poll could not print; its messages stay unread"
fi
: > inbox.txt
polls=0
while [ "$(grep -c '^#' inbox.txt)" -lt "$want" ]; do
    polls=$((polls + 1))
    if [ "$polls" -gt 20 ]; then
        echo "gave up after $polls polls with $(grep -c '^#' inbox.txt) message(s)"
        exit 1
    fi
    "$ORCH_BIN" msg poll --wait 10s >> inbox.txt || exit 3
done
cat inbox.txt
git add inbox.txt
git -c user.name=agent -c user.email=agent@example.com commit -q -m "what $ORCH_TASK_ID was told"
