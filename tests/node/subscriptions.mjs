#!/usr/bin/env node
// Subscriptions through real client libraries against two ticketgate processes that share
// one database: events committed through one replica must reach subscribers of the other
// (PostgreSQL LISTEN/NOTIFY). Run by `tests/it/node_clients.rs`; by hand (after `npm ci`):
//
//   WS_A=ws://127.0.0.1:8080/graphql WS_B=ws://127.0.0.1:8081/graphql \
//   HTTP_A=http://127.0.0.1:8080/graphql HTTP_B=http://127.0.0.1:8081/graphql \
//   KEY=tg_xxx node subscriptions.mjs
//
// Environment: WS_A, WS_B, KEY (a read+write key), HTTP_A, HTTP_B (default: the WS URLs with
// http), TICKET_ID (default: a ticket created here; it must not be RESOLVED).
//
// Output: one line per check (`ok   <name>` or `FAIL <name>: <reason>`), then
//   NODE_JSON {"passed":n,"failed":n,"failures":[{"name","reason"}]}
// Exit code 0 when every check passed, 1 otherwise, 2 when the script could not start.
//
// A subscription gives no signal once it is active on the server, so each check first
// "warms up" its subscription: it sends harmless events until one arrives. Only then are
// absences ("no event") meaningful. Warm-up items are told apart by their content and
// ignored by the checks.
//
// Results are compared without regard to key order: over websockets the server currently
// sends object keys sorted, not in selection order as over HTTP (reported separately).

import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import transportWs from 'subscriptions-transport-ws';

const { SubscriptionClient } = transportWs;

/** How long an event may take from the mutation's response to the subscriber. */
const DELIVERY_BUDGET_MS = 2000;
/** How many messages the ordering check sends. */
const SEQUENCE = 20;

function fatal(message) {
  console.error(`subscriptions: ${message}`);
  process.exit(2);
}

const env = (name, fallback) => process.env[name] || fallback || fatal(`set ${name}`);
const WS_A = env('WS_A');
const WS_B = env('WS_B');
const HTTP_A = env('HTTP_A', WS_A.replace(/^ws/, 'http'));
const HTTP_B = env('HTTP_B', WS_B.replace(/^ws/, 'http'));
const KEY = env('KEY');
const AUTH = { Authorization: `Bearer ${KEY}` };

// ---------------------------------------------------------------------------------------
// Plumbing: GraphQL over HTTP, and a feed of what a subscription received.

async function gql(url, query, variables = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: AUTH.Authorization },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.json();
  if (!response.ok || body.errors) {
    throw new Error(`${url}: HTTP ${response.status} ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

const SEND = `mutation($t: UUID!, $c: String!, $p: Boolean, $a: MessageAuthorType) {
  sendMessage(ticketId: $t, content: $c, isPrivate: $p, authorType: $a) { id }
}`;

/** Sends a message; resolves with its id and when the response arrived. */
async function send(url, ticketId, content, { isPrivate = false, authorType = 'SUPPORT' } = {}) {
  const data = await gql(url, SEND, { t: ticketId, c: content, p: isPrivate, a: authorType });
  return { id: data.sendMessage.id, at: performance.now() };
}

async function createTicket(url, distinctId) {
  const data = await gql(
    url,
    `mutation($d: String!) { createTicket(input: { distinctId: $d, message: "help" }) { id } }`,
    { d: distinctId },
  );
  return data.createTicket.id;
}

const describe = (err) =>
  err?.code ? `close ${err.code} ${err.reason ?? ''}`.trim() : JSON.stringify(err?.message ?? err);

/** What one subscription received (`{ data, at }` each), and ways to wait for it. */
class Feed {
  items = [];
  error = null;
  #waiters = new Set();

  push(data) {
    this.items.push({ data, at: performance.now() });
    this.#waiters.forEach((waiter) => waiter());
  }

  fail(error) {
    this.error ??= error;
    this.#waiters.forEach((waiter) => waiter());
  }

  /** The first item matching `test`, within `ms`; fails early if the subscription failed. */
  find(test, ms, what) {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const check = () => {
        const found = this.items.find((item) => test(item.data));
        if (found) {
          done();
          resolve(found);
        } else if (this.error) {
          done();
          reject(new Error(`${what}: the subscription failed: ${describe(this.error)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not received within ${ms} ms`));
      }, ms);
      this.#waiters.add(check);
      check();
    });
  }

  /** Resolves with the subscription's error once it failed, or with null after `ms`. */
  failure(ms) {
    return this.find(() => false, ms, '').catch(() => this.error);
  }

  /** Sends warm-up events (one at a time) until `test` matches one of them. */
  async warmUp(sendOne, test, what) {
    const deadline = performance.now() + 15_000;
    for (let i = 0; ; i++) {
      await sendOne(i);
      try {
        return await this.find(test, 250, what);
      } catch (err) {
        if (this.error) throw err;
        if (performance.now() > deadline) {
          throw new Error(`${what}: none of ${i + 1} warm-up events arrived within 15 s`);
        }
      }
    }
  }
}

/** A graphql-ws client, as an application would configure it for ticketgate. */
function modernClient(url, key = KEY, on = {}) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${key}` },
    lazy: false,
    retryAttempts: 0,
    on,
    onNonLazyError: () => {}, // reported through `on.closed` and the sinks instead
  });
}

