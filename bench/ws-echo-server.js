// The rival of bench/run's compressed echo row: the echo server of the ws README, every message
// sent back as it came, with `perMessageDeflate: true`, i.e. ws's defaults: context takeover
// both ways, messages under 1 KiB sent uncompressed, at most 10 zlib jobs at once.
//
//   NODE_PATH=DIR/node_modules node bench/ws-echo-server.js PORT [HOST]
//
// bench/run installs ws 8 into DIR with npm (see bench/README.md). Exits on SIGTERM.
'use strict';

const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const host = process.argv[3] || '127.0.0.1';
const wss = new WebSocketServer({ host, port, perMessageDeflate: true });

wss.on('connection', (ws) => {
  ws.on('error', console.error);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(`ws ${require('ws/package.json').version} echo on ` +
  `${host}:${wss.address().port}, node ${process.version}`));
process.on('SIGTERM', () => process.exit(0));
