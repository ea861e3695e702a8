// Test helpers: a real wsbridge on a free port (always stopped again), a fake
// clock and a fake WebSocket for the deterministic tests, and event recording.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The binary under test: $WSBRIDGE, else the release build, else the one in PATH. */
export const WSBRIDGE =
  process.env.WSBRIDGE ||
  [path.resolve(here, '../../build/release/wsbridge')].find((p) => existsSync(p)) ||
  'wsbridge';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Every wsbridge started and not yet seen to exit, and the COMMAND pids it logged. */
const running = new Set();

function killPid(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function pidAlive(pid) {
  return killPid(pid, 0);
}

/** Last resort when the test process exits abnormally: nothing may outlive it. */
function killAll() {
  for (const server of running) {
    killPid(server.pid, 'SIGKILL');
    for (const pid of server.childPids()) killPid(-pid, 'SIGKILL');
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(1);
  });
}

/**
 * Starts `wsbridge --port=PORT --address=127.0.0.1 [--allow-root-children] ARGS...`
 * and resolves once the port accepts connections.
 */
export async function startWsbridge(args, { port } = {}) {
  port ??= await freePort();
  const argv = [`--port=${port}`, '--address=127.0.0.1'];
  if (process.getuid?.() === 0) argv.push('--allow-root-children');
  argv.push(...args);
  const proc = spawn(WSBRIDGE, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    log += chunk;
  });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const server = {
    port,
    pid: proc.pid,
    url: `ws://127.0.0.1:${port}/`,
    exited,
    exitStatus: null,
    log: () => log,
    /** PIDs of the COMMAND processes, from the "started ... as pid N" lines. */
    childPids: () => [...log.matchAll(/ as pid (\d+)/g)].map((m) => Number(m[1])),
    /** SIGTERM, then SIGKILL (and the children's process groups) after 5 s. Resolves with the exit status. */
    async stop() {
      if (server.exitStatus) return server.exitStatus;
      killPid(proc.pid, 'SIGTERM');
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(resolve, 5000, 'late');
      });
      if ((await Promise.race([exited, late])) === 'late') {
        killPid(proc.pid, 'SIGKILL');
        for (const pid of server.childPids()) killPid(-pid, 'SIGKILL');
      }
      clearTimeout(timer);
      return exited;
    },
  };
  running.add(server);
  exited.then((status) => {
    server.exitStatus = status;
    running.delete(server);
  });
  proc.once('error', () => {});
  const deadline = Date.now() + 5000;
  for (;;) {
    if (server.exitStatus) throw new Error(`wsbridge exited during start-up (${JSON.stringify(server.exitStatus)}): ${log}`);
    if (await canConnect(port)) return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`wsbridge did not listen on ${port} within 5 s: ${log}`);
    }
    await sleep(20);
  }
}

/** Stops every wsbridge still running; for `after()` hooks. */
export async function stopAll() {
  await Promise.all([...running].map((s) => s.stop()));
}

/**
 * Records the events of a ReconnectingWebSocket as short strings:
 * `open`, `statechange:STATE`, `message:DATA`, `close:CODE:WILLRECONNECT`,
 * `reconnecting:ATTEMPT`, `error`, `drop:DATA`.
 */
export function record(ws) {
  const events = [];
  const describe = {
    open: () => 'open',
    statechange: (e) => `statechange:${e.state}`,
    message: (e) => `message:${e.data}`,
    close: (e) => `close:${e.code}:${e.willReconnect}`,
    reconnecting: (e) => `reconnecting:${e.attempt}`,
    error: () => 'error',
    drop: (e) => `drop:${e.data}`,
  };
  for (const [type, fmt] of Object.entries(describe)) {
    ws.addEventListener(type, (e) => {
      events.push(fmt(e));
      events.raw.push(e);
    });
  }
  Object.defineProperty(events, 'raw', { value: [] });
  return events;
}

/**
 * Resolves with the next `type` event of `target` for which `pred` is true,
 * or rejects after `ms` (a generous limit: only a broken client hits it).
 */
export function next(target, type, pred = () => true, ms = 8000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.removeEventListener(type, on);
      reject(new Error(`no ${type} event within ${ms} ms`));
    }, ms);
    function on(e) {
      if (!pred(e)) return;
      clearTimeout(timer);
      target.removeEventListener(type, on);
      resolve(e);
    }
    target.addEventListener(type, on);
  });
}

/** Resolves once `cond()` is true, polling; rejects after `ms`. */
export async function until(cond, what, ms = 8000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Timers that only run when the test advances the clock. */
export class FakeClock {
  now = 0;
  #next = 1;
  #timers = new Map();

  setTimeout(fn, ms) {
    const id = this.#next++;
    this.#timers.set(id, { fn, at: this.now + Math.max(0, ms), ms });
    return id;
  }

  clearTimeout(id) {
    this.#timers.delete(id);
  }

  /** Delays of the pending timers, soonest first. */
  pending() {
    return [...this.#timers.values()].sort((a, b) => a.at - b.at).map((t) => t.ms);
  }

  /** Moves time forward, running every timer that falls due, in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let due = null;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && (due === null || t.at < due[1].at)) due = [id, t];
      }
      if (!due) break;
      this.#timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }
}

/** A scriptable stand-in for WebSocket; every instance is kept in `FakeWebSocket.all`. */
export class FakeWebSocket {
  static all = [];
  readyState = 0;
  protocol = '';
  extensions = '';
  bufferedAmount = 0;
  binaryType = 'blob';
  sent = [];
  closeCalls = [];
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    FakeWebSocket.all.push(this);
  }

  static reset() {
    FakeWebSocket.all = [];
  }

  static get last() {
    return FakeWebSocket.all[FakeWebSocket.all.length - 1];
  }

  send(data) {
    if (this.readyState !== 1) throw new Error(`send in readyState ${this.readyState}`);
    this.sent.push(data);
  }

  close(code, reason) {
    this.closeCalls.push([code, reason]);
    if (this.readyState < 2) this.readyState = 2;
  }

  serverOpen() {
    this.readyState = 1;
    this.onopen?.({ type: 'open' });
  }

  serverMessage(data) {
    this.onmessage?.({ type: 'message', data, origin: '', lastEventId: '' });
  }

  serverError() {
    this.onerror?.({ type: 'error' });
  }

  serverClose(code = 1006, reason = '', wasClean = false) {
    this.readyState = 3;
    this.onclose?.({ type: 'close', code, reason, wasClean });
  }
}
