#!/bin/sh
# Live notifications: every line appended to FILE goes to every browser.
# Run with --shared, so one tail serves everyone:
#
#   notify.sh [FILE]        (default /tmp/wsbridge-notifications.txt)
#   echo "Backup finished" >> /tmp/wsbridge-notifications.txt
#
# tail -F follows the file by name: it may not exist yet, and it may be
# rotated or truncated. -n 0 starts at the end: browsers see what is added
# from now on. stdbuf -oL: each line is written at once, whatever tail's
# buffering on a pipe.
file=${1:-/tmp/wsbridge-notifications.txt}
# tail follows a file that exists at once; one that does not exist yet it
# only polls for, once a second (GNU tail): create it when we may.
[ -e "$file" ] || : >>"$file" 2>/dev/null

stdbuf -oL tail -n 0 -F -- "$file" &
tail_pid=$!
# What browsers send is of no use here; when wsbridge closes our stdin (it
# is stopping), stop tail too.
cat >/dev/null
kill "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null
exit 0
