#!/usr/bin/env node
// Live subscribers for bench/run.py's scenario 11 (bench/mixed.py): SUBSCRIBERS
// graphql-transport-ws connections, spread evenly over the tickets of TICKET_IDS, each
// subscribed to `messageAdded(ticketId)` of its ticket, counting and timing every message
// written by the load (bench/wrk/mixed.lua) while bench/run.py runs it.
//
// Environment: WS_URL, HTTP_URL (for the warm-up messages), KEY, TICKET_IDS (comma-
// separated), SUBSCRIBERS (default 200), CONNECT_CONCURRENCY (default 50).
//
// 1. Connects and subscribes every client, then sends warm-up messages (sendMessage, one
//    per ticket, again every 500 ms) until every client has received one: a subscription
//    is active on the server only some time after `subscribe` was sent. Then prints
//    `MIXED_READY {"subscribers","connectMs","warmUpMs","errors"}`.
// 2. Each message written by the load carries "(bench <label>/<writer-id>/<t>)" in its
//    content, t the write request's start in µs of CLOCK_MONOTONIC (wrk's clock; Node's
//    process.hrtime is the same clock), so the delivery latency is measured from the
//    start of the sendMessage request, whichever replica or process sent it. The latency
//    from the message's createdAt (the server's wall clock, at the insert) is kept too.
// 3. When its standard input closes it prints, per label,
//    `MIXED_JSON {"subscribers","tickets","errors","firstErrors","closedEarly",
//     "clientCpuShare","labels":{label:{"deliveries","duplicates","outOfOrder","messages",
//     "byTicket":{id:deliveries},"seenBy":{k:messages seen by k subscribers},
//     "fromRequest":{…},"fromCreatedAt":{…}}}}`
//    ({count,min,mean,p50,p95,p99,max} in ms), and exits.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../postgraphile/package.json', import.meta.url));
const WebSocket = require('ws');

const WS_URL = process.env.WS_URL;
const HTTP_URL = process.env.HTTP_URL;
const KEY = process.env.KEY;
const TICKETS = (process.env.TICKET_IDS || '').split(',').filter(Boolean);
const N = Number(process.env.SUBSCRIBERS || 200);
const CONCURRENCY = Number(process.env.CONNECT_CONCURRENCY || 50);
if (!WS_URL || !HTTP_URL || !KEY || !TICKETS.length) {
  console.error('mixed: set WS_URL, HTTP_URL, KEY and TICKET_IDS');
  process.exit(2);
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const run = `${process.pid}-${Date.now()}`;
const query = 'subscription($t: UUID!) { messageAdded(ticketId: $t) { content createdAt } }';
const MARK = /\(bench ([^/\s]+)\/([^/\s]+)\/(\d+)\)/;

const sockets = [];
const errors = [];
let closing = false;
let closedEarly = 0;
const ready = new Set();
/** label -> figures */
const labels = new Map();
/** client -> Set of message keys it received (duplicates) */
const seenByClient = [];
/** client -> writer id -> last counter (order, per writer: one writer's messages to a
 * ticket are sent one after the other, each after the previous one's response) */
const lastByClient = [];

function figures(label) {
  let f = labels.get(label);
  if (!f) {
    f = { deliveries: 0, duplicates: 0, outOfOrder: 0, perMessage: new Map(), byTicket: {}, fromRequest: [], fromCreatedAt: [] };
    labels.set(label, f);
  }
  return f;
}

function received(client, message) {
  const atUs = nowUs();
  const atMs = Date.now();
  const content = message.content;
  if (content.startsWith(`mixed warm-up ${run}`)) {
    ready.add(client);
    return;
  }
  const m = MARK.exec(content);
  if (!m) return; // an earlier run's or another writer's message
  const [, label, writer, t] = m;
  const f = figures(label);
  const key = `${writer}/${t}`;
  const seen = seenByClient[client];
  if (seen.has(`${label}/${key}`)) {
    f.duplicates++;
    return;
  }
  seen.add(`${label}/${key}`);
  const [thread, counter] = writer.split('-').map(Number);
  const last = lastByClient[client];
  const previous = last.get(`${label}/${thread}`);
  if (previous !== undefined && counter < previous) f.outOfOrder++;
  last.set(`${label}/${thread}`, counter);
  f.deliveries++;
  f.perMessage.set(key, (f.perMessage.get(key) || 0) + 1);
  const ticket = TICKETS[client % TICKETS.length];
  f.byTicket[ticket] = (f.byTicket[ticket] || 0) + 1;
  f.fromRequest.push((atUs - Number(t)) / 1000);
  f.fromCreatedAt.push(atMs - Date.parse(message.createdAt));
}

function connect(n) {
  seenByClient[n] = new Set();
  lastByClient[n] = new Map();
  const ticket = TICKETS[n % TICKETS.length];
  return new Promise((resolve) => {
    const ws = new WebSocket(WS_URL, 'graphql-transport-ws', { perMessageDeflate: false });
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
        errors.push(`client ${n}: not JSON`);
        return;
      }
      switch (msg.type) {
        case 'next':
          if (msg.payload.errors) errors.push(`client ${n}: ${JSON.stringify(msg.payload.errors)}`);
          else received(n, msg.payload.data.messageAdded);
          break;
        case 'connection_ack':
          acked = true;
          ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { t: ticket } } }));
          resolve();
          break;
        case 'ping':
          ws.send('{"type":"pong"}');
          break;
        case 'pong':
          break;
        case 'error':
          errors.push(`client ${n}: ${JSON.stringify(msg.payload)}`);
          break;
        case 'complete':
          errors.push(`client ${n}: the subscription completed`);
          break;
        default:
          errors.push(`client ${n}: unexpected ${String(data).slice(0, 200)}`);
      }
    });
    ws.on('error', (err) => {
      errors.push(`client ${n}: ${err.message}`);
      if (!acked) resolve();
    });
    ws.on('close', (code, reason) => {
      if (!acked) {
        errors.push(`client ${n}: closed ${code} before the acknowledgement`);
        resolve();
      } else if (!closing) {
        closedEarly++;
        errors.push(`client ${n}: closed ${code} ${reason}`.trim());
      }
    });
  });
}

