#!/bin/sh
# Asks the user a question and waits for the answer on its terminal.
printf '\033[1mShall I proceed? [y/N]\033[0m '
read -r answer
echo "you said: $answer"
[ "$answer" = "y" ] && echo "proceeding" > "answer-${ORCH_TASK_ID:-task}.txt"
echo bye
