#!/bin/sh
# Leaves an orphan: a subshell starts a `setsid sleep` (its own session,
# no terminal) and exits, so the sleep loses its parent and is reparented
# to the nearest subreaper. Writes the sleep's pid to PIDFILE, then works
# until GO exists.
#   orphaner.sh PIDFILE GO
(
    setsid sleep 300 </dev/null >/dev/null 2>&1 &
    echo $! > "$1.part"
    mv "$1.part" "$1"
)
echo "orphan started"
while [ ! -e "$2" ]; do sleep 0.1; done
echo "done"
