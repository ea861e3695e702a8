"""Small asyncio helpers around python3-websockets for the tests."""

import asyncio

import websockets

OPEN = dict(open_timeout=10, close_timeout=10, max_size=None, ping_interval=None)


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def recv_all(ws, timeout=10):
    """Every message until the server closes; returns (messages, code, reason)."""
    msgs = []
    try:
        while True:
            msgs.append(await asyncio.wait_for(ws.recv(), timeout))
    except websockets.ConnectionClosed:
        pass
    return msgs, ws.close_code, ws.close_reason


async def collect(url, timeout=10, **kw):
    async with websockets.connect(url, **OPEN, **kw) as ws:
        return await recv_all(ws, timeout)


async def recv_bytes(ws, total, timeout=30):
    """Binary mode: message boundaries follow pipe reads, so gather bytes."""
    data = bytearray()
    while len(data) < total:
        m = await asyncio.wait_for(ws.recv(), timeout)
        assert isinstance(m, bytes), type(m)
        data += m
    return bytes(data)
