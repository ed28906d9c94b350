#!/usr/bin/env node
// Idle websocket subscribers for bench/run.py (scenario 6): opens SUBSCRIBERS
// graphql-transport-ws connections, each subscribed to `messageAdded(ticketId)`, then
// holds them open, answering pings, until its standard input closes. bench/run.py reads
// the server's memory meanwhile.
//
// Environment: WS_URL, KEY, TICKET_ID, SUBSCRIBERS (default 10000), CONNECT_CONCURRENCY
// (default 100).
// Prints `IDLE_READY {"open","connectMs","errors"}` once every subscription is sent and
// acknowledged by a connection_ack, and at the end
// `IDLE_JSON {"open","closed","errors","received"}` (`received`: messageAdded events
// delivered while holding: bench/run.py sends one message to prove the subscriptions live).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../postgraphile/package.json', import.meta.url));
const WebSocket = require('ws');

const URL_ = process.env.WS_URL;
const KEY = process.env.KEY;
const TICKET_ID = process.env.TICKET_ID;
const N = Number(process.env.SUBSCRIBERS || 10000);
const CONCURRENCY = Number(process.env.CONNECT_CONCURRENCY || 100);
if (!URL_ || !KEY || !TICKET_ID) {
  console.error('idle: set WS_URL, KEY and TICKET_ID');
  process.exit(2);
}

const sockets = [];
let open = 0;
let closed = 0;
let received = 0;
const errors = [];
const query = 'subscription($t: UUID!) { messageAdded(ticketId: $t) { id } }';

function connect(n) {
  return new Promise((resolve) => {
    const ws = new WebSocket(URL_, 'graphql-transport-ws', { perMessageDeflate: false });
    sockets.push(ws);
    let acked = false;
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${KEY}` } }));
    });
    ws.on('message', (data) => {
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (msg.type === 'connection_ack' && !acked) {
        acked = true;
        open++;
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { t: TICKET_ID } } }));
        resolve();
      } else if (msg.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      } else if (msg.type === 'next') {
        received++;
      } else if (msg.type === 'error') {
        errors.push(`client ${n}: ${JSON.stringify(msg.payload)}`);
      }
    });
    ws.on('error', (err) => {
      errors.push(`client ${n}: ${err.message}`);
      if (!acked) resolve();
    });
    ws.on('close', (code) => {
      if (acked) {
        open--;
        closed++;
      } else {
        errors.push(`client ${n}: closed ${code} before the acknowledgement`);
        resolve();
      }
    });
  });
}

const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(CONCURRENCY, N) }, async () => {
    while (next < N) await connect(next++);
  }),
);
const connectMs = Math.round(performance.now() - started);
console.log(`IDLE_READY ${JSON.stringify({ open, connectMs, errors: errors.length, firstErrors: errors.slice(0, 3) })}`);

process.stdin.resume();
process.stdin.on('end', () => {
  console.log(`IDLE_JSON ${JSON.stringify({ open, closed, errors: errors.length, received, firstErrors: errors.slice(0, 3) })}`);
  process.exit(0);
});
