#!/usr/bin/env bash
# Asks its terminal the questions real agents ask at start-up, then prints
# the answers it got:
#  - the cursor position (CSI 6 n): terminal UIs built on crossterm, Codex
#    CLI among them, wait for it before drawing;
#  - the primary device attributes (CSI c), which many TUIs use to learn
#    whether the terminal answers at all;
#  - the background colour (OSC 11 ; ?), which Claude Code uses to pick a
#    light or dark theme.
# Each answer is read with a timeout, as those programs do; "timeout" is
# printed for a question nobody answered.
#   queries.sh
stty raw -echo 2>/dev/null
ask() { # ask QUESTION TERMINATOR
    printf '%b' "$1" >/dev/tty
    local answer
    if IFS= read -r -s -d "$2" -t 3 answer </dev/tty; then
        printf '%q' "$answer"
    else
        printf timeout
    fi
}
printf 'ready'
cpr=$(ask '\033[6n' R)
da=$(ask '\033[c' c)
bg=$(ask '\033]11;?\033\\' '\')
stty sane 2>/dev/null
printf '\r\ncpr=%s\r\nda=%s\r\nbg=%s\r\n' "$cpr" "$da" "$bg"
