#!/bin/sh
# An agent that hands what it found on to another task's agent, as one
# agent of a team tells the next "the schema is ready": a coloured status
# line, a pause while it "reads the code", then two messages through orch
# (`orch msg send --to TASK`), the second several lines long and given on
# stdin, printing what orch answered. The orch binary is $ORCH_BIN.
#   messenger.sh TO
set -e
to=$1
printf '\033[1;34m●\033[0m reading the schema\033[2m…\033[0m\n'
sleep 0.3
"$ORCH_BIN" msg send --to "$to" "schema: users(id, name)"
printf 'columns:\n  id integer\n  name text\n' | "$ORCH_BIN" msg send --to "$to"
printf '\033[32m✓\033[0m told %s\n' "$to"
