#!/bin/sh
# Prints as fast as it can: coloured lines, then plain numbers.
#   flood.sh [LINES]
n=${1:-200000}
i=0
while [ "$i" -lt 50 ]; do
    printf '\033[3%dmline %d of colour\033[0m\n' $((i % 7 + 1)) "$i"
    i=$((i + 1))
done
seq 1 "$n"
echo "flood finished"
