#!/bin/bash
# One process per browser tab: greet, tell the time every second, and
# answer every message. Everything printed on stdout becomes a message.
echo "hello ${REMOTE_ADDR:-there}, this is process $$"
while :; do
    if IFS= read -r -t 1 line; then
        echo "you said: $line"
    elif [ $? -gt 128 ]; then
        date '+time: %H:%M:%S'
    else
        exit 0 # the browser went away: stdin is closed
    fi
done
