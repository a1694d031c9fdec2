#!/bin/sh
# For the heartbeat bench: times COUNT heartbeats of its own (the fork and
# exec of orch included) into OUT as "inside NANOSECONDS COUNT", then
# writes what it was given to reach orch to ENVFILE (ORCH_SOCKET and
# ORCH_TOKEN, a line each) and works until GO exists.
#   heartbeat_env.sh ORCH COUNT OUT ENVFILE GO
start=$(date +%s%N)
i=0
while [ "$i" -lt "$2" ]; do
    "$1" heartbeat --progress $((i % 101)) || exit 3
    i=$((i + 1))
done
end=$(date +%s%N)
echo "inside $((end - start)) $2" > "$3"
printf '%s\n%s\n' "$ORCH_SOCKET" "$ORCH_TOKEN" > "$4.part"
mv "$4.part" "$4"
while [ ! -e "$5" ]; do sleep 0.1; done
