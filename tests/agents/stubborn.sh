#!/bin/sh
# Ignores SIGTERM and SIGHUP; only SIGKILL stops it.
#   stubborn.sh [PIDFILE]
trap '' TERM HUP
[ -n "$1" ] && echo $$ > "$1"
echo "you cannot stop me"
while :; do sleep 1; done
