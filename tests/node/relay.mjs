#!/usr/bin/env node
// Relay 18 against ticketgate: relay-compiler compiles `@refetchable` fragments on Ticket
// and Message and a `@connection` on `tickets` against the repository's schema.graphql,
// then relay-runtime runs the generated queries against a live server: a ticket and a
// message refetched through `node(id:)` and normalised by id, and a second page merged into
// the connection. Run by `tests/it/relay.rs`; by hand (after `npm ci`):
//
//   HTTP=http://127.0.0.1:8080/graphql KEY=tg_xxx TICKET=<uuid> MESSAGE=<uuid> \
//   SCHEMA=../../schema.graphql node relay.mjs
//
// Output: one line per check (`ok   <name>` or `FAIL <name>: <reason>`), then
//   NODE_JSON {"passed":n,"failed":n,"failures":[...]}
// Exit code 0 when every check passed, 1 otherwise, 2 when the script could not start.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import relay from 'relay-runtime';
import { checks, env, expect, fatal } from './checks.mjs';

const { Environment, Network, RecordSource, Store, fetchQuery } = relay;
const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

const HTTP = env('HTTP');
const KEY = env('KEY');
const TICKET = env('TICKET');
const MESSAGE = env('MESSAGE');
const SCHEMA = resolve(env('SCHEMA'));

// The application's sources, as a Relay app would have them (one fragment per module).
const SOURCES = {
  'TicketCard.js': `graphql\`
    fragment TicketCard_ticket on Ticket
      @refetchable(queryName: "TicketCardRefetchQuery") {
      id
      ticketNumber
      status
    }\`;`,
  'MessageBubble.js': `graphql\`
    fragment MessageBubble_message on Message
      @refetchable(queryName: "MessageBubbleRefetchQuery") {
      id
      content
      authorType
    }\`;`,
  'InboxList.js': `graphql\`
    fragment InboxList_query on Query
      @refetchable(queryName: "InboxListPaginationQuery")
      @argumentDefinitions(first: { type: "Int", defaultValue: 2 }, after: { type: "String" }) {
      tickets(first: $first, after: $after) @connection(key: "InboxList_tickets") {
        edges { node { id ...TicketCard_ticket } }
      }
    }\`;
    graphql\`query InboxListQuery { ...InboxList_query }\`;`,
};

const { check, finish } = checks('relay');

const project = mkdtempSync(join(tmpdir(), 'ticketgate-relay-'));
const artifacts = join(project, '__generated__');
let compiled = false;

await check('relay-compiler accepts @refetchable on Ticket and Message and @connection on tickets', async () => {
  mkdirSync(join(project, 'src'));
  mkdirSync(artifacts);
  copyFileSync(SCHEMA, join(project, 'schema.graphql'));
  for (const [file, source] of Object.entries(SOURCES)) {
    writeFileSync(join(project, 'src', file), `${source}\n`);
  }
  writeFileSync(join(project, 'relay.config.json'), JSON.stringify({
    src: './src',
    schema: './schema.graphql',
    language: 'javascript',
    artifactDirectory: './__generated__',
  }));
  const compiler = join(here, 'node_modules/relay-compiler/linux-x64/relay');
  try {
    execFileSync(compiler, [], { cwd: project, stdio: 'pipe' });
  } catch (error) {
    throw new Error(`relay-compiler failed:\n${error.stdout}\n${error.stderr}`);
  }
  compiled = true;
});

const sent = [];
const environment = new Environment({
  network: Network.create(async (operation, variables) => {
    sent.push(operation.name);
    const response = await fetch(HTTP, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ query: operation.text, variables }),
    });
    return response.json();
  }),
  store: new Store(new RecordSource()),
});
const artifact = (name) => require(join(artifacts, `${name}.graphql.js`));
const record = (id) => environment.getStore().getSource().get(id);

if (compiled) {
  await check('a ticket is refetched through node(id:) and normalised by its id', async () => {
    const data = await fetchQuery(environment, artifact('TicketCardRefetchQuery'), { id: TICKET })
      .toPromise();
    expect(data.node?.__id === TICKET, `node answered ${JSON.stringify(data).slice(0, 300)}`);
    const stored = record(TICKET);
    expect(stored?.__typename === 'Ticket', `store has ${JSON.stringify(stored)}`);
    expect(Number.isInteger(stored.ticketNumber), `ticketNumber in ${JSON.stringify(stored)}`);
  });

  await check('a message is refetched through node(id:)', async () => {
    await fetchQuery(environment, artifact('MessageBubbleRefetchQuery'), { id: MESSAGE })
      .toPromise();
    const stored = record(MESSAGE);
    expect(stored?.__typename === 'Message', `store has ${JSON.stringify(stored)}`);
    expect(typeof stored.content === 'string' && stored.content.length > 0, JSON.stringify(stored));
  });

  await check('the tickets connection pages forward and merges in the store', async () => {
    await fetchQuery(environment, artifact('InboxListQuery'), {}).toPromise();
    const connection = () => {
      const root = record('client:root');
      const link = root?.['__InboxList_tickets_connection'];
      return link && record(link.__ref);
    };
    const first = connection();
    expect(first, 'no connection record after the first page');
    expect(first.edges.__refs.length === 2, `first page: ${JSON.stringify(first)}`);
    const pageInfo = record(first.pageInfo.__ref);
    expect(pageInfo.hasNextPage === true, JSON.stringify(pageInfo));
    await fetchQuery(environment, artifact('InboxListPaginationQuery'), {
      first: 2, after: pageInfo.endCursor,
    }).toPromise();
    const merged = connection();
    const ids = merged.edges.__refs.map((edge) => record(record(edge).node.__ref).id);
    expect(ids.length === 4 && new Set(ids).size === 4, `merged edges: ${JSON.stringify(ids)}`);
  });
}

rmSync(project, { recursive: true, force: true });
finish();
