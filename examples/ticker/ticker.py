#!/usr/bin/env python3
"""Made-up stock prices for wsbridge's shared mode, as JSON lines.

  ticker.py [SECONDS]      a quote line every SECONDS (default 1)

One process serves everyone (--shared), so every viewer sees the same
prices. Each line is {"time": ..., "quotes": [{"symbol", "price", "open"}]};
every price moves by at least a cent each time. Under --shared-events the
program also hears "!open<TAB>ID<TAB>ADDRESS" when a client connects and
answers "@ID<TAB>" plus the current quotes, so a new page fills at once
instead of waiting for the next tick. Anything else on stdin is ignored;
the program exits when stdin ends (wsbridge stopping).
"""

import json
import os
import random
import select
import sys
import time

SYMBOLS = {"ACME": 120.00, "GLOBEX": 48.50, "INITECH": 15.25, "HOOLI": 310.00, "UMBRELLA": 72.80}


def quotes(prices):
    return json.dumps({
        "time": time.strftime("%H:%M:%S"),
        "quotes": [{"symbol": s, "price": p, "open": SYMBOLS[s]} for s, p in prices.items()],
    }, separators=(",", ":"))


def step(prices):
    for s, p in prices.items():
        move = max(0.01, round(abs(random.gauss(0, p * 0.002)), 2))
        if p - move < 1:  # made-up companies do not go bankrupt
            move = -move
        prices[s] = round(p + random.choice((-move, move)), 2)


def main():
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    prices = dict(SYMBOLS)
    out = sys.stdout
    # The first tick after one interval: whoever started us gets the current
    # prices from its !open already.
    next_tick = time.monotonic() + interval
    pending = b""
    while True:
        now = time.monotonic()
        if now >= next_tick:
            step(prices)
            out.write(quotes(prices) + "\n")
            out.flush()  # stdout is a pipe: without this, lines would wait in a buffer
            next_tick = max(next_tick + interval, now)
            continue
        ready, _, _ = select.select([0], [], [], next_tick - now)
        if not ready:
            continue
        # os.read, not sys.stdin: a buffered reader can hold lines that
        # select() no longer sees.
        data = os.read(0, 65536)
        if not data:
            return  # stdin closed: wsbridge is stopping
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            fields = line.decode(errors="replace").split("\t")
            if fields[0] == "!open" and len(fields) >= 2 and fields[1].isdigit():
                out.write(f"@{fields[1]}\t{quotes(prices)}\n")
                out.flush()
        if len(pending) > 4096:  # a long client message: ignore it up to its end
            pending = b"-"


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
