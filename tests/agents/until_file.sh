#!/bin/sh
# Works until FILE exists (the test says when it is finished), then ends.
#   until_file.sh FILE
echo "waiting for $(basename "$1")"
while [ ! -e "$1" ]; do sleep 0.1; done
echo "released"
