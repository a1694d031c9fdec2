#!/bin/sh
# Works without a word, like `claude --print` before it answers: edits a
# file every few hundred milliseconds for SECONDS, then prints once.
#   quiet_writer.sh [SECONDS]
secs=${1:-3}
end=$(( $(date +%s) + secs ))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
    i=$((i + 1))
    echo "draft $i" > draft.md
    sleep 0.3
done
echo "finished after $i drafts"
