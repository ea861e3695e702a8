/**
 * wsbridge.js: a WebSocket that stays connected.
 *
 * `ReconnectingWebSocket` looks like the browser's `WebSocket` (the same
 * `onopen`/`onmessage`/`onclose`/`onerror` properties, `addEventListener`,
 * `readyState`, `send()`, `close()`) but behind it one connection follows
 * another:
 *
 * - a connection that ends for any reason other than `close()` is replaced
 *   after an exponential back-off with jitter, capped at `maxDelay`; the
 *   back-off starts again from `minDelay` once a connection has stayed open
 *   for `stableAfter` ms, so a server that accepts and then drops every
 *   connection at once is not hammered;
 * - `send()` while there is no open connection queues the message (at most
 *   `maxQueue` messages); the queue is sent, in order, as soon as the next
 *   connection opens;
 * - with `heartbeatTimeout`, a connection on which nothing has arrived for that
 *   long is taken for dead, dropped and replaced (browsers answer the
 *   WebSocket pings that wsbridge sends with `--pingms`, but scripts never see
 *   them, so only messages count); `heartbeatMessage` makes the client send an
 *   application-level ping for the server program to answer;
 * - `statechange` and `reconnecting` events drive a status display.
 *
 * It is a plain ES module with no dependencies and no build step. It runs in
 * current browsers and in Node (where `WebSocket` is global, or pass one as
 * `options.WebSocket`).
 *
 * Events, in the order they are dispatched (the state is updated before any
 * of them, so handlers see the new `readyState`):
 *
 * | when | events |
 * | --- | --- |
 * | a connection opens | `statechange` (open), `open`, then the queue is sent |
 * | a message arrives | `message` |
 * | a connection ends, another will be tried | `statechange` (reconnecting), `close` (`willReconnect: true`), `reconnecting` |
 * | the back-off is over | `statechange` (connecting) |
 * | the underlying socket reports an error | `error` (a failed attempt continues as "a connection ends") |
 * | `close()` | `statechange` (closing), then when the socket has closed: `statechange` (closed), `close` (`willReconnect: false`) |
 * | giving up (`maxRetries`, `shouldReconnect`) | `statechange` (closed), `close` (`willReconnect: false`) |
 * | a queued message is discarded | `drop` |
 *
 * Every attempt that ends, whether it had opened or not, produces one
 * `close` event (`close()` while waiting for the back-off produces one too,
 * with the code given to it); the last one has `willReconnect === false`, and
 * after it `readyState` is `CLOSED`. A handler that calls `close()` from
 * inside a `close` event with `willReconnect: true` gets the final `close`
 * event dispatched during that call.
 *
 * Requires ES2022 (private fields, static class fields) and `EventTarget`:
 * browsers from 2021 on, Node 16 or later.
 *
 * @module wsbridge
 */

/** Close code of a connection dropped because nothing arrived within `heartbeatTimeout`. */
export const HEARTBEAT_TIMEOUT = 4000;
/** Close code of an attempt that did not open within `connectTimeout`. */
export const CONNECT_TIMEOUT = 4001;
/** Close code sent when `reconnect()` drops the current connection. */
export const RECONNECT_REQUESTED = 4002;

