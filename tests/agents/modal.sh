#!/bin/sh
# Sets its terminal up as full-screen programs do (application cursor and
# keypad keys, mouse reports, bracketed paste, the cursor hidden), then
# echoes every line typed to it.
printf '\033[?1h\033=\033[?1000h\033[?1006h\033[?2004h\033[?25l'
echo "modes on"
while read -r line; do
    echo "you typed: $line"
done
