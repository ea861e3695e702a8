// A second, independent permessage-deflate client: npm's ws with its
// default offer ("permessage-deflate; client_max_window_bits"). Sends large
// texts (compressible, random, non-ASCII) to an echo endpoint and checks
// every echo byte for byte. usage: node ws_roundtrip.cjs WS_MODULE_DIR URL [binary]
// Prints one JSON line: {extensions (ws's names), agreed (the 101's
// Sec-WebSocket-Extensions), trips, ok, error?}.
'use strict';
const WebSocket = require(process.argv[2]);
const url = process.argv[3];
const binary = process.argv[4] === 'binary';

function ticker(i) {
  return JSON.stringify({symbol: 'WSB' + (i % 7), price: 100 + (i % 50) + i / 1000,
                         volume: 1000 + i, exchange: 'XNYS', currency: 'USD'});
}
let seed = 12345;
function random() { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; }
const messages = [
  'x',
  Array.from({length: 20000}, (_, i) => ticker(i)).join(' '),  // ~1.6 MB, compresses well
  Array.from({length: 300000}, () => String.fromCharCode(33 + Math.floor(random() * 94))).join(''),
  'äöü€𝄞 '.repeat(40000),
];

const ws = new WebSocket(url, binary ? ['binary'] : []);
let next = 0, got = [], gotLen = 0, agreed = '';
ws.on('upgrade', (res) => { agreed = res.headers['sec-websocket-extensions'] || ''; });
const result = (o) => { process.stdout.write(JSON.stringify({...o, agreed}) + '\n'); };
const want = () => Buffer.from(messages[next], 'utf8');
function send() { ws.send(binary ? want() : messages[next]); }
ws.on('open', send);
ws.on('message', (data) => {
  // exec text mode answers each message with one; a proxy may cut the bytes anywhere
  got.push(Buffer.from(data));
  gotLen += data.length;
  const w = want();
  if (gotLen < w.length) return;
  const all = Buffer.concat(got);
  got = []; gotLen = 0;
  if (!all.equals(w)) {
    result({extensions: ws.extensions, trips: next, ok: false, error: 'echo differs'});
    ws.terminate();
    return;
  }
  if (++next < messages.length) send(); else ws.close(1000);
});
ws.on('close', (code) => {
  if (next === messages.length) result({extensions: ws.extensions, trips: next, ok: code === 1000});
  process.exit(0);
});
ws.on('error', (e) => { result({extensions: '', trips: next, ok: false, error: String(e)}); process.exit(0); });
