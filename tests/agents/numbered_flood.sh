#!/bin/sh
# Prints numbered 60-column lines as fast as it can, for ever; the number
# tells how far it got.
exec seq -f '%09.0f the quick brown fox jumps over the lazy dog 012345' 1 999999999999
