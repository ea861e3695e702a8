#!/bin/sh
# A click counter everyone shares: run with --shared --shared-prefix
# --shared-events, so one copy of this script serves every browser.
#
# stdin, one line each:  "!open<TAB>ID<TAB>ADDRESS", "!close<TAB>ID", "ID<TAB>click"
# stdout:                "count N" and "online N" go to every browser;
#                        "@ID<TAB>count N" to one (the newcomer) only.
#
# counter.sh [FILE]: keep the count in FILE, so that it survives restarts.
# printf and echo are shell built-ins that write each line at once, so
# nothing waits in a buffer; the loop ends when wsbridge closes stdin.
state=$1
count=0
if [ -n "$state" ] && [ -r "$state" ]; then
    read -r count <"$state" || true
    case $count in '' | *[!0-9]*) count=0 ;; esac
fi
online=0
tab=$(printf '\t')

while IFS=$tab read -r who what _; do
    case $who in
    '!open')
        online=$((online + 1))
        printf '@%s\tcount %s\n' "$what" "$count"
        echo "online $online"
        ;;
    '!close')
        online=$((online - 1))
        echo "online $online"
        ;;
    *)
        [ "$what" = click ] || continue
        count=$((count + 1))
        echo "count $count"
        if [ -n "$state" ]; then echo "$count" >"$state"; fi
        ;;
    esac
done
