#!/bin/sh
# Fails until attempt N, then succeeds: exercises retries with backoff.
#   flaky.sh [SUCCEED_ON_ATTEMPT]
want=${1:-2}
attempt=${ORCH_ATTEMPT:-1}
if [ "$attempt" -lt "$want" ]; then
    printf '\033[31mattempt %s: flaky network, crashing\033[0m\n' "$attempt"
    exit 7
fi
printf '\033[32mattempt %s: worked this time\033[0m\n' "$attempt"
echo "fixed on attempt $attempt" > "flaky-${ORCH_TASK_ID:-task}.txt"
