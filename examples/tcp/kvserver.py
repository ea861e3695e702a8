#!/usr/bin/env python3
"""A tiny line-based TCP service to put behind wsbridge's proxy mode.

  kvserver.py [--host 127.0.0.1] [--port 7000]

A key-value store shared by every connection. One command per line, one
answer per line:

  SET key value    -> OK
  GET key          -> VALUE value | NOT FOUND
  DEL key          -> OK | NOT FOUND
  KEYS             -> KEYS k1 k2 ... (sorted)
  HELP             -> the list of commands
  QUIT             -> BYE, then the service closes the connection

It greets every connection with "HELLO ..." and answers anything else with
"ERROR ...". It is plain TCP: try it with `nc 127.0.0.1 7000` too.
"""

import argparse
import socketserver
import sys
import threading

MAX_LINE = 4096
HELP = "COMMANDS SET key value | GET key | DEL key | KEYS | HELP | QUIT"

store = {}
lock = threading.Lock()


def answer(line):
    """The reply to one command line, and whether to close afterwards."""
    words = line.split(None, 2)
    cmd = words[0].upper() if words else ""
    args = words[1:]
    with lock:
        if cmd == "SET" and len(args) == 2:
            store[args[0]] = args[1]
            return "OK", False
        if cmd == "GET" and len(args) == 1:
            return (f"VALUE {store[args[0]]}" if args[0] in store else "NOT FOUND"), False
        if cmd == "DEL" and len(args) == 1:
            return ("OK" if store.pop(args[0], None) is not None else "NOT FOUND"), False
        if cmd == "KEYS" and not args:
            return " ".join(["KEYS", *sorted(store)]), False
    if cmd == "HELP":
        return HELP, False
    if cmd == "QUIT":
        return "BYE", True
    return f"ERROR unknown command or wrong arguments: {line[:60]!r} (try HELP)", False


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(f"HELLO {self.client_address[0]}, this is kvserver. {HELP}\n".encode())
        while True:
            raw = self.rfile.readline(MAX_LINE)
            if not raw:
                return  # the client (wsbridge) closed the connection
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            reply, done = answer(line)
            self.wfile.write(reply.encode() + b"\n")
            if done:
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7000)
    args = ap.parse_args()
    with Server((args.host, args.port), Handler) as srv:
        print(f"kvserver listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
