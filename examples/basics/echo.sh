#!/bin/sh
# The tutorial's program: exec mode starts one copy per browser connection.
# Every line it prints is a message to that browser, every message from the
# browser is a line on its stdin. "bye" makes it exit, which closes the
# connection with code 1000; when the browser goes away, stdin ends and so
# does the loop.
echo "hello, this is process $$ talking to ${REMOTE_ADDR:-you}"
while IFS= read -r line; do
    if [ "$line" = bye ]; then
        echo "goodbye"
        exit 0
    fi
    printf 'echo: %s\n' "$line"
done
