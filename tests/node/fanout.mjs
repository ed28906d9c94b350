#!/usr/bin/env node
// Fan-out latency of `messageAdded`: how long a message takes to reach many subscribers.
// A measuring tool, not a test.
//
// Usage (after `npm ci` in this folder), against running servers:
//
//   WS_URLS=ws://127.0.0.1:18301/graphql HTTP_URL=http://127.0.0.1:18300/graphql \
//   KEY=tg_xxx SUBSCRIBERS=1000 MESSAGES=50 node fanout.mjs
//
// Environment:
//   WS_URLS        comma-separated websocket URLs; subscribers are spread round-robin
//   HTTP_URL       where the messages are sent (sendMessage mutations); default: the first
//                  WS URL with http
//   KEY            a key with the read and write scopes
//   SUBSCRIBERS    graphql-ws clients, one connection each (default 1000)
//   MESSAGES       messages measured, sent one at a time (default 50)
//   TICKET_ID      the ticket to write to (default: one created here)
//   TIMEOUT_MS     how long one message may take to reach everyone before the next is
//                  sent anyway (default 10000)
//   CLIENT         lean (default: `ws` and the few protocol messages needed) or graphql-ws
//                  (the graphql-ws client library); both speak graphql-transport-ws
//   CONNECT_CONCURRENCY  connections being opened at once (default 50): each one costs
//                  the server a key lookup, and a burst of 1000 would measure the pool
//
// Each subscriber is a socket (a file descriptor) here and on the server: `ulimit -n`
// must be above SUBSCRIBERS on both sides.
//
// How: every client subscribes to `messageAdded(ticketId)`. Warm-up messages are then sent
// (one at a time) until every client has received one, which proves every subscription is
// active. Then each measured message is sent once the previous one reached everyone (or
// TIMEOUT_MS passed). Messages are told apart by their content, so a delivery that beats
// the HTTP response is still matched. For each delivery the script records:
//   - from response: the receipt time minus the time the sendMessage response arrived
//     (may be slightly negative: the event is published at commit, before the response);
//   - from request:  the receipt time minus the time the request started;
// and per message the time until the last subscriber had it ("complete").
// All times are `performance.now()` of this one process, so client-side event-loop delay
// is included: with thousands of clients, watch this process's CPU too.
//
// Output: the figures as text, then one line
//   FANOUT_JSON {"subscribers","messages","deliveries","expected","missing","duplicates",
//                "outOfOrder","errors","connectMs","warmUpMs","fromResponse":{...},
//                "fromRequest":{...},"complete":{...},"send":{...}}
// with {count,min,mean,p50,p95,p99,max} in milliseconds for each distribution.
// Exit code 0 when every delivery arrived once and in order, 1 otherwise, 2 on a setup error.

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

function fatal(message) {
  console.error(`fanout: ${message}`);
  process.exit(2);
}

function number(name, fallback) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) fatal(`${name} must be a positive integer`);
  return value;
}

const WS_URLS = (process.env.WS_URLS ?? '').split(',').map((u) => u.trim()).filter(Boolean);
if (!WS_URLS.length) fatal('set WS_URLS, e.g. WS_URLS=ws://127.0.0.1:8080/graphql');
const HTTP_URL = process.env.HTTP_URL || WS_URLS[0].replace(/^ws/, 'http');
const KEY = process.env.KEY || fatal('set KEY (a read+write API key)');
const SUBSCRIBERS = number('SUBSCRIBERS', 1000);
const MESSAGES = number('MESSAGES', 50);
const TIMEOUT_MS = number('TIMEOUT_MS', 10_000);
const CONNECT_CONCURRENCY = number('CONNECT_CONCURRENCY', 50);
const CLIENT = process.env.CLIENT || 'lean';
if (!['lean', 'graphql-ws'].includes(CLIENT)) fatal('CLIENT must be lean or graphql-ws');
/** Set once the figures are taken: closes after that are expected. */
let closing = false;

// Thousands of sockets from one process: no agent limit (ws connects without one, but a
// global limit would also throttle anything else using the default agent).
http.globalAgent.maxSockets = Infinity;
process.setMaxListeners(0);