async function send(ticket, content) {
  const response = await fetch(HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({
      query: 'mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }',
      variables: { t: ticket, c: content },
    }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error(`HTTP ${response.status} ${JSON.stringify(body.errors ?? body)}`);
}

const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(CONCURRENCY, N) }, async () => {
    while (next < N) await connect(next++);
  }),
);
const connectMs = Math.round(performance.now() - started);

const warmStart = performance.now();
for (let i = 0; ready.size < N; i++) {
  if (performance.now() - warmStart > 120_000 || errors.length) {
    console.log(`MIXED_FAILED ${JSON.stringify({ ready: ready.size, subscribers: N, errors: errors.length, firstErrors: errors.slice(0, 5) })}`);
    process.exit(1);
  }
  await Promise.all(TICKETS.map((t) => send(t, `mixed warm-up ${run} ${i}`))).catch((err) => {
    errors.push(`warm-up message: ${err.message}`);
  });
  await new Promise((r) => setTimeout(r, 500));
}
const warmUpMs = Math.round(performance.now() - warmStart);
const cpuBefore = process.cpuUsage();
const measureStart = performance.now();
console.log(`MIXED_READY ${JSON.stringify({ subscribers: N, connectMs, warmUpMs, errors: errors.length })}`);

function stats(values) {
  if (!values.length) return { count: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  const round = (v) => Math.round(v * 100) / 100;
  return {
    count: sorted.length,
    min: round(sorted[0]),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    p50: round(at(50)),
    p95: round(at(95)),
    p99: round(at(99)),
    max: round(sorted[sorted.length - 1]),
  };
}

process.stdin.resume();
process.stdin.on('end', () => {
  closing = true;
  const cpu = process.cpuUsage(cpuBefore);
  const out = {};
  for (const [label, f] of labels) {
    const seenBy = {};
    for (const k of f.perMessage.values()) seenBy[k] = (seenBy[k] || 0) + 1;
    out[label] = {
      deliveries: f.deliveries,
      duplicates: f.duplicates,
      outOfOrder: f.outOfOrder,
      messages: f.perMessage.size,
      byTicket: f.byTicket,
      seenBy,
      fromRequest: stats(f.fromRequest),
      fromCreatedAt: stats(f.fromCreatedAt),
    };
  }
  const summary = {
    subscribers: N,
    tickets: TICKETS.length,
    errors: errors.length,
    firstErrors: errors.slice(0, 5),
    closedEarly,
    clientCpuShare: Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - measureStart)) * 1000) / 1000,
    labels: out,
  };
  console.log(`MIXED_JSON ${JSON.stringify(summary)}`);
  process.exit(0);
});
