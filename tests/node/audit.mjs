#!/usr/bin/env node
// GraphQL-over-HTTP conformance audit of a running ticketgate, using
// graphql-http's `auditServer` (the audits of the GraphQL over HTTP spec).
//
// Usage (after `npm ci` in this folder):
//   AUDIT_URL=http://127.0.0.1:8080/graphql AUDIT_KEY=tg_xxx node audit.mjs
//
// Environment:
//   AUDIT_URL         the GraphQL endpoint (required)
//   AUDIT_KEY         API key, sent as `Authorization: Bearer <key>` with every
//                     audit request (if unset, no Authorization header is sent)
//   AUDIT_TIMEOUT_MS  per-request timeout, default 10000
//
// Output: one line per audit (`<status> <id> <name>`, plus the reason for
// anything not ok), then
//   audit: <ok> ok, <warn> warn, <notice> notice, <error> error (MUST failures)
//   AUDIT_JSON {"ok":..,"warn":..,"notice":..,"error":..,"failures":[{"id","name","status","reason"}]}
//
// graphql-http's AuditResult (lib/audits/common.d.ts, utils.js) is
// `{ id, name, status: 'ok' }` or `{ id, name, status, reason, response }`
// where a failed audit's status follows the prefix of its name:
// "MUST ..." -> 'error', "SHOULD ..." -> 'warn', "MAY ..." -> 'notice'.
//
// Exit code: 0 when no audit has status 'error', 1 when some MUST audit
// failed, 2 when the audit could not run (bad environment, server
// unreachable, timeout: graphql-http rethrows such fatal errors).

import { auditServer } from 'graphql-http';

const STATUSES = ['ok', 'warn', 'notice', 'error'];

function fatal(message) {
  console.error(`audit: ${message}`);
  process.exit(2);
}

const url = process.env.AUDIT_URL;
if (!url) fatal('set AUDIT_URL, e.g. AUDIT_URL=http://127.0.0.1:8080/graphql');
try {
  new URL(url);
} catch {
  fatal(`AUDIT_URL is not a URL: ${url}`);
}
const key = process.env.AUDIT_KEY ?? '';
if (!key) console.error('audit: AUDIT_KEY is not set; requests carry no Authorization header');
const timeoutMs = Number(process.env.AUDIT_TIMEOUT_MS ?? 10000);
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fatal('AUDIT_TIMEOUT_MS must be a positive number');

/** fetch that adds the API key and keeps every header the audit itself sets. */
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  if (key && !headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
  return fetch(input, {
    ...init,
    headers,
    signal: init.signal ?? AbortSignal.timeout(timeoutMs),
  });
}

/** `HTTP <code>: <start of body>` of a failed audit's response, for humans. */
async function describeResponse(response) {
  if (!response || typeof response.status !== 'number') return '';
  let body = '';
  try {
    body = (await response.text()).replace(/\s+/g, ' ').trim();
  } catch {
    /* body already read by the audit */
  }
  if (body.length > 200) body = `${body.slice(0, 200)}…`;
  return ` (HTTP ${response.status}${body ? `: ${body}` : ''})`;
}

let results;
try {
  results = await auditServer({ url, fetchFn });
} catch (err) {
  fatal(`could not run the audit against ${url}: ${err?.cause?.message ?? err?.message ?? err}`);
}

const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
const failures = [];
for (const result of results) {
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  if (result.status === 'ok') {
    console.log(`ok ${result.id} ${result.name}`);
    continue;
  }
  console.log(
    `${result.status} ${result.id} ${result.name} — ${result.reason}${await describeResponse(result.response)}`,
  );
  failures.push({ id: result.id, name: result.name, status: result.status, reason: result.reason });
}

console.log(
  `audit: ${counts.ok} ok, ${counts.warn} warn, ${counts.notice} notice, ${counts.error} error (MUST failures)`,
);
console.log(
  `AUDIT_JSON ${JSON.stringify({ ok: counts.ok, warn: counts.warn, notice: counts.notice, error: counts.error, failures })}`,
);
process.exit(counts.error > 0 ? 1 : 0);
