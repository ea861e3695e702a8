#!/usr/bin/python3
"""TCP/unix/TLS services for the proxy tests, one per process:

  backends.py MODE (--port N | --unix PATH) [--tls CERT KEY] [--record FILE] [--bytes N]
                                   [--delay S]

MODE: echo (bytes back), line (a line service: "echo: LINE"), source (send
--bytes of a pattern, then close), greet-close (say hello, close at once), greet (say
hello, then echo), greet-one-write (greet, --tls required, its greeting sent in one
write with the end of a TLS 1.2 handshake),
reset (read a little, then reset the connection), record (write what arrives
to --record, and FILE.eof when the client half-closes; keep the socket open
until the peer closes). Prints "ready" once listening.
"""
import argparse
import asyncio
import os
import socket
import ssl
import struct


def pattern(n, offset=0):
    """Bytes of a repeating 251-byte pattern, so any slice can be checked."""
    base = bytes(range(251)) * 2
    out = bytearray()
    pos = offset % 251
    while len(out) < n:
        take = min(n - len(out), 251)
        out += base[pos:pos + take]
        pos = (pos + take) % 251
    return bytes(out)


async def echo(reader, writer, args):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def line(reader, writer, args):
    while raw := await reader.readline():
        writer.write(b"echo: " + raw.rstrip(b"\r\n") + b"\n")
        await writer.drain()
    writer.close()


async def source(reader, writer, args):
    chunk = pattern(251 * 256)
    left = args.bytes
    while left > 0:
        n = min(left, len(chunk))
        writer.write(chunk[:n])
        left -= n
        await writer.drain()
    writer.close()


async def greet_close(reader, writer, args):
    writer.write(b"hello from the backend")
    await writer.drain()
    writer.close()


async def greet(reader, writer, args):
    writer.write(b"hello from the backend")
    await writer.drain()
    await echo(reader, writer, args)


async def greet_one_write(reader, writer, args):
    """greet over TLS 1.2 driven by hand, so that the end of the handshake
    (the server's Finished) and the greeting leave in one write: a client
    reading ahead gets both in the handshake's last read."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*args.tls)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2   # in 1.3 the client's Finished comes last
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)

    async def feed():
        if outgoing.pending:
            writer.write(outgoing.read())
            await writer.drain()
        data = await reader.read(65536)
        if not data:
            return False
        incoming.write(data)
        return True

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if not await feed():
                return
    tls.write(b"hello from the backend")
    writer.write(outgoing.read())          # the handshake's end and the greeting together
    await writer.drain()
    while await feed():
        try:
            while True:
                tls.write(tls.read(65536))
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            break
    writer.close()


async def reset(reader, writer, args):
    await reader.read(1)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def record(reader, writer, args):
    await asyncio.sleep(args.delay)      # a slow start: the proxy's writes back up
    with open(args.record, "ab") as f:
        while data := await reader.read(65536):
            f.write(data)
            f.flush()
    open(args.record + ".eof", "w").close()
    await reader.read()          # wait for the peer to close too
    writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("--port", type=int)
    ap.add_argument("--unix")
    ap.add_argument("--tls", nargs=2)
    ap.add_argument("--record")
    ap.add_argument("--bytes", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0, help="record: seconds before reading")
    args = ap.parse_args()
    handler = {"echo": echo, "line": line, "source": source, "greet-close": greet_close,
               "greet": greet, "greet-one-write": greet_one_write,
               "reset": reset, "record": record}[args.mode]
    ctx = None
    if args.tls and handler is not greet_one_write:   # that one speaks TLS itself
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)

    async def serve(r, w):
        try:
            await handler(r, w, args)
        except (ConnectionError, ssl.SSLError):
            pass

    if args.unix:
        server = await asyncio.start_unix_server(serve, args.unix, ssl=ctx)
    else:
        server = await asyncio.start_server(serve, "127.0.0.1", args.port, ssl=ctx)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
