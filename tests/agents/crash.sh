#!/bin/sh
# Dies by a signal, as a crashing agent would.
#   crash.sh [SIGNAL]
echo "about to crash"
kill -"${1:-SEGV}" $$
