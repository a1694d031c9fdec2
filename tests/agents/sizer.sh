#!/usr/bin/env bash
# Tells its terminal's size when it starts and whenever it changes (looked
# at five times a second), and echoes every line typed to it.
#   sizer.sh [PIDFILE]
[ -n "$1" ] && echo $$ > "$1"
last=
while :; do
    now=$(stty size)
    if [ "$now" != "$last" ]; then
        echo "size=${now/ /x}"
        last=$now
    fi
    if read -r -t 0.2 line; then
        echo "you typed: $line"
    elif [ $? -le 128 ]; then
        exit 0
    fi
done
