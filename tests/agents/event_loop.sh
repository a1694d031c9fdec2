#!/bin/sh
# An event loop on its terminal, as every TUI has one: says "ready" once in
# its loop, then waits in poll(2) (select(2) in perl) for a key or the next
# 1 s tick, forever.
if command -v python3 >/dev/null 2>&1; then
    exec python3 -c '
import select, sys
p = select.poll()
p.register(sys.stdin, select.POLLIN)
print("ready", flush=True)
while True:
    p.poll(1000)
'
fi
exec perl -e '$| = 1; print "ready\n"; while (1) { my $r = ""; vec($r, 0, 1) = 1; select($r, undef, undef, 1) }'
