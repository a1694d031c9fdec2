#!/bin/sh
# Prints 6,000 numbered rows, then one line of 120 characters (wider than
# an 80-column terminal, so it wraps there) and "ready", and waits as an
# agent that has had its say.
seq -f 'row %05g of the log' 1 6000
echo "begin-$(printf '%0.s0123456789' 1 2 3 4 5 6 7 8 9 10 11)-end"
echo ready
exec sleep 600
