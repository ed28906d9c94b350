// Plumbing every test script here shares (run by tests/it through `helpers::node`): the
// environment it needs, named checks with `ok`/`FAIL` lines, and the `NODE_JSON` summary
// the Rust side reads. Exit code 0 when every check passed, 1 otherwise, 2 when the script
// could not start.

import { basename } from 'node:path';

export function fatal(message) {
  console.error(`${basename(process.argv[1] ?? 'script')}: ${message}`);
  process.exit(2);
}

export const env = (name) => process.env[name] || fatal(`set ${name}`);

export function expect(condition, why) {
  if (!condition) throw new Error(why);
}

/** Runs named checks in order; prints `ok`/`FAIL` lines and, at the end, the summary. */
export function checks(script) {
  const results = [];
  return {
    async check(name, body) {
      try {
        await body();
        results.push({ name, ok: true });
        console.log(`ok   ${name}`);
      } catch (error) {
        const reason = String(error?.stack ?? error);
        results.push({ name, ok: false, reason });
        console.log(`FAIL ${name}: ${reason}`);
      }
    },
    finish() {
      const failures = results.filter((r) => !r.ok).map(({ name, reason }) => ({ name, reason }));
      const passed = results.length - failures.length;
      console.log(`${script}: ${passed} passed, ${failures.length} failed`);
      console.log(`NODE_JSON ${JSON.stringify({ passed, failed: failures.length, failures })}`);
      process.exit(failures.length ? 1 : 0);
    },
  };
}
