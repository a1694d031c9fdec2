#!/bin/sh
# Works behind a coloured spinner for a while, then asks a yes/no question
# and waits without reading its terminal (a program that polls some other
# way, or is stuck): only its screen says it waits.
i=0
while [ $i -lt 15 ]; do
  for f in '⠋' '⠙' '⠹' '⠸'; do
    printf '\r\033[36m%s\033[0m generating files (%d)' "$f" "$i"
    sleep 0.03
  done
  i=$((i + 1))
done
printf '\r\033[2K\033[32mgenerated 3 files\033[0m\n'
printf 'Delete 3 generated files? \033[1m[y/N]\033[0m '
sleep 60
