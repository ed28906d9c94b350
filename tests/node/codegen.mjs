#!/usr/bin/env node
// graphql-codegen against a live ticketgate: TypeScript types generated from the
// endpoint's introspection (with the API key in the headers), and the client preset's
// `persisted-documents.json` for a small app's operations, written to MANIFEST_OUT for
// `ticketgate documents push`. Run by `tests/it/trusted.rs`; by hand (after `npm ci`):
//
//   HTTP=http://127.0.0.1:8080/graphql KEY=tg_xxx MANIFEST_OUT=/tmp/persisted.json \
//   node codegen.mjs
//
// Output: one line per check (`ok   <name>` or `FAIL <name>: <reason>`), then
//   NODE_JSON {"passed":n,"failed":n,"failures":[...]}
// Exit code 0 when every check passed, 1 otherwise, 2 when the script could not start.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { checks, env, expect, fatal } from './checks.mjs';

const HTTP = env('HTTP');
const KEY = env('KEY');
const MANIFEST_OUT = env('MANIFEST_OUT');
const schema = { [HTTP]: { headers: { authorization: `Bearer ${KEY}` } } };

const { check, finish } = checks('codegen');

await check('types are generated from the live endpoint', async () => {
  const [output] = await generate(
    { schema, generates: { 'types.ts': { plugins: ['typescript'] } }, silent: true },
    false,
  );
  const types = output.content;
  for (const wanted of ['export type Ticket = Node & {', 'export type Node = {', 'node?: Maybe<Node>;']) {
    expect(types.includes(wanted), `no \`${wanted}\` in the generated types`);
  }
});

await check("the client preset's persisted-documents.json is generated", async () => {
  const app = mkdtempSync(join(tmpdir(), 'ticketgate-codegen-'));
  try {
    mkdirSync(join(app, 'src'));
    writeFileSync(join(app, 'src', 'inbox.ts'), [
      "import { graphql } from '../gql';",
      'export const Inbox = graphql(`query CodegenInbox { tickets(first: 2) { nodes { id ticketNumber } } }`);',
      'export const Unread = graphql(`subscription CodegenUnread { unreadCount }`);',
      '',
    ].join('\n'));
    const outputs = await generate({
      schema,
      documents: [join(app, 'src', '*.ts')],
      generates: {
        [join(app, 'gql') + '/']: {
          preset: 'client',
          presetConfig: { persistedDocuments: true },
        },
      },
      silent: true,
    }, false);
    const manifest = outputs.find((output) => output.filename.endsWith('persisted-documents.json'));
    expect(manifest, `no persisted-documents.json among ${outputs.map((o) => o.filename)}`);
    const documents = JSON.parse(manifest.content);
    expect(Object.keys(documents).length === 2, manifest.content);
    writeFileSync(MANIFEST_OUT, manifest.content);
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});

finish();
