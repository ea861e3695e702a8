// Tests of examples/js/wsbridge.js: deterministic ones with a fake clock and
// socket, and end-to-end ones against a real wsbridge (WSBRIDGE=path picks the
// binary). Run with tests/js/run.

import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import {
  CONNECT_TIMEOUT,
  DEFAULTS,
  HEARTBEAT_TIMEOUT,
  RECONNECT_REQUESTED,
  ReconnectingWebSocket,
} from '../../examples/js/wsbridge.js';
import {
  FakeClock,
  FakeWebSocket,
  WSBRIDGE,
  freePort,
  next,
  pidAlive,
  record,
  sleep,
  startWsbridge,
  stopAll,
  until,
} from './helpers.mjs';

after(stopAll);

/** A client on the fake socket and clock; `random` returns the given values in turn. */
function fake(options = {}, randoms = [0]) {
  FakeWebSocket.reset();
  const clock = new FakeClock();
  let i = 0;
  const ws = new ReconnectingWebSocket('ws://fake/', {
    WebSocket: FakeWebSocket,
    timers: clock,
    random: () => randoms[i++ % randoms.length],
    ...options,
  });
  return { ws, clock, events: record(ws) };
}

describe('with a fake socket and clock', () => {
  test('back-off doubles from minDelay, is capped at maxDelay, and is jittered downwards', () => {
    const randoms = [0, 0.999, 0.5, 0.25];
    const { ws, clock } = fake({ minDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5, stableAfter: 5000 }, randoms);
    const delays = [];
    ws.addEventListener('reconnecting', (e) => delays.push([e.attempt, e.delay]));
    for (let n = 0; n < 8; n++) {
      FakeWebSocket.last.serverError();
      assert.equal(clock.pending().length, 1, 'exactly one retry timer while waiting');
      clock.advance(clock.pending()[0]);
      assert.equal(FakeWebSocket.all.length, n + 2, 'a new socket after the back-off');
    }
    const bases = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
    const expected = bases.map((b, n) => [n + 1, Math.round(b * (1 - 0.5 * randoms[n % randoms.length]))]);
    assert.deepEqual(delays, expected);
    for (const [n, [, d]] of delays.entries()) {
      assert.ok(d >= bases[n] / 2 && d <= bases[n], `delay ${d} within [base/2, base] for base ${bases[n]}`);
    }
    assert.notEqual(delays[4][1], delays[5][1], 'jitter makes equal bases differ');
    ws.close();
  });

  test('jitter 0 gives the exact exponential sequence', () => {
    const { ws, clock, events } = fake({ minDelay: 10, maxDelay: 10000, factor: 3, jitter: 0 }, [0.7]);
    const delays = [];
    ws.onreconnecting = (e) => delays.push(e.delay);
    for (let n = 0; n < 5; n++) {
      FakeWebSocket.last.serverClose(1006);
      clock.advance(clock.pending()[0]);
    }
    assert.deepEqual(delays, [10, 30, 90, 270, 810]);
    assert.equal(events.filter((e) => e === 'close:1006:true').length, 5);
    ws.close();
  });

  test('a connection open for stableAfter resets the back-off; a shorter one does not', () => {
    const { ws, clock } = fake({ minDelay: 100, maxDelay: 10000, jitter: 0, stableAfter: 1000 });
    const delays = [];
    ws.onreconnecting = (e) => delays.push(e.delay);
    const cycle = (openFor) => {
      FakeWebSocket.last.serverOpen();
      clock.advance(openFor);
      FakeWebSocket.last.serverClose(1011);
      clock.advance(clock.pending()[0]);
    };
    cycle(10);
    cycle(10);
    cycle(10);
    assert.deepEqual(delays, [100, 200, 400]);
    assert.equal(ws.attempt, 3);
    cycle(1000);
    assert.deepEqual(delays, [100, 200, 400, 100]);
    ws.close();
  });

  test('maxRetries: gives up and ends with a final close', () => {
    const { ws, clock, events } = fake({ minDelay: 10, maxRetries: 2 });
    FakeWebSocket.last.serverError();
    clock.advance(10);
    FakeWebSocket.last.serverError();
    clock.advance(20);
    FakeWebSocket.last.serverError();
    assert.equal(ws.readyState, ReconnectingWebSocket.CLOSED);
    assert.equal(ws.state, 'closed');
    assert.deepEqual(clock.pending(), []);
    assert.equal(FakeWebSocket.all.length, 3);
    assert.deepEqual(events.slice(-2), ['statechange:closed', 'close:1006:false']);
    assert.throws(() => ws.send('x'), { name: 'InvalidStateError' });
  });

  test('shouldReconnect can stop on a clean exit (wsbridge: program exited 0)', () => {
    const seen = [];
    const { ws, events } = fake({ shouldReconnect: (info) => (seen.push(info.code), info.code !== 1000) });
    FakeWebSocket.last.serverOpen();
    FakeWebSocket.last.serverClose(1000, '', true);
    assert.deepEqual(seen, [1000]);
    assert.equal(ws.readyState, 3);
    assert.deepEqual(events, ['statechange:open', 'open', 'statechange:closed', 'close:1000:false']);
  });

  test('send queues while not open; the queue goes out after the open event, in order', () => {
    const { ws } = fake();
    const order = [];
    ws.onopen = () => {
      order.push(`open with ${FakeWebSocket.last.sent.length} sent`);
      ws.send('login');
    };
    ws.send('a');
    ws.send('b');
    assert.equal(ws.queueLength, 2);
    FakeWebSocket.last.serverOpen();
    assert.deepEqual(order, ['open with 0 sent']);
    assert.deepEqual(FakeWebSocket.last.sent, ['login', 'a', 'b']);
    assert.equal(ws.queueLength, 0);
    ws.send('c');
    assert.deepEqual(FakeWebSocket.last.sent, ['login', 'a', 'b', 'c'], 'sent directly while open');
    ws.close();
  });

  test("overflow 'drop-oldest' keeps the newest maxQueue messages and reports each drop", () => {
    const { ws, events } = fake({ maxQueue: 2 });
    for (const m of ['1', '2', '3', '4']) ws.send(m);
    assert.deepEqual(events, ['drop:1', 'drop:2']);
    assert.equal(ws.queueLength, 2);
    FakeWebSocket.last.serverOpen();
    assert.deepEqual(FakeWebSocket.last.sent, ['3', '4']);
    ws.close();
  });

  test("overflow 'throw' throws QuotaExceededError and keeps the queue", () => {
    const { ws, events } = fake({ maxQueue: 2, overflow: 'throw' });
    ws.send('1');
    ws.send('2');
    assert.throws(() => ws.send('3'), { name: 'QuotaExceededError' });
    assert.equal(ws.queueLength, 2);
    assert.deepEqual(events, []);
    FakeWebSocket.last.serverOpen();
    assert.deepEqual(FakeWebSocket.last.sent, ['1', '2']);
    ws.close();
  });

  test('maxQueue 0 drops the message being sent', () => {
    const { ws, events } = fake({ maxQueue: 0 });
    ws.send('gone');
    assert.deepEqual(events, ['drop:gone']);
    assert.equal(ws.queueLength, 0);
    ws.close();
  });

  test('connectTimeout abandons an attempt that never opens', () => {
    const { ws, clock, events } = fake({ connectTimeout: 500, minDelay: 10 });
    const first = FakeWebSocket.last;
    clock.advance(499);
    assert.equal(FakeWebSocket.all.length, 1);
    clock.advance(1);
    assert.deepEqual(first.closeCalls, [[CONNECT_TIMEOUT, 'connect timeout']]);
    assert.deepEqual(events, ['statechange:reconnecting', `close:${CONNECT_TIMEOUT}:true`, 'reconnecting:1']);
    first.serverClose(1006);
    assert.equal(events.length, 3, 'the abandoned socket is no longer listened to');
    clock.advance(10);
    assert.equal(FakeWebSocket.all.length, 2);
    ws.close();
  });

  test('an error before open ends the attempt even without a close event (Node 20 sends none)', () => {
    const { ws, events } = fake();
    FakeWebSocket.last.serverError();
    assert.deepEqual(events, ['error', 'statechange:reconnecting', 'close:1006:true', 'reconnecting:1']);
    FakeWebSocket.all[0].serverClose(1006);
    assert.equal(events.length, 4, 'a late close of the failed socket is ignored');
    ws.close();
  });

  test('heartbeat: a ping after heartbeatInterval of silence, a drop after heartbeatTimeout', () => {
    const { ws, clock, events } = fake({ heartbeatTimeout: 1000, heartbeatInterval: 300, heartbeatMessage: 'ping', minDelay: 10 });
    const sock = FakeWebSocket.last;
    sock.serverOpen();
    clock.advance(299);
    assert.deepEqual(sock.sent, []);
    clock.advance(1);
    assert.deepEqual(sock.sent, ['ping']);
    clock.advance(250);
    sock.serverMessage('pong');
    clock.advance(299);
    assert.deepEqual(sock.sent, ['ping'], 'a message restarts the ping interval');
    clock.advance(1);
    assert.deepEqual(sock.sent, ['ping', 'ping']);
    clock.advance(699);
    assert.equal(ws.readyState, 1, 'still open 999 ms after the last message');
    clock.advance(1);
    assert.deepEqual(sock.closeCalls, [[HEARTBEAT_TIMEOUT, 'heartbeat timeout']]);
    assert.deepEqual(events.slice(-3), ['statechange:reconnecting', `close:${HEARTBEAT_TIMEOUT}:true`, 'reconnecting:1']);
    assert.deepEqual(clock.pending(), [10], 'only the retry timer is left');
    ws.close();
  });

  test('close() while waiting for the back-off: final close at once, no timers left', () => {
    const { ws, clock, events } = fake({ minDelay: 1000 });
    FakeWebSocket.last.serverError();
    ws.close(4100, 'bye');
    assert.deepEqual(events.slice(-2), ['statechange:closed', 'close:4100:false']);
    assert.deepEqual(clock.pending(), []);
    clock.advance(60000);
    assert.equal(FakeWebSocket.all.length, 1);
  });

  test('close() while open waits for the socket, or gives up after closeTimeout', () => {
    const { ws, clock, events } = fake({ closeTimeout: 2000 });
    const sock = FakeWebSocket.last;
    sock.serverOpen();
    ws.close(1000, 'done');
    assert.deepEqual(sock.closeCalls, [[1000, 'done']]);
    assert.equal(ws.readyState, ReconnectingWebSocket.CLOSING);
    clock.advance(2000);
    assert.equal(ws.readyState, ReconnectingWebSocket.CLOSED);
    assert.deepEqual(events.slice(-3), ['statechange:closing', 'statechange:closed', 'close:1006:false']);
    assert.deepEqual(clock.pending(), []);
  });

  test('close() inside a close handler stops the reconnection that was scheduled', () => {
    const { ws, clock, events } = fake();
    ws.addEventListener('close', (e) => {
      if (e.willReconnect) ws.close();
    });
    FakeWebSocket.last.serverOpen();
    FakeWebSocket.last.serverClose(1011, 'exit 1', true);
    assert.deepEqual(events, ['statechange:open', 'open', 'statechange:reconnecting', 'close:1011:true', 'statechange:closed', 'close:1000:false']);
    assert.deepEqual(clock.pending(), []);
  });

  test('close() validates its arguments like WebSocket.close()', () => {
    const { ws } = fake();
    assert.throws(() => ws.close(1001), { name: 'InvalidAccessError' });
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), { name: 'SyntaxError' });
    assert.equal(ws.readyState, 0);
    ws.close();
  });

  test('reconnect() drops the connection and connects again at once', () => {
    const { ws, clock, events } = fake({ minDelay: 5000 });
    const first = FakeWebSocket.last;
    first.serverOpen();
    ws.reconnect();
    assert.deepEqual(first.closeCalls, [[RECONNECT_REQUESTED, 'reconnect']]);
    assert.deepEqual(clock.pending(), [0]);
    clock.advance(0);
    assert.equal(FakeWebSocket.all.length, 2);
    ws.close();
    FakeWebSocket.last.serverClose(1000, '', true);
    assert.equal(ws.state, 'closed');
    ws.reconnect();
    assert.equal(FakeWebSocket.all.length, 3, 'reconnect() restarts a closed instance');
    assert.equal(ws.state, 'connecting');
    assert.deepEqual(events.slice(2, 6), ['statechange:reconnecting', `close:${RECONNECT_REQUESTED}:true`, 'reconnecting:0', 'statechange:connecting']);
    ws.close();
  });

  test('on* properties and addEventListener both receive events; constants and defaults', () => {
    const { ws } = fake();
    const got = [];
    ws.onmessage = (e) => got.push(`on:${e.data}`);
    ws.addEventListener('message', (e) => got.push(`listener:${e.data}`));
    assert.equal(typeof ws.onmessage, 'function');
    assert.equal(ws.onopen, null);
    FakeWebSocket.last.serverOpen();
    FakeWebSocket.last.serverMessage('x');
    assert.deepEqual(got, ['on:x', 'listener:x']);
    ws.onmessage = null;
    FakeWebSocket.last.serverMessage('y');
    assert.deepEqual(got, ['on:x', 'listener:x', 'listener:y']);
    assert.equal(ws.OPEN, 1);
    assert.equal(ReconnectingWebSocket.CLOSING, 2);
    assert.equal(DEFAULTS.maxQueue, 100);
    assert.equal(ws.url, 'ws://fake/');
    ws.close();
  });

  test('invalid options are refused', () => {
    assert.throws(() => fake({ jitter: 2 }), RangeError);
    assert.throws(() => fake({ overflow: 'block' }), RangeError);
    assert.throws(() => fake({ minDelay: 100, maxDelay: 10 }), RangeError);
    assert.throws(() => fake({ maxQueue: -1 }), RangeError);
  });
});