/**
 * @typedef {object} Options
 * @property {string|string[]} [protocols] Subprotocols offered on every connection (also accepted as the second constructor argument).
 * @property {Function} [WebSocket=globalThis.WebSocket] The WebSocket constructor to use (for Node without a global one, or tests).
 * @property {'auto'|'always'|'never'} [fallback] When to use wsbridge's HTTP fallback (`--fallback`, `FallbackSocket`):
 *   `'auto'` tries a WebSocket first and, when an attempt fails without opening (or has not opened within
 *   `fallbackAfter`), tries the fallback at once, then goes on with whichever opened; `'always'`; `'never'`.
 *   Default: `'auto'` where the platform has `fetch` and `EventSource` and `options.WebSocket` is not given
 *   (`'always'` where there is no WebSocket at all), else `'never'`.
 * @property {number} [fallbackAfter=4000] With `fallback: 'auto'`, a WebSocket attempt not open after this many ms
 *   is abandoned for the fallback.
 * @property {'blob'|'arraybuffer'} [binaryType] Set on every socket; left as the socket's default when not given.
 * @property {number} [minDelay=1000] Back-off before the first reconnection attempt, in ms.
 * @property {number} [maxDelay=30000] Largest back-off, in ms.
 * @property {number} [factor=2] The back-off is multiplied by this after every attempt that does not give a stable connection.
 * @property {number} [jitter=0.5] Fraction of the back-off that is random: the wait is `base * (1 - jitter * random())`, so 0.5 gives between half and all of `base`. 0 = no jitter.
 * @property {number} [stableAfter=5000] A connection open this long (ms) resets the back-off to `minDelay` (0 = as soon as it opens).
 * @property {number} [maxRetries=Infinity] Give up after this many attempts in a row without a stable connection.
 * @property {(info: {code: number, reason: string, wasClean: boolean}) => boolean} [shouldReconnect]
 *   Called when a connection ends (not after `close()`); return `false` to stop instead of reconnecting.
 *   wsbridge closes with 1000 when the program exits with status 0, with 1011 otherwise, and 1001 when it shuts down.
 * @property {number} [connectTimeout=10000] An attempt that has not opened after this many ms is abandoned (0 = no limit).
 * @property {number} [closeTimeout=5000] After `close()`, stop waiting for the server's close frame after this many ms (0 = wait for the socket).
 * @property {number} [maxQueue=100] Most messages kept while there is no open connection.
 * @property {'drop-oldest'|'throw'} [overflow='drop-oldest'] What `send()` does when the queue is full:
 *   `'drop-oldest'` discards the oldest queued message and dispatches a `drop` event carrying it (with `maxQueue: 0`,
 *   the message being sent is the one dropped); `'throw'` throws a `QuotaExceededError` DOMException and keeps the queue.
 * @property {number} [heartbeatTimeout=0] Drop a connection on which nothing arrived for this many ms (close code 4000); 0 = off.
 * @property {string|ArrayBuffer|Blob|(() => any)|null} [heartbeatMessage=null] If set, sent whenever nothing has arrived for
 *   `heartbeatInterval` ms, for servers that answer it; a function is called for each ping. Replies arrive as ordinary messages.
 * @property {number} [heartbeatInterval] Silence (ms) before a `heartbeatMessage` is sent, and between repeated ones.
 *   Defaults to half of `heartbeatTimeout`, or 30000 without one.
 * @property {{setTimeout: Function, clearTimeout: Function}} [timers=globalThis] Timer functions, called as methods of this object (for tests).
 * @property {() => number} [random=Math.random] Source of jitter in [0, 1) (for tests).
 */

/** The defaults of the options that have one. @type {Readonly<Options>} */
export const DEFAULTS = Object.freeze({
  minDelay: 1000,
  maxDelay: 30000,
  factor: 2,
  jitter: 0.5,
  stableAfter: 5000,
  maxRetries: Infinity,
  connectTimeout: 10000,
  closeTimeout: 5000,
  maxQueue: 100,
  overflow: 'drop-oldest',
  heartbeatTimeout: 0,
  heartbeatMessage: null,
  fallbackAfter: 4000,
  random: Math.random,
});

const STATES = { connecting: 0, reconnecting: 0, open: 1, closing: 2, closed: 3 };
const EVENT_TYPES = ['open', 'message', 'close', 'error', 'statechange', 'reconnecting', 'drop'];
const TIMERS = ['retry', 'connect', 'stable', 'dead', 'ping', 'close'];
const ignore = () => {};

function domError(name, message) {
  if (typeof DOMException === 'function') return new DOMException(message, name);
  const err = new Error(message);
  err.name = name;
  return err;
}

/**
 * A `MessageEvent`/`CloseEvent` where the platform has one (so `instanceof`
 * works as with a plain WebSocket), otherwise an `Event`; the other
 * properties are added as read-only own properties.
 */
function makeEvent(type, props) {
  let ev;
  if (type === 'message' && typeof MessageEvent === 'function') {
    ev = new MessageEvent('message', { data: props.data, origin: props.origin ?? '', lastEventId: props.lastEventId ?? '' });
  } else if (type === 'close' && typeof CloseEvent === 'function') {
    ev = new CloseEvent('close', { code: props.code, reason: props.reason, wasClean: props.wasClean });
  } else {
    ev = new Event(type);
  }
  for (const [key, value] of Object.entries(props)) {
    if (value !== undefined && !(key in ev)) Object.defineProperty(ev, key, { value, enumerable: true });
  }
  return ev;
}