async function gql(query, variables) {
  const response = await fetch(HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await response.json();
  if (!response.ok || body.errors) {
    throw new Error(`HTTP ${response.status} ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

const SEND = `mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }`;
const run = `${process.pid}-${Date.now()}`;
const ticketId =
  process.env.TICKET_ID ||
  (
    await gql(
      `mutation($d: String!) { createTicket(input: { distinctId: $d, message: "fan-out" }) { id } }`,
      { d: `fanout-${run}` },
    ).catch((err) => fatal(`cannot create a ticket at ${HTTP_URL}: ${err.message}`))
  ).createTicket.id;

// ---------------------------------------------------------------------------------------
// Deliveries: for each content, which clients got it and when.

/** content -> { sentAt, answeredAt, seen: Map<client, time>, done(), … } */
const tracked = new Map();
let duplicates = 0;
let outOfOrder = 0;
const errors = [];
/** For each client, the index of the last measured message it received. */
const lastIndex = new Int32Array(SUBSCRIBERS).fill(-1);

function track(content, index) {
  let resolve;
  const entry = {
    index,
    sentAt: 0,
    answeredAt: 0,
    seen: new Map(),
    everyone: new Promise((r) => (resolve = r)),
  };
  entry.resolve = resolve;
  tracked.set(content, entry);
  return entry;
}

function received(client, content) {
  const at = performance.now();
  const entry = tracked.get(content);
  if (!entry) return; // a warm-up message sent before this client was listening
  if (entry.seen.has(client)) {
    duplicates++;
    return;
  }
  entry.seen.set(client, at);
  if (entry.index >= 0) {
    if (entry.index <= lastIndex[client]) outOfOrder++;
    lastIndex[client] = entry.index;
  }
  if (entry.seen.size === SUBSCRIBERS) entry.resolve();
}

// ---------------------------------------------------------------------------------------
// The subscribers.

/** A close event (`close 4403 Forbidden`), GraphQL errors or a network error, as text. */
const describe = (err) =>
  err?.code ? `close ${err.code} ${err.reason ?? ''}`.trim() : (err?.message ?? JSON.stringify(err));

const clients = [];
const query = `subscription($t: UUID!) { messageAdded(ticketId: $t) { content } }`;

/**
 * Opens client `n`, resolving once its connection is acknowledged and it subscribed.
 *
 * Two clients speak the same protocol (graphql-transport-ws) to the server:
 * - `lean` (the default): `ws` and the handful of messages this script needs, so that the
 *   one JavaScript thread receiving every delivery costs as little as it can. With 1,000
 *   sockets, the `graphql-ws` client took about as much CPU per delivery as the server
 *   did, and the latest deliveries then waited for this process rather than the server.
 * - `graphql-ws`: the reference client library, as the earlier figures were measured.
 */
function open(n) {
  return CLIENT === 'graphql-ws' ? openGraphqlWs(n) : openLean(n);
}

function openGraphqlWs(n) {
  return new Promise((resolve, reject) => {
    const client = createClient({
      url: WS_URLS[n % WS_URLS.length],
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${KEY}` },
      lazy: false,
      retryAttempts: 0,
      // A connection refused before the acknowledgement (later closes reach the sink).
      onNonLazyError: (err) => reject(new Error(describe(err))),
      on: {
        connected: () => {
          client.subscribe(
            { query, variables: { t: ticketId } },
            {
              next: (result) => {
                if (result.errors) errors.push(`client ${n}: ${JSON.stringify(result.errors)}`);
                else received(n, result.data.messageAdded.content);
              },
              error: (err) => errors.push(`client ${n}: ${describe(err)}`),
              complete: () => errors.push(`client ${n}: the subscription completed`),
            },
          );
          resolve();
        },
      },
    });
    clients.push(client);
  });
}

