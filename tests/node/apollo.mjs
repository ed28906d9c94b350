#!/usr/bin/env node
// Apollo Client 3 as a dashboard runs it: automatic persisted queries through
// `createPersistedQueryLink` (POST, then GET for hashed queries as a CDN would cache them)
// and the normalized cache. Run by `tests/it/persisted.rs`; by hand (after `npm ci`):
//
//   HTTP_A=http://127.0.0.1:8080/graphql HTTP_B=http://127.0.0.1:8081/graphql \
//   KEY=tg_xxx node apollo.mjs
//
// HTTP_A and HTTP_B are two replicas on one database (a query registered through one must
// run by its hash on the other); KEY is a read+write key of a team with tickets.
//
// Output: one line per check (`ok   <name>` or `FAIL <name>: <reason>`), then
//   NODE_JSON {"passed":n,"failed":n,"failures":[...]}
// Exit code 0 when every check passed, 1 otherwise, 2 when the script could not start.

import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import apollo from '@apollo/client/core/core.cjs';
import persisted from '@apollo/client/link/persisted-queries/persisted-queries.cjs';
import { checks, env, expect, fatal } from './checks.mjs';

const { ApolloClient, HttpLink, InMemoryCache, gql } = apollo;
const { createPersistedQueryLink } = persisted;

const HTTP_A = env('HTTP_A');
const HTTP_B = env('HTTP_B');
const KEY = env('KEY');

const sha256 = (query) => createHash('sha256').update(query).digest('hex');

/** Every request a client sent: method, whether it carried the query, and its hash. */
function recordingFetch(sent) {
  return async (url, init) => {
    const target = new URL(url);
    const body = init.body ? JSON.parse(init.body) : null;
    const params = target.searchParams;
    const extensions = body?.extensions ?? JSON.parse(params.get('extensions') ?? 'null');
    sent.push({
      method: init.method ?? 'GET',
      withQuery: Boolean(body?.query ?? params.get('query')),
      hash: extensions?.persistedQuery?.sha256Hash ?? null,
    });
    return fetch(url, init);
  };
}

function client(uri, options = {}) {
  const sent = [];
  const http = new HttpLink({
    uri,
    headers: { authorization: `Bearer ${KEY}` },
    fetch: recordingFetch(sent),
  });
  const link = createPersistedQueryLink({ sha256, ...options }).concat(http);
  return { sent, apollo: new ApolloClient({ link, cache: new InMemoryCache() }) };
}

const INBOX = gql`
  query Inbox($first: Int!) {
    tickets(first: $first) {
      nodes { id ticketNumber status }
    }
  }
`;
const ONE = gql`
  query One($id: UUID!) {
    ticket(id: $id) { id ticketNumber status }
  }
`;
const REOPEN = gql`
  mutation Reopen($id: UUID!, $status: TicketStatus!) {
    updateTicket(id: $id, input: { status: $status }) { id status }
  }
`;

const { check, finish } = checks('apollo');
const shape = (sent) => sent.map(({ method, withQuery }) => `${method}${withQuery ? '+query' : ''}`);

const a = client(HTTP_A);
let inbox;

await check('unknown hash: the link retries with the query, then hashes alone run', async () => {
  const first = await a.apollo.query({ query: INBOX, variables: { first: 3 } });
  inbox = first.data.tickets.nodes;
  expect(inbox.length === 3, `three tickets, got ${JSON.stringify(first.data)}`);
  expect(
    isDeepStrictEqual(shape(a.sent), ['POST', 'POST+query']),
    `hash, PersistedQueryNotFound, then hash + query; sent ${JSON.stringify(a.sent)}`,
  );
  const again = await a.apollo.query({
    query: INBOX, variables: { first: 2 }, fetchPolicy: 'network-only',
  });
  expect(again.data.tickets.nodes.length === 2, JSON.stringify(again.data));
  expect(
    isDeepStrictEqual(shape(a.sent).slice(2), ['POST']),
    `then the hash alone; sent ${JSON.stringify(a.sent)}`,
  );
});

await check('another replica runs the hash it never saw, over GET', async () => {
  const b = client(HTTP_B, { useGETForHashedQueries: true });
  const result = await b.apollo.query({ query: INBOX, variables: { first: 3 } });
  expect(isDeepStrictEqual(result.data.tickets.nodes, inbox), JSON.stringify(result.data));
  expect(
    isDeepStrictEqual(shape(b.sent), ['GET']),
    `one GET with the hash only; sent ${JSON.stringify(b.sent)}`,
  );
});

await check('a new query over GET is registered through the link and then cached by hash', async () => {
  const b = client(HTTP_B, { useGETForHashedQueries: true });
  const one = await b.apollo.query({ query: ONE, variables: { id: inbox[0].id } });
  expect(one.data.ticket.ticketNumber === inbox[0].ticketNumber, JSON.stringify(one.data));
  expect(shape(b.sent)[0] === 'GET', `a GET first; sent ${JSON.stringify(b.sent)}`);
  expect(shape(b.sent).length === 2, `then the query once; sent ${JSON.stringify(b.sent)}`);
  const c = client(HTTP_A, { useGETForHashedQueries: true });
  await c.apollo.query({ query: ONE, variables: { id: inbox[1].id } });
  expect(isDeepStrictEqual(shape(c.sent), ['GET']), `hash only; sent ${JSON.stringify(c.sent)}`);
});

await check('a mutation is persisted over POST and updates the normalized cache', async () => {
  const target = inbox[0];
  const status = target.status === 'PENDING' ? 'OPEN' : 'PENDING';
  const before = a.sent.length;
  const result = await a.apollo.mutate({ mutation: REOPEN, variables: { id: target.id, status } });
  expect(result.data.updateTicket.status === status, JSON.stringify(result.data));
  const methods = a.sent.slice(before).map(({ method }) => method);
  expect(methods.every((m) => m === 'POST'), `mutations go over POST; sent ${methods}`);
  expect(
    isDeepStrictEqual(shape(a.sent.slice(before)), ['POST', 'POST+query']),
    `hash first, then hash + query; sent ${JSON.stringify(a.sent.slice(before))}`,
  );
  // The cached list holds the same normalized Ticket: it shows the new status.
  const cached = a.apollo.readQuery({ query: INBOX, variables: { first: 2 } });
  const entry = cached.tickets.nodes.find((ticket) => ticket.id === target.id);
  expect(entry?.status === status, `cache shows ${JSON.stringify(entry)}`);
  // And the server agrees.
  const fresh = await a.apollo.query({
    query: ONE, variables: { id: target.id }, fetchPolicy: 'network-only',
  });
  expect(fresh.data.ticket.status === status, JSON.stringify(fresh.data));
});

finish();