function checkNumber(o, name, min) {
  const v = o[name];
  if (typeof v !== 'number' || Number.isNaN(v) || v < min) throw new RangeError(`options.${name} must be a number >= ${min}`);
}

/**
 * The HTTP fallback (wsbridge's `--fallback`, doc/fallback.md) behind the
 * interface of a `WebSocket`: `readyState`, `protocol`, `extensions`,
 * `binaryType`, `bufferedAmount`, `onopen`/`onmessage`/`onerror`/`onclose`,
 * `send()`, `close()`. A POST opens the session, an `EventSource` carries the
 * server's messages (and resumes by itself with `Last-Event-ID`), and the
 * client's go out in numbered records, one POST at a time, retried until
 * acknowledged: a retry is never applied twice. `ReconnectingWebSocket`
 * uses it when a WebSocket cannot get through (see its `fallback` option).
 */
export class FallbackSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  #url;
  #session = '';
  #es = null;
  #state = 0;
  #protocol = '';
  #binaryType = 'blob';
  #outbox = []; // {seq, bytes} not yet acknowledged
  #seq = 0;
  #posting = false;
  #buffered = 0;
  #parts = null;
  #onHide = null;

  /**
   * @param {string|URL} url The WebSocket URL (ws: or wss:) of the endpoint; http: and https: work too.
   * @param {string|string[]} [protocols] Subprotocols offered, as for `WebSocket`.
   */
  constructor(url, protocols) {
    super();
    const u = new URL(String(url), globalThis.location?.href);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    if (u.protocol === 'wss:') u.protocol = 'https:';
    u.hash = '';
    this.#url = u;
    for (const type of ['open', 'message', 'error', 'close']) this[`on${type}`] = null;
    const offer = protocols === undefined ? [] : [].concat(protocols);
    const headers = { 'X-WSBridge': 'open' };
    if (offer.length) headers['X-WSBridge-Protocol'] = offer.join(', ');
    fetch(u.href, { method: 'POST', headers, credentials: 'same-origin', cache: 'no-store' })
      .then(async (r) => {
        if (!r.ok) throw new Error(`the fallback open request got ${r.status}`);
        return r.json();
      })
      .then((j) => this.#stream(j), (err) => this.#fail(err));
  }

  get url() { return this.#url.href; }
  get readyState() { return this.#state; }
  get protocol() { return this.#protocol; }
  get extensions() { return ''; }
  get bufferedAmount() { return this.#buffered; }
  get binaryType() { return this.#binaryType; }
  set binaryType(v) { this.#binaryType = v; }

  #target(extra = '') {
    const u = new URL(this.#url);
    u.searchParams.set('session', this.#session);
    return u.href + extra;
  }

  #stream(j) {
    if (this.#state === 3) return;
    this.#session = j.session;
    this.#protocol = j.protocol ?? '';
    const es = new EventSource(this.#target(), { withCredentials: true });
    this.#es = es;
    es.onopen = () => {
      if (this.#state !== 0) return;
      this.#state = 1;
      this.#fire('open', new Event('open'));
    };
    es.onerror = () => {
      // EventSource retries by itself; it gives up (CLOSED) on an answer that is not a stream.
      if (es.readyState === 2) this.#fail(new Error('the session is gone'));
    };
    for (const type of ['text', 'text-part', 'binary', 'binary-part']) {
      es.addEventListener(type, (e) => this.#onEvent(type, e));
    }
    es.addEventListener('close', (e) => {
      const { code, reason } = JSON.parse(e.data);
      this.#end(code, reason, true);
    });
    if (typeof addEventListener === 'function') {
      this.#onHide = () => this.#sendClose(1001, 'going away', true);
      addEventListener('pagehide', this.#onHide);
    }
  }

  #onEvent(type, e) {
    const text = type.startsWith('text');
    let piece;
    if (text) {
      piece = JSON.parse(e.data);
    } else {
      const bin = atob(e.data);
      piece = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) piece[i] = bin.charCodeAt(i);
    }
    if (type.endsWith('-part')) {
      (this.#parts ??= []).push(piece);
      return;
    }
    let data = piece;
    if (this.#parts) {
      this.#parts.push(piece);
      data = text ? this.#parts.join('') : new Blob(this.#parts);
      this.#parts = null;
    }
    if (!text) data = this.#binaryType === 'arraybuffer' ? (data instanceof Blob ? data.arrayBuffer() : data.buffer) : new Blob([data]);
    Promise.resolve(data).then((d) => {
      if (this.#state === 1 || this.#state === 2) {
        this.#fire('message', new MessageEvent('message', { data: d, lastEventId: e.lastEventId, origin: this.#url.origin }));
      }
    });
  }

  /** @param {string|ArrayBuffer|ArrayBufferView|Blob} data */
  send(data) {
    if (this.#state === 0) throw domError('InvalidStateError', 'send() before the session opened');
    if (this.#state !== 1) return;
    const seq = ++this.#seq;
    const entry = { seq, type: typeof data === 'string' ? 't' : 'b', bytes: null, size: 0 };
    if (typeof data === 'string') entry.bytes = new TextEncoder().encode(data);
    else if (data instanceof Blob) entry.bytes = data.arrayBuffer().then((b) => new Uint8Array(b));
    else if (ArrayBuffer.isView(data)) entry.bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    else entry.bytes = new Uint8Array(data.slice(0));
    entry.size = data.size ?? entry.bytes.length ?? 0;
    this.#buffered += entry.size;
    this.#outbox.push(entry);
    this.#post();
  }

  /** Sends a close record; the session's close event ends it. */
  close(code = 1000, reason = '') {
    if (this.#state >= 2) return;
    if (this.#state === 0) {
      this.#end(code, reason, false);
      return;
    }
    this.#state = 2;
    this.#sendClose(code, reason, false);
  }

  #sendClose(code, reason, leaving) {
    if (!this.#session || this.#state === 3) return;
    const entry = { seq: ++this.#seq, type: 'c', bytes: new TextEncoder().encode(`${code}${reason ? ' ' + reason : ''}`) };
    this.#outbox.push(entry);
    if (leaving) {
      // The page is going: one last request that outlives it (keepalive).
      this.#request(this.#outbox.filter((m) => !(m.bytes instanceof Promise)), true).catch(() => {});
      return;
    }
    this.#post();
  }

  async #request(entries, keepalive = false) {
    const parts = [];
    for (const m of entries) {
      const bytes = await m.bytes;
      m.bytes = bytes;
      parts.push(new TextEncoder().encode(`${m.seq} ${m.type} ${bytes.length}\n`), bytes, new Uint8Array([10]));
    }
    const body = new Blob(parts);
    const r = await fetch(this.#target(), {
      method: 'POST',
      keepalive,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/vnd.wsbridge.msgs', 'X-WSBridge-Session': this.#session },
      body,
    });
    if (!r.ok) throw Object.assign(new Error(`a message POST got ${r.status}`), { status: r.status });
    return (await r.json()).next;
  }

  async #post() {
    if (this.#posting) return;
    this.#posting = true;
    let wait = 250;
    while (this.#outbox.length && this.#state !== 3) {
      const batch = [];
      let size = 0;
      for (const m of this.#outbox) {
        if (batch.length && size > 48 * 1024) break;
        batch.push(m);
        size += m.bytes.length ?? 0;
      }
      try {
        const next = await this.#request(batch);
        while (this.#outbox.length && this.#outbox[0].seq < next) {
          this.#buffered -= this.#outbox.shift().size ?? 0;
        }
        wait = 250;
      } catch (err) {
        if (err.status) { // refused, not lost: retrying will not help
          this.#fail(err);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, wait)); // lost: the same records again
        wait = Math.min(wait * 2, 5000);
      }
    }
    this.#posting = false;
  }

  #fail(err) {
    if (this.#state === 3) return;
    this.#fire('error', Object.assign(new Event('error'), { error: err, message: String(err?.message ?? err) }));
    this.#end(1006, '', false);
  }

  #end(code, reason, wasClean) {
    if (this.#state === 3) return;
    this.#state = 3;
    this.#es?.close();
    if (this.#onHide) removeEventListener('pagehide', this.#onHide);
    this.#outbox.length = 0;
    const ev = typeof CloseEvent === 'function' ? new CloseEvent('close', { code, reason, wasClean }) : Object.assign(new Event('close'), { code, reason, wasClean });
    this.#fire('close', ev);
  }

  #fire(type, ev) {
    this.dispatchEvent(ev);
    const fn = this[`on${type}`];
    if (typeof fn === 'function') fn.call(this, ev);
  }
}

/** Whether this platform can use the HTTP fallback (fetch and EventSource). */
export function fallbackAvailable() {
  return typeof fetch === 'function' && typeof EventSource === 'function';
}

/** Keeps the on* handler properties outside the class so one loop can define them. */
const handlers = new WeakMap();

/**
 * A WebSocket that reconnects, queues while disconnected and detects dead
 * connections. See the module documentation for the events.
 *
 * @example
 * const ws = new ReconnectingWebSocket('ws://localhost:8080/', { heartbeatTimeout: 45000 });
 * ws.onstatechange = (e) => { status.textContent = e.state; };
 * ws.onmessage = (e) => console.log(e.data);
 * ws.send('hello'); // queued until the connection opens
 */
export class ReconnectingWebSocket extends EventTarget {
  /** The attempt has not opened yet, or the next one is waiting for its back-off. */
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  #url;
  #lastUrl = '';
  #protocols;
  #o;
  #WS;
  #timerApi;
  #binaryType;
  #ws = null;
  #opened = false;
  #state = 'connecting';
  #epoch = 0;
  #attempt = 0;
  #queue = [];
  #closing = false;
  #forced = false;
  #timers = {};
  #useFallback = false;
  #switched = false;

  /**
   * Starts connecting at once, as `new WebSocket()` does.
   *
   * @param {string|URL|(() => string|URL)} url Where to connect; a function is called before every attempt
   *   (to add a fresh token, for example).
   * @param {string|string[]|Options} [protocols] Subprotocols, or the options.
   * @param {Options} [options]
   * @throws {TypeError} without a WebSocket constructor; {RangeError} for invalid options; whatever the
   *   WebSocket constructor throws for the first URL (a `SyntaxError` for a malformed one).
   */
  constructor(url, protocols, options) {
    super();
    if (protocols !== null && typeof protocols === 'object' && !Array.isArray(protocols)) {
      options = protocols;
      protocols = undefined;
    }
    const o = { ...DEFAULTS, ...options };
    for (const name of ['minDelay', 'maxDelay', 'stableAfter', 'maxRetries', 'connectTimeout', 'closeTimeout', 'maxQueue', 'heartbeatTimeout']) {
      checkNumber(o, name, 0);
    }
    checkNumber(o, 'factor', 1);
    if (!(o.jitter >= 0 && o.jitter <= 1)) throw new RangeError('options.jitter must be between 0 and 1');
    if (o.maxDelay < o.minDelay) throw new RangeError('options.maxDelay must not be less than options.minDelay');
    if (o.overflow !== 'drop-oldest' && o.overflow !== 'throw') throw new RangeError("options.overflow must be 'drop-oldest' or 'throw'");
    if (o.heartbeatInterval === undefined) o.heartbeatInterval = o.heartbeatTimeout > 0 ? o.heartbeatTimeout / 2 : 30000;
    checkNumber(o, 'heartbeatInterval', 1);
    this.#WS = o.WebSocket ?? globalThis.WebSocket;
    if (o.fallback === undefined) {
      o.fallback = o.WebSocket || !fallbackAvailable() ? 'never' : typeof this.#WS === 'function' ? 'auto' : 'always';
    }
    if (!['auto', 'always', 'never'].includes(o.fallback)) throw new RangeError("options.fallback must be 'auto', 'always' or 'never'");
    checkNumber(o, 'fallbackAfter', 0);
    this.#useFallback = o.fallback === 'always';
    if (typeof this.#WS !== 'function' && o.fallback !== 'always') throw new TypeError('no WebSocket constructor: pass options.WebSocket');
    this.#timerApi = o.timers ?? globalThis;
    this.#o = o;
    this.#url = url;
    this.#protocols = protocols ?? o.protocols;
    this.#binaryType = o.binaryType;
    handlers.set(this, {});
    for (const type of EVENT_TYPES) {
      this.addEventListener(type, (ev) => {
        const fn = handlers.get(this)[type];
        if (typeof fn === 'function') fn.call(this, ev);
      });
    }
    this.#connect(true);
  }

  /** 0 (CONNECTING, also while waiting to reconnect), 1 (OPEN), 2 (CLOSING, after `close()`) or 3 (CLOSED). */
  get readyState() {
    return STATES[this.#state];
  }

  /** Finer than `readyState`: `'connecting'`, `'open'`, `'reconnecting'` (waiting for the back-off), `'closing'` or `'closed'`. */
  get state() {
    return this.#state;
  }

  /** How the current (or last) attempt connects: `'websocket'`, or `'fallback'` (wsbridge's HTTP fallback). */
  get transport() {
    return this.#useFallback ? 'fallback' : 'websocket';
  }

  /** The URL of the current (or last) attempt. */
  get url() {
    return this.#lastUrl;
  }

  /** Attempts made since the last stable connection (0 while none failed). */
  get attempt() {
    return this.#attempt;
  }

  /** Messages waiting for a connection. */
  get queueLength() {
    return this.#queue.length;
  }

  /** The subprotocol the server chose for the current connection, or ''. */
  get protocol() {
    return this.#ws?.protocol ?? '';
  }

  /** The extensions of the current connection, or ''. */
  get extensions() {
    return this.#ws?.extensions ?? '';
  }

  /** Bytes the current socket has not sent yet (queued messages are not counted: see `queueLength`). */
  get bufferedAmount() {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /** Applies to the current socket and to every later one. */
  get binaryType() {
    return this.#binaryType ?? this.#ws?.binaryType ?? 'blob';
  }

  set binaryType(value) {
    this.#binaryType = value;
    if (this.#ws) this.#ws.binaryType = value;
  }

  /**
   * Sends now if a connection is open, otherwise queues the message for the
   * next one (see `maxQueue` and `overflow`). Messages handed to a connection
   * that then breaks are lost: there is no acknowledgement.
   *
   * @param {string|ArrayBuffer|ArrayBufferView|Blob} data
   * @throws {DOMException} `InvalidStateError` after `close()` or once reconnecting has stopped;
   *   `QuotaExceededError` when the queue is full and `overflow` is `'throw'`.
   */
  send(data) {
    if (this.#state === 'closing' || this.#state === 'closed') throw domError('InvalidStateError', 'send() on a closed ReconnectingWebSocket');
    const ws = this.#ws;
    if (this.#state === 'open' && ws && ws.readyState === 1) {
      ws.send(data);
      return;
    }
    const { maxQueue, overflow } = this.#o;
    if (this.#queue.length < maxQueue) {
      this.#queue.push(data);
      return;
    }
    if (overflow === 'throw') throw domError('QuotaExceededError', `send queue full (${maxQueue} messages)`);
    let dropped = data;
    if (maxQueue > 0) {
      dropped = this.#queue.shift();
      this.#queue.push(data);
    }
    this.#emit('drop', { data: dropped });
  }

  /**
   * Closes the connection for good: no more attempts, queued messages are
   * discarded. The final `close` event follows once the socket has closed
   * (at once if there is none, at the latest after `closeTimeout`).
   *
   * @param {number} [code=1000] 1000 or 3000–4999, as for `WebSocket.close()`.
   * @param {string} [reason=''] At most 123 bytes of UTF-8.
   */
  close(code, reason) {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw domError('InvalidAccessError', `close code ${code} is neither 1000 nor in 3000-4999`);
    }
    if (reason !== undefined && new TextEncoder().encode(String(reason)).length > 123) {
      throw domError('SyntaxError', 'close reason longer than 123 bytes');
    }
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#closing = true;
    this.#forced = false;
    this.#cancelAll();
    this.#queue.length = 0;
    const ws = this.#ws;
    if (!ws) {
      this.#finish({ code: code ?? 1000, reason: reason ?? '', wasClean: true });
      return;
    }
    if (this.#o.closeTimeout > 0) {
      this.#timers.close = this.#after(this.#o.closeTimeout, () => this.#abandon(ws, 1006, 'close timeout', false));
    }
    try {
      // An explicit 1000 rather than none, so that the server echoes it (a
      // close frame without a code comes back as 1005).
      ws.close(code ?? 1000, reason ?? '');
    } catch {
      this.#abandon(ws, code ?? 1000, reason ?? '', false);
      return;
    }
    this.#setState('closing');
  }

  /**
   * Connects again now: drops the current connection or attempt (close code
   * 4002; its `reconnecting` event says `attempt: 0, delay: 0`), skips the
   * back-off and resets it, and also restarts an instance that was closed.
   * Useful on the browser's `online` event.
   */
  reconnect() {
    this.#closing = false;
    this.#attempt = 0;
    const ws = this.#ws;
    if (ws) {
      this.#forced = true;
      this.#abandon(ws, RECONNECT_REQUESTED, 'reconnect', true);
      return;
    }
    this.#cancelAll();
    this.#connect(false);
  }

  #after(ms, fn) {
    return this.#timerApi.setTimeout(fn, ms);
  }

  #cancel(name) {
    if (this.#timers[name] !== undefined) {
      this.#timerApi.clearTimeout(this.#timers[name]);
      this.#timers[name] = undefined;
    }
  }

  #cancelAll() {
    for (const name of TIMERS) this.#cancel(name);
  }

  #emit(type, props) {
    this.dispatchEvent(makeEvent(type, props));
  }

  /**
   * Changes the state and dispatches `statechange`. Returns false when a
   * handler changed the state again meanwhile, so the caller must stop.
   */
  #setState(state) {
    if (state === this.#state) return true;
    const previous = this.#state;
    this.#state = state;
    const epoch = ++this.#epoch;
    this.#emit('statechange', { state, previous });
    return epoch === this.#epoch;
  }

  #connect(first) {
    if (!this.#setState('connecting')) return;
    let ws;
    try {
      const url = typeof this.#url === 'function' ? this.#url() : this.#url;
      this.#lastUrl = String(url);
      const Socket = this.#useFallback ? FallbackSocket : this.#WS;
      ws = this.#protocols === undefined ? new Socket(url) : new Socket(url, this.#protocols);
    } catch (err) {
      if (first) throw err;
      const epoch = this.#epoch;
      this.#emit('error', { error: err, message: String(err?.message ?? err) });
      if (epoch === this.#epoch) this.#ended({ code: 1006, reason: '', wasClean: false });
      return;
    }
    if (this.#binaryType !== undefined) ws.binaryType = this.#binaryType;
    this.#ws = ws;
    this.#opened = false;
    ws.onopen = () => this.#onOpen(ws);
    ws.onmessage = (ev) => this.#onMessage(ws, ev);
    ws.onerror = (ev) => this.#onError(ws, ev);
    ws.onclose = (ev) => this.#onClose(ws, ev);
    let limit = this.#o.connectTimeout;
    if (this.#o.fallback === 'auto' && !this.#useFallback && this.#o.fallbackAfter > 0) {
      limit = limit > 0 ? Math.min(limit, this.#o.fallbackAfter) : this.#o.fallbackAfter;
    }
    if (limit > 0) {
      this.#timers.connect = this.#after(limit, () => this.#abandon(ws, CONNECT_TIMEOUT, 'connect timeout', true));
    }
  }

  #onOpen(ws) {
    if (ws !== this.#ws) return;
    this.#opened = true;
    this.#switched = false;
    this.#cancel('connect');
    if (this.#o.stableAfter > 0) {
      this.#timers.stable = this.#after(this.#o.stableAfter, () => {
        this.#timers.stable = undefined;
        this.#attempt = 0;
      });
    } else {
      this.#attempt = 0;
    }
    this.#armHeartbeat(ws);
    if (!this.#setState('open')) return;
    const epoch = this.#epoch;
    this.#emit('open', {});
    if (epoch !== this.#epoch || ws !== this.#ws) return;
    while (this.#queue.length > 0 && ws === this.#ws && this.#state === 'open' && ws.readyState === 1) {
      ws.send(this.#queue.shift());
    }
  }

  #onMessage(ws, ev) {
    if (ws !== this.#ws) return;
    if (this.#state === 'open') this.#armHeartbeat(ws);
    this.#emit('message', { data: ev.data, origin: ev.origin, lastEventId: ev.lastEventId });
  }

  #onError(ws, ev) {
    if (ws !== this.#ws) return;
    const opened = this.#opened;
    const epoch = this.#epoch;
    this.#emit('error', { error: ev?.error, message: ev?.message });
    // A failed attempt is over once it reports an error (and some
    // implementations, Node 20's among them, never follow it with a close
    // event); browsers would report code 1006 for it.
    if (!opened && epoch === this.#epoch && ws === this.#ws) this.#abandon(ws, 1006, '', false);
  }

  #onClose(ws, ev) {
    if (ws !== this.#ws) return;
    this.#detach(ws);
    this.#ended({ code: ev?.code ?? 1006, reason: ev?.reason ?? '', wasClean: Boolean(ev?.wasClean) });
  }

  /** Stops listening to a socket and reports it as ended with `code`, closing it first if `sendClose`. */
  #abandon(ws, code, reason, sendClose) {
    if (ws !== this.#ws) return;
    this.#detach(ws);
    if (sendClose) {
      try {
        ws.close(code, reason);
      } catch {
        // It is being dropped anyway.
      }
    }
    this.#ended({ code, reason, wasClean: false });
  }

  #detach(ws) {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    // A no-op rather than null: some implementations (the ws package) throw
    // on an error event that nobody listens to.
    ws.onerror = ignore;
    this.#ws = null;
  }

  #armHeartbeat(ws) {
    const { heartbeatTimeout, heartbeatMessage, heartbeatInterval } = this.#o;
    if (heartbeatTimeout > 0) {
      this.#cancel('dead');
      this.#timers.dead = this.#after(heartbeatTimeout, () => this.#abandon(ws, HEARTBEAT_TIMEOUT, 'heartbeat timeout', true));
    }
    if (heartbeatMessage !== null && heartbeatMessage !== undefined) {
      this.#cancel('ping');
      this.#timers.ping = this.#after(heartbeatInterval, () => this.#ping(ws));
    }
  }

  #ping(ws) {
    if (ws !== this.#ws || this.#state !== 'open') return;
    const m = this.#o.heartbeatMessage;
    try {
      ws.send(typeof m === 'function' ? m() : m);
    } catch {
      // The heartbeat timeout will notice a broken connection.
    }
    this.#timers.ping = this.#after(this.#o.heartbeatInterval, () => this.#ping(ws));
  }

  /** The socket is gone (closed, failed or abandoned): finish or schedule the next attempt. */
  #ended(info) {
    this.#cancelAll();
    if (this.#closing) {
      this.#finish(info);
      return;
    }
    let forced = this.#forced;
    this.#forced = false;
    // fallback 'auto': an attempt that never opened tries the other transport;
    // the first switch to the fallback since a connection opened comes at once.
    if (this.#o.fallback === 'auto' && !this.#opened && !forced) {
      this.#useFallback = !this.#useFallback;
      if (this.#useFallback && !this.#switched) {
        this.#switched = true;
        forced = true;
      }
    }
    const { maxRetries, shouldReconnect } = this.#o;
    const epoch = this.#epoch;
    const again = forced || (this.#attempt < maxRetries && (typeof shouldReconnect !== 'function' || shouldReconnect(info) !== false));
    if (epoch !== this.#epoch) return;
    if (!again) {
      this.#queue.length = 0;
      this.#finish(info);
      return;
    }
    const delay = forced ? 0 : this.#delay(this.#attempt);
    if (!forced) this.#attempt += 1;
    const attempt = this.#attempt;
    this.#timers.retry = this.#after(delay, () => {
      this.#timers.retry = undefined;
      this.#connect(false);
    });
    if (!this.#setState('reconnecting')) return;
    const after = this.#epoch;
    this.#emit('close', { ...info, willReconnect: true });
    if (after === this.#epoch) this.#emit('reconnecting', { attempt, delay });
  }

  #finish(info) {
    this.#cancelAll();
    this.#queue.length = 0;
    if (!this.#setState('closed')) return;
    this.#emit('close', { ...info, willReconnect: false });
  }

  #delay(attempt) {
    const { minDelay, maxDelay, factor, jitter, random } = this.#o;
    const base = Math.min(maxDelay, minDelay * factor ** attempt);
    return Math.round(base * (1 - jitter * random()));
  }
}

for (const type of EVENT_TYPES) {
  Object.defineProperty(ReconnectingWebSocket.prototype, `on${type}`, {
    get() {
      return handlers.get(this)[type] ?? null;
    },
    set(fn) {
      handlers.get(this)[type] = typeof fn === 'function' ? fn : null;
    },
    enumerable: true,
    configurable: true,
  });
}
for (const [name, value] of [['CONNECTING', 0], ['OPEN', 1], ['CLOSING', 2], ['CLOSED', 3]]) {
  Object.defineProperty(ReconnectingWebSocket.prototype, name, { value, enumerable: true });
}

export default ReconnectingWebSocket;
