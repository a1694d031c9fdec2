#!/bin/sh
# Says "waiting", waits for the file GO to exist, prints LINES numbered
# lines of 200 columns, says "history printed", leaves a file GO.done-PID
# and sleeps.
#   history.sh GO [LINES]
echo waiting
while [ ! -e "$1" ]; do sleep 0.1; done
filler=$(printf 'the quick brown fox jumps over the lazy dog %.0s' 1 2 3 4 5 | cut -c1-190)
seq -f "%09.0f $filler" 1 "${2:-10000}"
echo "history printed"
: > "$1.done-$$"
exec sleep 600
