#!/usr/bin/env node
// graphql-sse's own client against ticketgate's /graphql: `messageAdded` in the distinct
// connections mode and in the single connection mode, and a subscription whose stream was
// dropped resumed from the last `eventPosition` it saw (nothing missed). Run by
// `tests/it/sse.rs`; by hand (after `npm ci`):
//
//   HTTP=http://127.0.0.1:8080/graphql KEY=tg_xxx TICKET=<uuid> node sse.mjs
//
// Output: one line per check (`ok   <name>` or `FAIL <name>: <reason>`), then
//   NODE_JSON {"passed":n,"failed":n,"failures":[...]}
// Exit code 0 when every check passed, 1 otherwise, 2 when the script could not start.

import { createClient } from 'graphql-sse';
import { checks, env, expect, fatal } from './checks.mjs';

const HTTP = env('HTTP');
const KEY = env('KEY');
const TICKET = env('TICKET');
const headers = { authorization: `Bearer ${KEY}` };

const { check, finish } = checks('sse');

let sent = 0;
async function send(content) {
  const response = await fetch(HTTP, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }',
      variables: { t: TICKET, c: content },
    }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  sent += 1;
}

const MESSAGES = `subscription($t: UUID!, $after: String) {
  messageAdded(ticketId: $t, after: $after) { content eventPosition }
}`;

/** A subscription's results, as a queue the checks wait on. */
function follow(client, variables) {
  const received = [];
  let wake = () => {};
  let failure = null;
  const dispose = client.subscribe(
    { query: MESSAGES, variables },
    {
      next: (result) => { received.push(result); wake(); },
      error: (error) => { failure = error; wake(); },
      complete: () => wake(),
    },
  );
  async function next(ms) {
    const deadline = Date.now() + ms;
    while (!received.length) {
      if (failure) throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, left); });
    }
    const result = received.shift();
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data.messageAdded;
  }
  /** The next message that is not a warm-up one (tagged `tag-`). */
  async function nextBut(tag, ms) {
    for (;;) {
      const message = await next(ms);
      if (!message || !message.content.startsWith(`${tag}-`)) return message;
    }
  }
  return { next, nextBut, dispose };
}

/** Sends until the subscription shows it listens (the first delivery). */
async function warm(subscription, tag) {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    await send(`${tag}-${attempt}`);
    const message = await subscription.next(300);
    if (message) return message;
  }
  throw new Error('no message was delivered');
}

for (const singleConnection of [false, true]) {
  const mode = singleConnection ? 'single connection' : 'distinct connections';
  await check(`messageAdded arrives in the ${mode} mode`, async () => {
    // A copy: the client writes its stream token into the headers object it is given.
    const client = createClient({ url: HTTP, headers: { ...headers }, singleConnection, retryAttempts: 0 });
    const subscription = follow(client, { t: TICKET });
    try {
      await warm(subscription, mode);
      await send(`${mode}: hello`);
      const message = await subscription.nextBut(mode, 5000);
      expect(message?.content === `${mode}: hello`, JSON.stringify(message));
      expect(typeof message.eventPosition === 'string', JSON.stringify(message));
    } finally {
      subscription.dispose();
      client.dispose();
    }
  });
}

await check('a dropped stream resumes from the last eventPosition with nothing missed', async () => {
  const client = createClient({ url: HTTP, headers: { ...headers }, retryAttempts: 0 });
  const first = follow(client, { t: TICKET });
  const seen = await warm(first, 'resume');
  first.dispose(); // the stream is gone; the next messages happen while nobody listens
  await send('gap-1');
  await send('gap-2');
  const resumed = follow(client, { t: TICKET, after: seen.eventPosition });
  try {
    const contents = [];
    for (let i = 0; i < 2; i += 1) contents.push((await resumed.nextBut('resume', 5000))?.content);
    expect(contents.join() === 'gap-1,gap-2', `replayed ${JSON.stringify(contents)}`);
    await send('live-after-resume');
    const live = await resumed.next(5000);
    expect(live?.content === 'live-after-resume', JSON.stringify(live));
  } finally {
    resumed.dispose();
    client.dispose();
  }
});

finish();
