#!/bin/sh
# Says one thing, then goes quiet for a long time (a hung or thinking agent).
#   silent.sh [SECONDS]
echo "thinking..."
sleep "${1:-3600}"
echo "woke up"
