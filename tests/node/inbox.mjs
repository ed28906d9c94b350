#!/usr/bin/env node
// The live inbox (`/inbox`) in a real browser: two pages on the same ticket, a reply sent
// from one shows in the other within a second; a ticket created over HTTP by the test
// shows at the top of the list; the filter chips filter; a page whose websocket is dropped
// reconnects by itself and is live again. Run by `tests/it/browser.rs`:
//
//   CHROMIUM=/usr/bin/chromium BASE=http://127.0.0.1:8080 KEY=tg_xxx TICKET_ID=… node inbox.mjs
//
// Environment: CHROMIUM, BASE (the server's origin), KEY (a read+write key), TICKET_ID (an
// OPEN ticket of that team).
// Output: `ok`/`FAIL` lines, then NODE_JSON {"passed","failed","failures"}.

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
const TICKET_ID = env('TICKET_ID');
const GRAPHQL = `${BASE}/graphql`;

const { check, finish } = checks('inbox');
const browser = await launch();
const a = await guardedPage(browser);
const b = await guardedPage(browser);
for (const { page } of [a, b]) page.setDefaultTimeout(TIMEOUT_MS);
// B's websockets pass through Playwright (to the real server), so the test can drop them
// as a restarting server or a network blip would.
const bSockets = [];
await b.page.routeWebSocket(/\/graphql$/, (ws) => {
  bSockets.push(ws);
  ws.connectToServer();
});

const ticketItem = (page, id) => page.locator(`#tickets li[data-id="${id}"]`);

/** Waits until the page's subscriptions are live: a message sent over HTTP shows. */
async function warmUp(page) {
  let n = 0;
  await eventually(async () => {
    await gql(GRAPHQL, KEY, SEND_MESSAGE, { t: TICKET_ID, c: `warm-up ${n++}` });
    return (await page.locator('#messages li', { hasText: 'warm-up' }).count()) > 0;
  }, TIMEOUT_MS, 'the conversation to go live');
}

await check('both pages open the inbox with the key from #key= and list the ticket', async () => {
  for (const { page } of [a, b]) {
    await page.goto(`${BASE}/inbox#key=${KEY}`);
    await ticketItem(page, TICKET_ID).waitFor();
    if (page.url().includes(KEY)) throw new Error(`key still in ${page.url()}`);
    await page.locator('#connection', { hasText: 'live' }).waitFor();
  }
});

await check('both pages open the conversation', async () => {
  for (const { page } of [a, b]) {
    await ticketItem(page, TICKET_ID).click();
    await page.locator('#conversation-title').getByText(/^#\d+/).waitFor();
    await warmUp(page);
  }
});

await check('a reply typed in one page shows in the other within a second', async () => {
  const content = `reply from page A ${Date.now()}`;
  await a.page.locator('#reply-text').fill(content);
  await a.page.locator('#reply-send').click();
  // The sender sees it once the mutation answers; from then on B has one second.
  await a.page.locator('#messages li', { hasText: content }).waitFor();
  await b.page.locator('#messages li', { hasText: content }).waitFor({ timeout: 1_000 });
  // The list follows too (ticketChanged): the ticket's last message is the reply.
  await ticketItem(b.page, TICKET_ID).locator('.last', { hasText: content }).waitFor();
});

await check('a ticket created over HTTP shows at the top of the list', async () => {
  const message = `new ticket ${Date.now()}`;
  const { createTicket: ticket } = await gql(GRAPHQL, KEY, CREATE_TICKET, {
    d: 'inbox-visitor',
    m: message,
  });
  for (const { page } of [a, b]) {
    const first = page.locator('#tickets li').first();
    await first.locator('.number', { hasText: `#${ticket.ticketNumber}` }).waitFor();
    await first.locator('.status', { hasText: 'new' }).waitFor();
    await first.locator('.customer', { hasText: 'inbox-visitor' }).waitFor();
    await first.locator('.last', { hasText: message }).waitFor();
  }
});

await check('the status chips filter the list', async () => {
  const { page } = a;
  await page.locator('.chip[data-status="NEW"]').click();
  // The OPEN ticket goes, a NEW one stays.
  await ticketItem(page, TICKET_ID).waitFor({ state: 'detached' });
  await page.locator('#tickets li .status', { hasText: 'new' }).first().waitFor();
  const statuses = await page.locator('#tickets li .status').allTextContents();
  if (!statuses.length || statuses.some((s) => s !== 'new')) throw new Error(statuses.join());
  await page.locator('.chip[data-status="ALL"]').click();
  await ticketItem(page, TICKET_ID).waitFor();
});

await check('the assignee chips filter the list', async () => {
  const { page } = a;
  await page.locator('.chip[data-assignee="assigned"]').click();
  await ticketItem(page, TICKET_ID).waitFor({ state: 'detached' });
  await page.locator('.chip[data-assignee="unassigned"]').click();
  await ticketItem(page, TICKET_ID).waitFor();
});

await check('a dropped websocket reconnects by itself and the page is live again', async () => {
  const { page } = b;
  const before = bSockets.length;
  for (const ws of bSockets) await ws.close({ code: 1012, reason: 'service restart' });
  await page.locator('#connection', { hasText: 'reconnecting' }).waitFor();
  await page.locator('#connection', { hasText: 'live' }).waitFor();
  if (bSockets.length <= before) throw new Error('no new websocket was opened');
  // Resubscribed: a message sent now arrives (after the reload the reconnect does).
  await warmUp(page);
  await page.waitForTimeout(500);
  const content = `after the reconnect ${Date.now()}`;
  await gql(GRAPHQL, KEY, SEND_MESSAGE, { t: TICKET_ID, c: content });
  await page.locator('#messages li', { hasText: content }).waitFor({ timeout: 1_000 });
});

await check('no request left 127.0.0.1 and no script errors', async () => {
  const away = [...a.offHost(), ...b.offHost()];
  if (away.length) throw new Error(`requests elsewhere: ${away.join(', ')}`);
  const errors = [...a.errors, ...b.errors];
  if (errors.length) throw new Error(errors.join('\n'));
});

await browser.close();
finish();
