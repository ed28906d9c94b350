#!/usr/bin/env node
// GraphiQL (served at `/` from the binary) in a real browser, driven through its UI: the
// key from the printed `#key=` link, the docs explorer, a query and a subscription typed
// into the editor and run with the run button. Run by `tests/it/browser.rs`; by hand:
//
//   CHROMIUM=/usr/bin/chromium BASE=http://127.0.0.1:8080 KEY=tg_xxx node graphiql.mjs
//
// Environment: CHROMIUM, BASE (the server's origin), KEY (a read+write key of a team with
// at least one ticket).
// Output: `ok`/`FAIL` lines, then NODE_JSON {"passed","failed","failures"}; exit 0 when all
// checks passed.

import {
  CREATE_TICKET,
  SEND_MESSAGE,
  TIMEOUT_MS,
  checks,
  env,
  eventually,
  gql,
  guardedPage,
  launch,
} from './browser-lib.mjs';

const BASE = env('BASE');
const KEY = env('KEY');
const GRAPHQL = `${BASE}/graphql`;

const { check, finish } = checks('graphiql');
const browser = await launch();
const { page, errors, offHost } = await guardedPage(browser);
page.setDefaultTimeout(TIMEOUT_MS);

/** What an editor (CodeMirror 5, as GraphiQL 3 uses) holds, whether shown or scrolled. */
const editorText = (selector) =>
  page.evaluate((s) => document.querySelector(`${s} .CodeMirror`)?.CodeMirror.getValue() ?? '', selector);

/** Replaces the query editor's text by typing, as a person would. */
async function typeQuery(query) {
  await page.locator('.graphiql-query-editor .CodeMirror').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  // One line, no Enter: the autocompletion popup only takes a suggestion on Enter/Tab.
  // CodeMirror closes brackets and quotes itself and types over them when they are typed.
  await page.keyboard.type(query, { delay: 5 });
  const typed = await editorText('.graphiql-query-editor');
  if (typed.replace(/\s+/g, ' ').trim() !== query) {
    throw new Error(`the editor holds ${JSON.stringify(typed)}, not the typed query`);
  }
  // GraphiQL parses the editor 100 ms after the last change (debounced), and the run button
  // picks HTTP or the websocket from that parse: wait for it, as a person's pause would.
  await page.waitForFunction(() => {
    const cm = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
    return cm.documentAST?.loc?.source.body === cm.getValue();
  });
}

const run = () => page.locator('.graphiql-execute-button').click();
const response = () => editorText('.graphiql-response');

await check('the page loads GraphiQL with the key from #key= in the headers', async () => {
  await page.goto(`${BASE}/#key=${KEY}`);
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
  await page.locator('.graphiql-editor-tools button', { hasText: 'Headers' }).click();
  // The variables and headers editors both live in the tools pane; one is hidden.
  const headers = await eventually(
    () =>
      page.evaluate(() =>
        [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
          .map((e) => e.CodeMirror.getValue())
          .find((text) => text.includes('Authorization')),
      ),
    TIMEOUT_MS,
    'the headers editor',
  );
  if (!headers.includes(`Bearer ${KEY}`)) throw new Error(`headers editor: ${headers}`);
  // The key leaves the address bar (it would end up in screenshots and history).
  if (page.url().includes(KEY)) throw new Error(`key still in ${page.url()}`);
});

await check('the docs explorer shows Ticket', async () => {
  await page.locator('button[aria-label="Show Documentation Explorer"]').click();
  const explorer = page.locator('.graphiql-doc-explorer');
  await explorer.locator('a', { hasText: /^Ticket$/ }).first().click();
  await explorer.locator('.graphiql-doc-explorer-title', { hasText: /^Ticket$/ }).waitFor();
  await explorer.getByText('ticketNumber', { exact: true }).first().waitFor();
});

await check('a typed query runs and shows data', async () => {
  await typeQuery('{ tickets(first: 5) { nodes { ticketNumber status } } }');
  await run();
  const text = await eventually(async () => {
    const t = await response();
    return t.includes('"nodes"') && t;
  }, TIMEOUT_MS, 'the query result');
  const body = JSON.parse(text);
  if (body.errors || !(body.data.tickets.nodes.length > 0)) throw new Error(text);
  if (!body.data.tickets.nodes.every((t) => Number.isInteger(t.ticketNumber) && t.status)) {
    throw new Error(text);
  }
});

await check('a subscription shows an event after a mutation sent by the test', async () => {
  const { createTicket: ticket } = await gql(GRAPHQL, KEY, CREATE_TICKET, {
    d: 'graphiql-visitor',
    m: 'hello from the browser test',
  });
  await typeQuery(`subscription { messageAdded(ticketId: "${ticket.id}") { content authorType } }`);
  await run();
  // Nothing tells the page (or us) when the server has the subscription: send warm-up
  // messages until one shows, then the one the check is about.
  let n = 0;
  await eventually(async () => {
    await gql(GRAPHQL, KEY, SEND_MESSAGE, { t: ticket.id, c: `warm-up ${n++}` });
    return (await response()).includes('warm-up');
  }, TIMEOUT_MS, 'the subscription to start').catch(async (error) => {
    throw new Error(`${error.message}; the result pane holds ${await response()}`);
  });
  const content = `after the mutation ${Date.now()}`;
  await gql(GRAPHQL, KEY, SEND_MESSAGE, { t: ticket.id, c: content });
  const text = await eventually(async () => {
    const t = await response();
    return t.includes(content) && t;
  }, 5_000, 'the event in the result pane');
  const event = JSON.parse(text).data.messageAdded;
  if (event.content !== content || event.authorType !== 'SUPPORT') throw new Error(text);
});

await check('no request left 127.0.0.1', async () => {
  const away = offHost();
  if (away.length) throw new Error(`requests elsewhere: ${away.join(', ')}`);
});

await check('no script errors on the page', async () => {
  if (errors.length) throw new Error(errors.join('\n'));
});

await browser.close();
finish();