describe(`against a real wsbridge (${WSBRIDGE})`, () => {
  const clients = [];
  /** A client with short back-offs; closed after each test. */
  function client(url, options = {}) {
    const ws = new ReconnectingWebSocket(url, { minDelay: 50, maxDelay: 400, jitter: 0.5, ...options });
    clients.push(ws);
    return ws;
  }
  afterEach(async () => {
    for (const ws of clients.splice(0)) if (ws.readyState !== 3) ws.close();
    await stopAll();
  });

  test('a WebSocket constructor is global (Node\'s own, or the ws package\'s from tests/js/run)', () => {
    assert.equal(typeof WebSocket, 'function');
  });

  test('connects and echoes through cat; a message sent before open is queued', async () => {
    const server = await startWsbridge(['cat']);
    const ws = client(server.url);
    const events = record(ws);
    ws.send('early');
    const opened = next(ws, 'open');
    assert.equal(ws.readyState, ReconnectingWebSocket.CONNECTING);
    await opened;
    assert.equal(ws.readyState, ReconnectingWebSocket.OPEN);
    ws.send('hello wörld');
    await until(() => events.includes('message:hello wörld'), 'the echo');
    ws.close();
    await next(ws, 'close', (e) => !e.willReconnect);
    assert.deepEqual(events, [
      'statechange:open',
      'open',
      'message:early',
      'message:hello wörld',
      'statechange:closing',
      'statechange:closed',
      'close:1000:false',
    ]);
    assert.ok(events.raw.find((e) => e.type === 'close').wasClean);
  });

  test('messages sent while the server is down are delivered once it is back', async () => {
    const server = await startWsbridge(['cat']);
    const ws = client(server.url);
    const events = record(ws);
    await next(ws, 'open');
    ws.send('before');
    await until(() => events.includes('message:before'), 'the first echo');

    const closed = next(ws, 'close');
    await server.stop();
    const close = await closed;
    assert.equal(close.code, 1001, 'wsbridge says "going away" when it shuts down');
    assert.equal(close.willReconnect, true);
    assert.equal(ws.readyState, ReconnectingWebSocket.CONNECTING);
    for (const m of ['q1', 'q2', 'q3']) ws.send(m);
    assert.equal(ws.queueLength, 3);
    await next(ws, 'reconnecting', (e) => e.attempt >= 3);

    const again = await startWsbridge(['cat'], { port: server.port });
    await next(ws, 'open');
    await until(() => events.filter((e) => e.startsWith('message:')).length === 4, 'the queued echoes');
    await sleep(100);
    assert.deepEqual(events.filter((e) => e.startsWith('message:')), ['message:before', 'message:q1', 'message:q2', 'message:q3']);
    assert.equal(ws.queueLength, 0);
    const attempts = events.filter((e) => e.startsWith('reconnecting:')).map((e) => Number(e.slice(13)));
    assert.deepEqual(attempts, attempts.map((_, i) => i + 1), 'attempts are numbered 1, 2, 3...');
    assert.match(again.log(), /CONNECT 127\.0\.0\.1/);
  });

  test('back-off grows while every connection ends at once (COMMAND is `true`)', async () => {
    const server = await startWsbridge(['true']);
    const ws = client(server.url, { minDelay: 20, maxDelay: 160, jitter: 0.5, random: () => 0, stableAfter: 10000 });
    const events = record(ws);
    const delays = [];
    ws.onreconnecting = (e) => delays.push(e.delay);
    await next(ws, 'reconnecting', (e) => e.attempt === 6);
    ws.close();
    assert.deepEqual(delays, [20, 40, 80, 160, 160, 160]);
    const closes = events.raw.filter((e) => e.type === 'close' && e.willReconnect);
    assert.ok(closes.length >= 6);
    for (const e of closes) assert.equal(e.code, 1000, 'wsbridge closes with 1000 when COMMAND exits with 0');
    assert.ok(events.filter((e) => e === 'open').length >= 6, 'each attempt opened before it ended');
  });

  test('the queue bound holds while the server is down', async () => {
    const port = await freePort();
    const ws = client(`ws://127.0.0.1:${port}/`, { maxQueue: 3 });
    const events = record(ws);
    for (const m of ['m1', 'm2', 'm3', 'm4', 'm5']) ws.send(m);
    assert.equal(ws.queueLength, 3);
    assert.deepEqual(events.filter((e) => e.startsWith('drop:')), ['drop:m1', 'drop:m2']);
    await next(ws, 'reconnecting', (e) => e.attempt >= 2);
    await startWsbridge(['cat'], { port });
    await until(() => events.filter((e) => e.startsWith('message:')).length >= 3, 'the echoes');
    await sleep(100);
    assert.deepEqual(events.filter((e) => e.startsWith('message:')), ['message:m3', 'message:m4', 'message:m5']);
  });

  test('heartbeat drops a silent connection (COMMAND is `sleep 100`) and connects again', async () => {
    const server = await startWsbridge(['sleep', '100']);
    const ws = client(server.url, { heartbeatTimeout: 300 });
    const events = record(ws);
    await next(ws, 'open');
    const close = await next(ws, 'close');
    assert.equal(close.code, HEARTBEAT_TIMEOUT);
    assert.equal(close.reason, 'heartbeat timeout');
    assert.equal(close.willReconnect, true);
    await next(ws, 'open');
    ws.close();
    await next(ws, 'close', (e) => !e.willReconnect);
    assert.deepEqual(events.slice(0, 6), [
      'statechange:open',
      'open',
      'statechange:reconnecting',
      `close:${HEARTBEAT_TIMEOUT}:true`,
      'reconnecting:1',
      'statechange:connecting',
    ]);
    // wsbridge must end the `sleep` of the dropped connection while it keeps running.
    const [first] = server.childPids();
    assert.ok(first > 0, 'the log names the pid of COMMAND');
    await until(() => !pidAlive(first), `sleep (pid ${first}) of the dropped connection to end`, 5000);
    assert.match(server.log(), new RegExp(`code ${HEARTBEAT_TIMEOUT} by client`));
  });

  test('an app-level heartbeat message answered by the server keeps the connection up', async () => {
    const server = await startWsbridge(['cat']);
    const ws = client(server.url, { heartbeatTimeout: 400, heartbeatInterval: 100, heartbeatMessage: 'ping' });
    const events = record(ws);
    await next(ws, 'open');
    await until(() => events.filter((e) => e === 'message:ping').length >= 6, 'six echoed pings');
    assert.deepEqual(events.filter((e) => !e.startsWith('message:')), ['statechange:open', 'open']);
    assert.equal(server.childPids().length, 1);
  });

  test('close() stops reconnecting, whether connected or waiting', async () => {
    const server = await startWsbridge(['cat']);
    const ws = client(server.url);
    const events = record(ws);
    await next(ws, 'open');
    ws.close();
    await next(ws, 'close');
    const count = events.length;
    await sleep(500);
    assert.equal(events.length, count, 'no events after the final close');
    assert.equal(ws.readyState, ReconnectingWebSocket.CLOSED);
    assert.equal(server.childPids().length, 1, 'one connection only');
    assert.throws(() => ws.send('late'), { name: 'InvalidStateError' });

    const ws2 = client(server.url);
    const events2 = record(ws2);
    await next(ws2, 'open');
    await server.stop();
    await next(ws2, 'reconnecting');
    ws2.close();
    assert.deepEqual(events2.slice(-2), ['statechange:closed', 'close:1000:false']);
    const count2 = events2.length;
    await sleep(500);
    assert.equal(events2.length, count2, 'no attempts after close()');
  });

  test('events come in order through a server restart', async () => {
    const server = await startWsbridge(['cat']);
    const ws = client(server.url, { minDelay: 300, maxDelay: 300, jitter: 0 });
    const events = record(ws);
    await next(ws, 'open');
    ws.send('x');
    await next(ws, 'message');
    const waiting = next(ws, 'reconnecting');
    await server.stop();
    await waiting;
    await startWsbridge(['cat'], { port: server.port });
    await next(ws, 'open');
    ws.close();
    await next(ws, 'close', (e) => !e.willReconnect);

    const head = ['statechange:open', 'open', 'message:x', 'statechange:reconnecting', 'close:1001:true', 'reconnecting:1', 'statechange:connecting'];
    const tail = ['statechange:open', 'open', 'statechange:closing', 'statechange:closed', 'close:1000:false'];
    assert.deepEqual(events.slice(0, head.length), head);
    assert.deepEqual(events.slice(-tail.length), tail);
    // Attempts made before the new server listened (normally none) each fail the same way.
    const middle = events.slice(head.length, events.length - tail.length);
    for (let i = 0; i < middle.length; i += 5) {
      assert.deepEqual(middle.slice(i, i + 5), [
        'error',
        'statechange:reconnecting',
        'close:1006:true',
        `reconnecting:${i / 5 + 2}`,
        'statechange:connecting',
      ]);
    }
  });
});
