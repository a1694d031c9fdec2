#!/bin/sh
# Works behind a coloured spinner for a while, then asks a yes/no question
# and waits without reading its terminal (a program that polls some other
# way, or is stuck): only its screen says it waits. The spinner's frames
# end in a question mark with the cursor right after it, as a prompt's
# would: read before they settle, any of them would pass for a question.
i=0
while [ $i -lt 15 ]; do
  for f in '⠋' '⠙' '⠹' '⠸'; do
    printf '\r\033[36m%s\033[0m resolving (%d): which files changed?' "$f" "$i"
    sleep 0.03
  done
  i=$((i + 1))
done
printf '\r\033[2K\033[32mgenerated 3 files\033[0m\n'
printf 'Delete 3 generated files? \033[1m[y/N]\033[0m '
sleep 60
