#!/bin/sh
# An agent asked to resolve a merge conflict, as orch hands one back
# (`orch task resolve`): the base is merged into its worktree with the
# conflict markers left in place and its prompt names the files. It keeps
# both sides of each conflict (drops the marker lines), like a careful
# human would for independent additions. On a first attempt (no markers
# anywhere) it makes its change: it appends LINE to FILE. CONFLICTS is what
# orch puts for `{conflicts}` in the prompt (the files, comma-separated);
# without it the agent looks for markers itself.
#   resolver.sh FILE LINE [CONFLICTS]
file=$1
line=$2
if [ -n "$3" ]; then
    conflicted=$(echo "$3" | tr ',' '\n' | sed 's/^ *//')
else
    conflicted=$(grep -rl --exclude-dir=.git '^<<<<<<< ' . 2>/dev/null)
fi
if [ -n "$conflicted" ]; then
    for f in $conflicted; do
        printf '\033[33mresolving\033[0m %s\n' "$f"
        grep -v -e '^<<<<<<< ' -e '^=======$' -e '^>>>>>>> ' "$f" > "$f.resolved"
        mv "$f.resolved" "$f"
    done
    printf '\033[32mresolved\033[0m %s file(s)\n' "$(echo "$conflicted" | wc -l)"
    exit 0
fi
echo "$line" >> "$file"
printf 'appended to %s\n' "$file"
