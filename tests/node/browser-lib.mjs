// Shared plumbing of the browser scripts (graphiql.mjs, inbox.mjs), run by
// `tests/it/browser.rs`: Debian's Chromium driven by playwright-core (which never downloads
// a browser), a guard that records every request a page makes and fails any that leaves
// 127.0.0.1, GraphQL over HTTP for the test's own mutations, and the `NODE_JSON` summary.

import { chromium } from 'playwright-core';

import { env } from './checks.mjs';

export { checks, env, expect, fatal } from './checks.mjs';

/** How long any one UI expectation may take before it fails (generous: CI is slow). */
export const TIMEOUT_MS = 15_000;

export async function launch() {
  return chromium.launch({
    executablePath: env('CHROMIUM'),
    // Needed as root; harmless otherwise.
    args: ['--no-sandbox'],
  });
}

/**
 * A fresh page (own context: own localStorage) whose every request and websocket is
 * recorded; `offHost()` lists the ones that went anywhere but 127.0.0.1. `data:`/`blob:`
 * URLs never leave the browser.
 */
export async function guardedPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = [];
  page.on('request', (request) => seen.push(request.url()));
  page.on('websocket', (ws) => seen.push(ws.url()));
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  const offHost = () =>
    seen.filter((url) => {
      const u = new URL(url);
      return !['data:', 'blob:'].includes(u.protocol) && u.hostname !== '127.0.0.1';
    });
  return { page, seen, errors, offHost };
}

/** POSTs an operation with the key; returns `data` or throws with the errors. */
export async function gql(url, key, query, variables = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.json();
  if (!response.ok || body.errors) {
    throw new Error(`HTTP ${response.status} ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

export const CREATE_TICKET = `mutation($d: String!, $m: String!) {
  createTicket(input: { distinctId: $d, message: $m }) { id ticketNumber }
}`;

export const SEND_MESSAGE = `mutation($t: UUID!, $c: String!) {
  sendMessage(ticketId: $t, content: $c) { id }
}`;

/** Polls `probe` (async, truthy when done) every 100 ms for at most `ms`. */
export async function eventually(probe, ms = TIMEOUT_MS, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
