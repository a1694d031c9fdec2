#!/usr/bin/env bash
# Asks a question on its terminal and waits for the answer, as an agent
# asking for a decision does: the control room shows it in "needs you"
# (the screen sees a question with the cursor right after it; a read with
# a timeout is not taken for one by the OS signal); attach with Enter and
# type the answer. Nobody answering for WAIT seconds takes
# the default, so a headless run goes on. Writes the choice and commits it.
#   choose.sh [WAIT]   (default 120 s)
wait=${1:-120}
task=${ORCH_TASK_ID:-task}
printf '\033[1;36m%s\033[0m: storage can use either database.\n' "$task"
printf '  \033[33msqlite\033[0m    one file, nothing to run\n'
printf '  \033[33mpostgres\033[0m  a server, for many writers\n'
printf '\033[1mWhich database shall I use, sqlite or postgres?\033[0m '
if read -t "$wait" -r answer; then
    :
else
    printf '\n\033[2mno answer in %ss: taking the default\033[0m\n' "$wait"
fi
case "$answer" in
    p*|P*) choice=postgres ;;
    *) choice=sqlite ;;
esac
echo "database: $choice" > "db-choice.md"
git add db-choice.md && git commit -qm "Choose $choice for storage" && printf '\033[32mchose %s\033[0m\n' "$choice"
