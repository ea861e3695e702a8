/**
 * What every example page needs around its ReconnectingWebSocket (from
 * ../js/wsbridge.js): the WebSocket URL next to the page, a check that the
 * page can work at all, and a status line that says what the connection is
 * doing. basics/connect.html builds the same status line step by step.
 */

/** ws:// (or wss:// for a page served over https) URL of `path` relative to the page. */
export function socketURL(path = './') {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  return url.href;
}

/**
 * Returns a sentence saying why this page cannot connect (no WebSocket in
 * this browser, or a page opened as a file instead of through wsbridge),
 * after showing it in `el`; null when all is well.
 */
export function cannotConnect(el) {
  let why = null;
  if (typeof WebSocket !== 'function' && (typeof fetch !== 'function' || typeof EventSource !== 'function')) {
    why = 'This browser supports neither WebSockets nor server-sent events, so this page cannot talk to the server.';
  } else if (location.protocol !== 'http:' && location.protocol !== 'https:') {
    why = 'Open this page through wsbridge (see the README for the command), not as a file.';
  }
  if (why) {
    el.textContent = why;
    el.dataset.state = 'unsupported';
  }
  return why;
}

const LABELS = { connecting: 'connecting…', open: 'connected', closing: 'closing…', closed: 'closed' };

/**
 * Keeps `el` showing the state of `ws`: "connected", "connecting…", or,
 * while the server is away, why the last connection ended and when the next
 * attempt comes, with a "Retry now" button. `el.dataset.state` holds the
 * library's state ('open', 'connecting', 'reconnecting', 'closing', 'closed')
 * for style sheets and tests, and `el.dataset.transport` how the open
 * connection goes: 'websocket', or 'fallback' (wsbridge's HTTP fallback).
 */
export function showStatus(ws, el) {
  const retry = document.createElement('button');
  retry.type = 'button';
  retry.textContent = 'Retry now';
  retry.className = 'retry';
  retry.hidden = true;
  retry.onclick = () => ws.reconnect();
  el.after(retry);

  let countdown;
  let lastClose = null;
  let everOpen = false;
  const render = (state, text) => {
    el.dataset.state = state;
    el.textContent = text;
    retry.hidden = state !== 'reconnecting';
  };

  ws.addEventListener('statechange', (e) => {
    clearInterval(countdown);
    if (e.state === 'open') {
      everOpen = true;
      el.dataset.transport = ws.transport; // 'websocket', or 'fallback' (HTTP, wsbridge --fallback)
      el.title = ws.transport === 'fallback' ? 'over the HTTP fallback' : 'over a WebSocket';
    }
    if (e.state !== 'reconnecting') render(e.state, LABELS[e.state] ?? e.state);
  });
  ws.addEventListener('close', (e) => {
    lastClose = e;
    if (!e.willReconnect) render('closed', `closed (${describe(e)})`);
  });
  ws.addEventListener('reconnecting', (e) => {
    const why = lastClose && lastClose.code !== 1006 ? describe(lastClose)
      : everOpen ? 'connection lost' : 'server unreachable';
    const until = Date.now() + e.delay;
    const tick = () => {
      const s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      render('reconnecting', `disconnected: ${why}; retrying in ${s} s (attempt ${e.attempt})`);
    };
    tick();
    countdown = setInterval(tick, 1000);
  });
  render(ws.state, LABELS[ws.state] ?? ws.state);
}

function describe(e) {
  const known = {
    1000: 'the program finished',
    1001: 'the server is shutting down',
    1006: 'connection lost',
    1008: 'too slow',
    1011: 'the program failed',
  };
  const what = e.reason || known[e.code] || 'closed';
  return `${what}, code ${e.code}`;
}
