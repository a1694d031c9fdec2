#!/bin/sh
# Streams a coloured build log for SECONDS seconds, as a compiler or a test
# runner does: a line per unit compiled, a warning now and then, and a
# progress bar redrawn in place on the last line (carriage return, no
# newline), then a summary. Something to attach to and scroll back in.
#   build_log.sh [SECONDS]   (default 60)
seconds=${1:-60}
steps=$((seconds * 5))
[ "$steps" -lt 1 ] && steps=1
i=1
while [ "$i" -le "$steps" ]; do
    # The bar: 30 cells, filled in proportion.
    filled=$((i * 30 / steps))
    bar=$(printf '%*s' "$filled" '' | tr ' ' '#')
    rest=$(printf '%*s' "$((30 - filled))" '' | tr ' ' '-')
    printf '\r\033[2K   \033[1;32mCompiling\033[0m unit-%03d v0.%d.0\n' "$i" "$((i % 7))"
    if [ $((i % 23)) -eq 0 ]; then
        printf '\033[1;33mwarning\033[0m: unused variable `x%d` in unit-%03d\n' "$i" "$i"
    fi
    printf '\033[1;36m    Building\033[0m [%s%s] %d/%d' "$bar" "$rest" "$i" "$steps"
    sleep 0.2
    i=$((i + 1))
done
printf '\r\033[2K    \033[1;32mFinished\033[0m release profile in %ss (%d units)\n' "$seconds" "$steps"
echo "built $steps units" > build-report.md
