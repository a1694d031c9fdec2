#!/bin/sh
# Starts helpers that outlive a naive kill: one in its own session, one in
# the background; writes their pids to PIDFILE, then waits.
#   spawner.sh PIDFILE
setsid sleep 3600 &
echo $! >> "$1"
sleep 3600 &
echo $! >> "$1"
echo "helpers started"
wait