function openLean(n) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(WS_URLS[n % WS_URLS.length], 'graphql-transport-ws');
    let acknowledged = false;
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${KEY}` } })),
    );
    socket.on('message', (data) => {
      const message = JSON.parse(data);
      switch (message.type) {
        case 'next':
          if (message.payload.errors) errors.push(`client ${n}: ${JSON.stringify(message.payload.errors)}`);
          else received(n, message.payload.data.messageAdded.content);
          break;
        case 'connection_ack':
          acknowledged = true;
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { t: ticketId } } }));
          resolve();
          break;
        case 'ping':
          socket.send('{"type":"pong"}');
          break;
        case 'pong':
          break;
        case 'error':
          errors.push(`client ${n}: ${JSON.stringify(message.payload)}`);
          break;
        case 'complete':
          errors.push(`client ${n}: the subscription completed`);
          break;
        default:
          errors.push(`client ${n}: unexpected ${String(data).slice(0, 200)}`);
      }
    });
    socket.on('close', (code, reason) => {
      if (!acknowledged) reject(new Error(`close ${code} ${reason}`.trim()));
      else if (!closing) errors.push(`client ${n}: close ${code} ${reason}`.trim());
    });
    socket.on('error', (err) => {
      if (!acknowledged) reject(err);
      else errors.push(`client ${n}: ${err.message}`);
    });
    clients.push(socket);
  });
}

const started = performance.now();
{
  let next = 0;
  const worker = async () => {
    while (next < SUBSCRIBERS) await open(next++);
  };
  const workers = Array.from({ length: Math.min(CONNECT_CONCURRENCY, SUBSCRIBERS) }, worker);
  await Promise.all(workers).catch((err) => fatal(`a client could not connect: ${err.message}`));
}
const connectMs = performance.now() - started;
console.log(`fanout: ${SUBSCRIBERS} clients connected in ${Math.round(connectMs)} ms over ${WS_URLS.join(', ')}`);

/** Sends `content`; returns the entry once everyone got it or the timeout passed. */
async function measure(content, index, timeoutMs) {
  const entry = track(content, index);
  entry.sentAt = performance.now();
  await gql(SEND, { t: ticketId, c: content });
  entry.answeredAt = performance.now();
  let timer;
  await Promise.race([
    entry.everyone,
    new Promise((r) => (timer = setTimeout(r, timeoutMs))),
  ]);
  clearTimeout(timer);
  return entry;
}

// Warm-up: a subscription is active on the server only some time after `subscribe` was
// sent, and nothing says when. Every warm-up message is tracked, so a client counts as
// ready once it received any of them.
const ready = new Set();
const warmUpStart = performance.now();
for (let i = 0; ready.size < SUBSCRIBERS; i++) {
  if (performance.now() - warmUpStart > 120_000) {
    fatal(`after 120 s only ${ready.size} of ${SUBSCRIBERS} subscribers got a warm-up message`);
  }
  await measure(`warm-up ${run} ${i}`, -1, 1000);
  for (const [content, e] of tracked) {
    if (content.startsWith('warm-up')) for (const client of e.seen.keys()) ready.add(client);
  }
  if (errors.length) fatal(`subscriptions failed during warm-up: ${errors.slice(0, 5).join('; ')}`);
}
const warmUpMs = performance.now() - warmUpStart;
console.log(`fanout: every subscription active after ${Math.round(warmUpMs)} ms of warm-up`);

// The measured messages, one at a time; this process's CPU time over them is reported, as
// the share of the deliveries' latency that was spent here.
const measured = [];
const cpuBefore = process.cpuUsage();
const measureStart = performance.now();
for (let i = 0; i < MESSAGES; i++) {
  measured.push(await measure(`fanout ${run} ${i}`, i, TIMEOUT_MS));
}

const cpu = process.cpuUsage(cpuBefore);
const measureMs = performance.now() - measureStart;
closing = true;

// ---------------------------------------------------------------------------------------
// Figures.

function stats(values) {
  if (!values.length) return { count: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  const round = (v) => Math.round(v * 100) / 100;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: round(sorted[0]),
    mean: round(sum / sorted.length),
    p50: round(at(50)),
    p95: round(at(95)),
    p99: round(at(99)),
    max: round(sorted[sorted.length - 1]),
  };
}

const fromResponse = [];
const fromRequest = [];
const complete = [];
const send = [];
for (const entry of measured) {
  send.push(entry.answeredAt - entry.sentAt);
  for (const at of entry.seen.values()) {
    fromResponse.push(at - entry.answeredAt);
    fromRequest.push(at - entry.sentAt);
  }
  if (entry.seen.size === SUBSCRIBERS) complete.push(Math.max(...entry.seen.values()) - entry.answeredAt);
}
const expected = SUBSCRIBERS * MESSAGES;
const summary = {
  subscribers: SUBSCRIBERS,
  messages: MESSAGES,
  wsUrls: WS_URLS,
  httpUrl: HTTP_URL,
  deliveries: fromResponse.length,
  expected,
  missing: expected - fromResponse.length,
  duplicates,
  outOfOrder,
  errors: errors.length,
  client: CLIENT,
  // This process's CPU while measuring, in µs per delivery and as a share of one core.
  clientCpuUsPerDelivery: fromResponse.length
    ? Math.round(((cpu.user + cpu.system) / fromResponse.length) * 100) / 100
    : null,
  clientCpuShare: Math.round(((cpu.user + cpu.system) / 1000 / measureMs) * 1000) / 1000,
  connectMs: Math.round(connectMs),
  warmUpMs: Math.round(warmUpMs),
  fromResponse: stats(fromResponse),
  fromRequest: stats(fromRequest),
  complete: stats(complete),
  send: stats(send),
};

const line = (name, s) =>
  `  ${name.padEnd(14)} p50 ${s.p50} ms  p95 ${s.p95} ms  p99 ${s.p99} ms  max ${s.max} ms  (min ${s.min}, mean ${s.mean}, n ${s.count})`;
console.log(`fanout: ${SUBSCRIBERS} subscribers x ${MESSAGES} messages, sent to ${HTTP_URL}`);
console.log(`  client ${CLIENT}: ${summary.clientCpuUsPerDelivery} µs of CPU here per delivery, ${Math.round(summary.clientCpuShare * 100)} % of a core while measuring`);
console.log(`  deliveries ${summary.deliveries}/${expected}, missing ${summary.missing}, duplicates ${duplicates}, out of order ${outOfOrder}, errors ${errors.length}`);
if (fromResponse.length) {
  console.log(line('from response', summary.fromResponse));
  console.log(line('from request', summary.fromRequest));
}
if (complete.length) console.log(line('complete', summary.complete));
console.log(line('sendMessage', summary.send));
for (const error of errors.slice(0, 5)) console.log(`  error: ${error}`);
console.log(`FANOUT_JSON ${JSON.stringify(summary)}`);

// Closing 1000 sockets politely takes a while and measures nothing.
process.exit(summary.missing || duplicates || outOfOrder || errors.length ? 1 : 0);
