// Preloaded (node --require) where Node has no WebSocket of its own, as
// Debian 12's Node 18: the ws package's WebSocket, which has the browser's API.
if (typeof globalThis.WebSocket !== 'function') globalThis.WebSocket = require('ws');
