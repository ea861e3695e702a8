#!/usr/bin/env python3
"""A chat room for wsbridge's shared mode: one process for every client.

Run it with --shared --shared-prefix --shared-events. It reads, one per line:

  !open<TAB>ID<TAB>ADDRESS    a client connected (wsbridge's connection id)
  !close<TAB>ID               it went away
  ID<TAB>TEXT                 it sent TEXT

and prints JSON objects, one per line: a plain line goes to every client,
a line "@ID<TAB>..." to that client only. A JSON object starts with "{", so
no broadcast can be mistaken for an addressed line.

What clients send: "/nick NAME" to join (or rename), anything else is said
to the room (a client that never named itself joins as guest-ID). What they
get: {"type": "welcome"|"join"|"leave"|"nick"|"message"|"error", ...}.

When wsbridge restarts this program (it crashed), it repeats an !open line
for every client still connected: each gets a new welcome and names itself
again, so the room comes back by itself.
"""

import collections
import json
import os
import sys
import time
import unicodedata

MAX_TEXT = 1000  # characters of one message
MAX_NICK = 24
HISTORY = 20  # messages a newcomer gets in its welcome

clients = {}  # id -> {"nick": str or None, "address": str}
history = collections.deque(maxlen=HISTORY)


def out(obj, to=None):
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write(f"@{to}\t{line}\n" if to is not None else line + "\n")
    sys.stdout.flush()  # a pipe is block-buffered: every line must go out now


def clean(text, limit):
    """No control characters (a tab or newline is a space), at most `limit` characters."""
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    return " ".join(text.split())[:limit]


def users():
    return sorted(c["nick"] for c in clients.values() if c["nick"])


def unique(nick, me):
    taken = {c["nick"].casefold() for i, c in clients.items() if c["nick"] and i != me}
    name, n = nick, 1
    while name.casefold() in taken:
        n += 1
        name = f"{nick[:MAX_NICK - len(str(n)) - 1]}-{n}"
    return name


def set_nick(cid, wanted):
    c = clients[cid]
    nick = unique(clean(wanted, MAX_NICK) or f"guest-{cid}", cid)
    old, c["nick"] = c["nick"], nick
    if old is None:
        out({"type": "join", "id": cid, "nick": nick, "users": users()})
    elif old != nick:
        out({"type": "nick", "id": cid, "old": old, "nick": nick, "users": users()})


def said(cid, text):
    if cid not in clients:  # cannot happen with --shared-events; be forgiving
        clients[cid] = {"nick": None, "address": ""}
    if text.startswith("/nick"):
        set_nick(cid, text[5:])
        return
    if text.startswith("/"):
        out({"type": "error", "text": "unknown command (try /nick NAME)"}, to=cid)
        return
    text = clean(text, MAX_TEXT)
    if not text:
        return
    if clients[cid]["nick"] is None:
        set_nick(cid, "")
    msg = {"type": "message", "id": cid, "nick": clients[cid]["nick"], "text": text,
           "time": time.strftime("%H:%M")}
    history.append(msg)
    out(msg)


def main():
    for line in sys.stdin:  # ends when wsbridge closes stdin
        fields = line.rstrip("\n").split("\t", 2)
        if fields[0] == "!open" and len(fields) == 3:
            cid = fields[1]
            clients[cid] = {"nick": None, "address": fields[2]}
            out({"type": "welcome", "id": cid, "users": users(), "history": list(history)},
                to=cid)
        elif fields[0] == "!close" and len(fields) == 2:
            c = clients.pop(fields[1], None)
            if c and c["nick"]:
                out({"type": "leave", "id": fields[1], "nick": c["nick"], "users": users()})
        elif len(fields) >= 2 and fields[0].isdigit():
            said(fields[0], "\t".join(fields[1:]))


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        # wsbridge went away: exit quietly (no second error at shutdown)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
