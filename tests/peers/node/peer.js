// Node `ws` as a peer for sockeye's tests (see ../README.md for the protocol).
//   node peer.js server PORT        echo server, prints "listening PORT"
//   node peer.js client URL [PROTO...]  echo client, prints "open protocol=P"
// Both echo every message, obey "cmd:" text messages, and print "closed code=N reason=R".
// TLS: with PEER_TLS_CERT and PEER_TLS_KEY (PEM files) the server listens with `https`
// (wss://); with PEER_TLS_CA the client trusts that CA (PEM) for a wss:// URL.
'use strict';
const fs = require('fs');
const https = require('https');
const WebSocket = require('ws');

const [mode, arg, ...protocols] = process.argv.slice(2);

// permessage-deflate, from PEER_DEFLATE: unset = the library's default (a server does not
// accept it, a client offers it), `off`, `on` (context takeover), `nct` (no context takeover
// either way), `bits` (server window 2^10, client window 2^9). Every message is compressed
// (threshold 0), whatever its size.
function deflateOptions() {
  switch (process.env.PEER_DEFLATE) {
    case undefined: return undefined;
    case 'off': return false;
    case 'on': return { threshold: 0 };
    case 'nct': return { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true };
    case 'bits': return { threshold: 0, serverMaxWindowBits: 10, clientMaxWindowBits: 9 };
    default: throw new Error(`PEER_DEFLATE=${process.env.PEER_DEFLATE}?`);
  }
}

// With PEER_DEFLATE set, the negotiated extensions are printed after the `open` line.
function opened(ws) {
  console.log(`open protocol=${ws.protocol}`);
  if (process.env.PEER_DEFLATE !== undefined) console.log(`extensions ${ws.extensions}`);
}

function serve(ws) {
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text !== null && text.startsWith('cmd:')) return command(ws, text.slice(4));
    ws.send(data, { binary: isBinary });
  });
  ws.on('ping', (data) => console.log(`ping ${data.toString()}`));
  ws.on('pong', (data) => console.log(`pong ${data.toString()}`));
  ws.on('close', (code, reason) => {
    console.log(`closed code=${code} reason=${reason.toString()}`);
    if (mode === 'client') process.exit(0);
  });
  ws.on('error', (err) => console.log(`error ${err.message}`));
}

// A frame written behind the library's back. RFC 6455 §5.1: a client masks every frame it
// sends (a server fails the connection on an unmasked one), so the client masks it too.
function rawFrame(header, payload) {
  if (mode !== 'client') return Buffer.from([...header, ...payload]);
  const key = [0x37, 0xfa, 0x21, 0x3d];
  const masked = payload.map((b, i) => b ^ key[i % 4]);
  return Buffer.from([header[0], header[1] | 0x80, ...header.slice(2), ...key, ...masked]);
}

function command(ws, cmd) {
  const [name, ...rest] = cmd.split(':');
  const socket = ws._socket;
  switch (name) {
    case 'close': ws.close(Number(rest[0]), rest.slice(1).join(':')); break;
    case 'ping': ws.ping(rest.join(':')); break;
    case 'fragment':
      ws.send('frag', { fin: false });
      ws.send('men', { fin: false });
      ws.send('ted', { fin: true });
      break;
    case 'kill-mid-message':
      // Header of a 4096-byte binary frame, then 3 bytes of it, then the process dies.
      socket.write(rawFrame([0x82, 0x7e, 0x10, 0x00], [1, 2, 3]), () => process.exit(0));
      break;
    case 'close-keep-tcp':
      // A Close written behind the library's back; then stop reading so that nothing
      // ever closes the TCP connection.
      socket.pause();
      socket.write(rawFrame([0x88, 0x02], [0x03, 0xe8]));
      ws.removeAllListeners('close');
      break;
    case 'raw':
      // A frame (header and payload in hex) written behind the library's back.
      socket.write(rawFrame([...Buffer.from(rest[0], 'hex')], [...Buffer.from(rest[1] || '', 'hex')]));
      break;
    default: ws.send(`unknown command ${cmd}`);
  }
}

if (mode === 'server') {
  const deflate = deflateOptions();
  const handleProtocols = (offered) => (offered.has('chat.v2') ? 'chat.v2' : offered.has('chat') ? 'chat' : false);
  const common = { handleProtocols, ...(deflate === undefined ? {} : { perMessageDeflate: deflate }) };
  let wss;
  if (process.env.PEER_TLS_CERT) {
    const server = https.createServer({
      cert: fs.readFileSync(process.env.PEER_TLS_CERT),
      key: fs.readFileSync(process.env.PEER_TLS_KEY),
    });
    wss = new WebSocket.Server({ server, ...common });
    server.listen(Number(arg), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
  } else {
    wss = new WebSocket.Server({ host: '127.0.0.1', port: Number(arg), ...common });
    wss.on('listening', () => console.log(`listening ${wss.address().port}`));
  }
  wss.on('connection', (ws) => {
    opened(ws);
    serve(ws);
  });
} else if (mode === 'client') {
  const deflate = deflateOptions();
  const options = process.env.PEER_TLS_CA ? { ca: fs.readFileSync(process.env.PEER_TLS_CA) } : {};
  if (deflate !== undefined) options.perMessageDeflate = deflate;
  const ws = new WebSocket(arg, protocols, options);
  ws.on('open', () => opened(ws));
  serve(ws);
} else {
  console.error('usage: peer.js server PORT | client URL [PROTOCOL...]');
  process.exit(2);
}
