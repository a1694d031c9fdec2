#!/bin/sh
# Echoes every key it is sent as soon as it arrives (raw mode, its own
# echo, as an interactive agent draws what is typed), after a "ready" line.
stty raw -echo
printf 'ready\r\n'
exec cat
