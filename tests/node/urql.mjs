#!/usr/bin/env node
// urql as the README sets it up: queries and mutations over fetch, subscriptions over
// graphql-ws. Run by `tests/it/node_clients.rs`; by hand (after `npm ci`):
//
//   HTTP=http://127.0.0.1:8080/graphql WS=ws://127.0.0.1:8080/graphql KEY=tg_xxx \
//   TICKET=<uuid> node urql.mjs
//
// Output: one line per check, then NODE_JSON {"passed":n,"failed":n,"failures":[...]}.

import { Client, cacheExchange, fetchExchange, subscriptionExchange, gql } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { checks, env, expect, fatal } from './checks.mjs';

const [HTTP, WS, key, TICKET] = ['HTTP', 'WS', 'KEY', 'TICKET'].map(env);

// The README's set-up (plus `webSocketImpl`: Node has no global WebSocket before 22).
const ws = createWsClient({ url: WS, webSocketImpl: WebSocket,
                            connectionParams: { Authorization: `Bearer ${key}` } });
const client = new Client({
  url: HTTP,
  fetchOptions: { headers: { authorization: `Bearer ${key}` } },
  exchanges: [cacheExchange, fetchExchange, subscriptionExchange({
    forwardSubscription: (request) => ({
      subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
    }),
  })],
});

const { check, finish } = checks('urql');
const SEND = gql`mutation Send($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id content } }`;

await check('a query and a mutation over fetch', async () => {
  const page = await client.query(gql`{ tickets(first: 2) { nodes { id ticketNumber } } }`, {}).toPromise();
  expect(!page.error && page.data.tickets.nodes.length >= 1, JSON.stringify(page.error ?? page.data));
  const sent = await client.mutation(SEND, { t: TICKET, c: 'from urql' }).toPromise();
  expect(sent.data?.sendMessage.content === 'from urql', JSON.stringify(sent.error ?? sent.data));
});

await check('a subscription over graphql-ws', async () => {
  const received = [];
  const { unsubscribe } = client
    .subscription(gql`subscription($t: UUID!) { messageAdded(ticketId: $t) { content } }`, { t: TICKET })
    .subscribe((result) => received.push(result));
  try {
    for (let attempt = 0; attempt < 50 && !received.length; attempt += 1) {
      await client.mutation(SEND, { t: TICKET, c: `urql-${attempt}` }).toPromise();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(received.length, 'no message arrived');
    expect(!received[0].error && received[0].data.messageAdded.content.startsWith('urql-'),
      JSON.stringify(received[0].error ?? received[0].data));
  } finally {
    unsubscribe();
    await ws.dispose();
  }
});

finish();
