#!/bin/sh
# An agent whose work builds on its dependencies': it reads each file named
# in its arguments (the dependencies' output, which must be in its
# worktree), fails loudly if one is missing, and writes its own output
# file, built from them. Leaves its change uncommitted, as many agents do.
#   builder.sh [FILE...]
task=${ORCH_TASK_ID:-task}
printf '\033[1;36mbuilder\033[0m %s: reading %d input(s)\n' "$task" "$#"
for input in "$@"; do
    if [ ! -f "$input" ]; then
        printf '\033[31mmissing %s\033[0m: my dependency'"'"'s work is not here\n' "$input"
        exit 4
    fi
    printf '  read \033[33m%s\033[0m\n' "$input"
done
{
    echo "output of $task"
    for input in "$@"; do echo "built on $input"; done
} > "out-$task.txt"
printf '\033[32mwrote\033[0m out-%s.txt\n' "$task"
