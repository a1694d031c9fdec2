#!/bin/sh
# An agent that splits its task into subtasks, as the seeds do: on its
# first attempt it adds three subtasks through orch (the second and third
# depending on the first) and ends; on the next one, run once they are
# done, their work is in its worktree: it checks that, writes the
# integration and commits it. Its prompt ($1) lists the subtasks
# ({children}). The orch binary is $ORCH_BIN; the subtasks' agent is
# $SUBTASK_AGENT (default sh, one whose prompt is a shell command).
#   decomposer.sh PROMPT
set -e
id=$ORCH_TASK_ID
add() {
    "$ORCH_BIN" task add --parent "$id" --agent "${SUBTASK_AGENT:-sh}" "$@"
}
if [ "${ORCH_ATTEMPT:-1}" = 1 ]; then
    # Committed first: a subtask starts from the branch as it stands.
    echo "plan of $id" > plan.md
    git add plan.md
    git -c user.name=agent -c user.email=agent@example.com commit -q -m "plan $id"
    add --id "$id-base" --prompt "cat plan.md > base.txt && echo base >> base.txt"
    add --id "$id-left" --depends-on "$id-base" --prompt "cp base.txt left.txt && echo left >> left.txt"
    add --id "$id-right" --depends-on "$id-base" --prompt "cp base.txt right.txt && echo right >> right.txt"
    echo "split into 3 subtasks"
    exit 0
fi
printf 'prompt:\n%s\n' "$1"
for part in base left right; do
    if [ ! -f "$part.txt" ]; then
        echo "missing $part.txt: the subtasks' work is not here"
        exit 1
    fi
    case "$1" in
    *"$id-$part: done"*) ;;
    *) echo "the prompt does not say $id-$part is done"; exit 1 ;;
    esac
done
cat base.txt left.txt right.txt > integration.txt
git add integration.txt
git -c user.name=agent -c user.email=agent@example.com commit -q -m "integrate the subtasks of $id"
echo "integrated"