/** Subscribes through graphql-ws; GraphQL errors in a result fail the feed. */
function subscribe(client, query, variables = {}) {
  const feed = new Feed();
  feed.dispose = client.subscribe(
    { query, variables },
    {
      next: (result) => (result.errors ? feed.fail(result.errors) : feed.push(result.data)),
      error: (err) => feed.fail(err),
      complete: () => feed.fail(new Error('the subscription completed')),
    },
  );
  return feed;
}

/** Subscribes through the legacy subscriptions-transport-ws client. */
function subscribeLegacy(client, query, variables = {}) {
  const feed = new Feed();
  const subscription = client.request({ query, variables }).subscribe({
    next: (result) => (result.errors ? feed.fail(result.errors) : feed.push(result.data)),
    error: (err) => feed.fail(err),
    complete: () => feed.fail(new Error('the subscription completed')),
  });
  feed.dispose = () => subscription.unsubscribe();
  return feed;
}

/** Deep equality; the order of object keys does not count (see the note at the top). */
function assertEqual(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Fails when `item` came later than the delivery budget after `sent` (a response time). */
function inBudget(item, sent, what) {
  const late = item.at - sent.at;
  if (late > DELIVERY_BUDGET_MS) throw new Error(`${what}: delivered ${Math.round(late)} ms late`);
}

// ---------------------------------------------------------------------------------------
// The checks, run one after the other (they share the ticket and the unread count).

const results = [];

async function check(name, body) {
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   ${name}`);
  } catch (err) {
    const reason = err?.message ?? String(err);
    results.push({ name, ok: false, reason });
    console.log(`FAIL ${name}: ${reason}`);
  }
}

const run = `${process.pid}-${Date.now()}`;
const ticketId = process.env.TICKET_ID || (await createTicket(HTTP_A, `node-${run}`));
const MESSAGE_FIELDS = 'id content authorType isPrivate ticket { id }';
const MESSAGE_ADDED = `subscription($t: UUID!) { messageAdded(ticketId: $t) { ${MESSAGE_FIELDS} } }`;
const isWarmUp = (data) => data.messageAdded?.content.startsWith('warm-up');

const clientA = modernClient(WS_A);
const clientB = modernClient(WS_B);
const disposers = [() => clientA.dispose(), () => clientB.dispose()];

// messageAdded on A, fed through B.
const messages = subscribe(clientA, MESSAGE_ADDED, { t: ticketId });
disposers.push(messages.dispose);
await check('graphql-ws: messageAdded on A becomes active (warm-up through B)', () =>
  messages.warmUp((i) => send(HTTP_B, ticketId, `warm-up ${i}`), isWarmUp, 'a warm-up message'),
);

const byId = (id) => (data) => data.messageAdded?.id === id;

await check('graphql-ws: a message sent through B reaches A within 2 s', async () => {
  const sent = await send(HTTP_B, ticketId, 'hello from B', { authorType: 'CUSTOMER' });
  const item = await messages.find(byId(sent.id), DELIVERY_BUDGET_MS, 'the message');
  inBudget(item, sent, 'the message');
  assertEqual(
    item.data.messageAdded,
    {
      id: sent.id,
      content: 'hello from B',
      authorType: 'CUSTOMER',
      isPrivate: false,
      ticket: { id: ticketId },
    },
    'the message',
  );
});

await check('graphql-ws: a private note reaches A (team key)', async () => {
  const sent = await send(HTTP_B, ticketId, 'internal note', { isPrivate: true });
  const item = await messages.find(byId(sent.id), DELIVERY_BUDGET_MS, 'the note');
  inBudget(item, sent, 'the note');
  const { content, authorType, isPrivate } = item.data.messageAdded;
  assertEqual([content, authorType, isPrivate], ['internal note', 'SUPPORT', true], 'the note');
});

await check(`graphql-ws: ${SEQUENCE} messages sent in turn arrive in order, once each`, async () => {
  const sent = [];
  for (let i = 0; i < SEQUENCE; i++) {
    const authorType = i % 2 ? 'SUPPORT' : 'CUSTOMER';
    sent.push(await send(HTTP_B, ticketId, `sequence ${i}`, { authorType }));
  }
  // Events come in commit order: once a sentinel sent after them is in, any repeat of the
  // sequence would be in too.
  const sentinel = await send(HTTP_B, ticketId, 'sequence end');
  const last = await messages.find(byId(sentinel.id), DELIVERY_BUDGET_MS, 'the sentinel');
  inBudget(last, sentinel, 'the sentinel');
  const received = messages.items
    .map((item) => item.data.messageAdded)
    .filter((m) => m.content.startsWith('sequence ') && m.id !== sentinel.id)
    .map((m) => m.id);
  assertEqual(received, sent.map((s) => s.id), 'the ids received');
});

// ticketChanged with a status filter, on A; changes made through B.
const changes = subscribe(
  clientA,
  `subscription { ticketChanged(filter: { status: [NEW, OPEN] }) { kind messageId ticket { id status } } }`,
);
disposers.push(changes.dispose);
await check('graphql-ws: ticketChanged on A becomes active (warm-up through B)', () =>
  changes.warmUp(
    (i) => send(HTTP_B, ticketId, `warm-up change ${i}`),
    (data) => data.ticketChanged.kind === 'MESSAGE' && data.ticketChanged.ticket.id === ticketId,
    'a MESSAGE change',
  ),
);

let created;
await check('graphql-ws: ticketChanged(status NEW/OPEN) on A gets CREATED for a ticket created through B', async () => {
  created = await createTicket(HTTP_B, `node-changed-${run}`);
  const sentAt = { at: performance.now() };
  const item = await changes.find(
    (data) => data.ticketChanged.ticket.id === created,
    DELIVERY_BUDGET_MS,
    'the CREATED change',
  );
  inBudget(item, sentAt, 'the CREATED change');
  assertEqual(
    item.data.ticketChanged,
    { kind: 'CREATED', messageId: null, ticket: { id: created, status: 'NEW' } },
    'the change',
  );
});

await check('graphql-ws: resolving that ticket through B is not delivered (it no longer matches)', async () => {
  if (!created) throw new Error('no ticket (the previous check failed)');
  await gql(
    HTTP_B,
    `mutation($id: UUID!) { updateTicket(id: $id, input: { status: RESOLVED }) { id } }`,
    { id: created },
  );
  const resolvedAt = performance.now();
  // A change of the other ticket, made afterwards, arrives after the update was processed.
  const sentinel = await send(HTTP_B, ticketId, 'after the update');
  await changes.find(
    (data) => data.ticketChanged.messageId === sentinel.id,
    DELIVERY_BUDGET_MS,
    'a later change',
  );
  // …and a little patience on top, for a server that would deliver out of order.
  const patience = Math.max(0, resolvedAt + 1000 - performance.now());
  await new Promise((resolve) => setTimeout(resolve, patience));
  const kinds = changes.items
    .filter((item) => item.data.ticketChanged.ticket.id === created)
    .map((item) => item.data.ticketChanged.kind);
  assertEqual(kinds, ['CREATED'], 'the changes of the resolved ticket');
});

// The legacy protocol on B, fed through A. Its warm-up also proves that B's event
// listener is up, which the unreadCount check below relies on.
await check('subscriptions-transport-ws: messageAdded on B receives a message sent through A within 2 s', async () => {
  const legacy = new SubscriptionClient(
    WS_B,
    { reconnect: false, lazy: false, connectionParams: AUTH },
    WebSocket,
  );
  disposers.push(() => legacy.close());
  const feed = subscribeLegacy(legacy, MESSAGE_ADDED, { t: ticketId });
  // Without reconnection a lost socket is final: fail at once rather than at the deadline.
  legacy.onDisconnected(() => feed.fail(new Error('the legacy client disconnected')));
  const warmUp = (i) => send(HTTP_A, ticketId, `warm-up legacy ${i}`);
  await feed.warmUp(warmUp, isWarmUp, 'a warm-up message');
  const sent = await send(HTTP_A, ticketId, 'hello from A');
  const item = await feed.find(byId(sent.id), DELIVERY_BUDGET_MS, 'the message');
  inBudget(item, sent, 'the message');
  const { content, authorType } = item.data.messageAdded;
  assertEqual([content, authorType], ['hello from A', 'SUPPORT'], 'the message');
});

// unreadCount on B; a customer message through A.
await check('graphql-ws: unreadCount on B gives its value, then the new one after a customer message through A', async () => {
  const counts = subscribe(clientB, 'subscription { unreadCount }');
  disposers.push(counts.dispose);
  // The first value is sent once the subscription has joined B's event stream, and B is
  // known to receive events (the legacy check): no warm-up needed.
  const first = await counts.find(() => true, DELIVERY_BUDGET_MS * 2, 'the first value');
  const before = first.data.unreadCount;
  const sent = await send(HTTP_A, ticketId, 'a customer writes', { authorType: 'CUSTOMER' });
  const next = await counts.find((data) => data !== first.data, DELIVERY_BUDGET_MS, 'a new value');
  inBudget(next, sent, 'the new value');
  assertEqual(next.data.unreadCount, before + 1, 'the new value');
});

await check('graphql-ws: messageAdded of an unknown ticket fails with NOT_FOUND', async () => {
  const feed = subscribe(clientA, MESSAGE_ADDED, { t: '00000000-0000-7000-8000-000000000000' });
  disposers.push(feed.dispose);
  const error = await feed.failure(DELIVERY_BUDGET_MS * 2);
  assertEqual(error?.[0]?.extensions?.code, 'NOT_FOUND', 'the error code');
});

// A refused key, as graphql-ws reports it: the socket closes with 4403 and an active
// subscription fails with that close event.
await check('graphql-ws: a bad key closes the connection with 4403', async () => {
  const closed = new Feed();
  const client = modernClient(WS_A, 'tg_not_a_key', {
    closed: (event) => closed.push({ code: event.code, reason: event.reason }),
  });
  disposers.push(() => client.dispose());
  const feed = subscribe(client, 'subscription { unreadCount }');
  const event = await closed.find(() => true, DELIVERY_BUDGET_MS * 2, 'the close event');
  assertEqual([event.data.code, event.data.reason], [4403, 'Forbidden'], 'the close event');
  const error = await feed.failure(DELIVERY_BUDGET_MS);
  assertEqual(error?.code, 4403, "the subscription's error");
});

// ---------------------------------------------------------------------------------------

for (const dispose of disposers) {
  try {
    await dispose();
  } catch {
    /* closing is best effort */
  }
}
const failures = results.filter((r) => !r.ok).map(({ name, reason }) => ({ name, reason }));
console.log(`subscriptions: ${results.length - failures.length} passed, ${failures.length} failed`);
console.log(`NODE_JSON ${JSON.stringify({ passed: results.length - failures.length, failed: failures.length, failures })}`);
// Open sockets would keep the event loop alive.
process.exit(failures.length ? 1 : 0);
