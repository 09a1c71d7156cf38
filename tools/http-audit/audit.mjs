// Runs every audit of the GraphQL-over-HTTP spec's public audit suite (graphql-http's serverAudits)
// against a running server and prints each one with its status.
//
// Usage: node tools/http-audit/audit.mjs http://127.0.0.1:8000/graphql
//
// Exit status: 0 only when EVERY audit is `ok`; 1 when any audit is `notice`, `warn` or `error`
// (a failed SHOULD or MAY counts as a failure too); 2 on a usage error or when an audit could not
// run at all (the server is unreachable, a request timed out).

import { serverAudits } from 'graphql-http';

const REQUEST_TIMEOUT_MS = 10_000;
const BODY_PREVIEW_CHARS = 500;

function usage(message) {
  console.error(`audit.mjs: ${message}`);
  console.error('usage: node tools/http-audit/audit.mjs <url of the GraphQL endpoint>');
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length !== 1) usage('expected exactly one argument, the endpoint URL');
let url;
try {
  url = new URL(args[0]);
} catch {
  usage(`not a URL: ${args[0]}`);
}
if (url.protocol !== 'http:' && url.protocol !== 'https:') usage(`not an http(s) URL: ${args[0]}`);

// Every request gets a deadline, so a hung server fails the run instead of hanging it.
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

async function describe(response) {
  if (!response) return '';
  let body = '';
  try {
    body = await response.text();
  } catch {
    body = '(body already read)';
  }
  if (body.length > BODY_PREVIEW_CHARS) body = `${body.slice(0, BODY_PREVIEW_CHARS)}...`;
  const type = response.headers.get('content-type') ?? '(none)';
  return `\n        got ${response.status} ${type}: ${body}`;
}

const audits = serverAudits({ url: url.toString(), fetchFn });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
let fatal = 0;

console.log(`GraphQL-over-HTTP audit of ${url} (${audits.length} audits)`);
// One at a time, in the suite's order: the output reads like the spec and the server sees no burst.
for (const { id, name, fn } of audits) {
  let result;
  try {
    result = await fn();
  } catch (error) {
    fatal += 1;
    counts.error += 1;
    console.log(`error   ${id} ${name}\n        could not run: ${error?.cause?.message ?? error?.message ?? error}`);
    continue;
  }
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  if (result.status === 'ok') {
    console.log(`ok      ${id} ${name}`);
  } else {
    console.log(`${result.status.padEnd(7)} ${id} ${name}\n        ${result.reason}${await describe(result.response)}`);
  }
}

const notOk = audits.length - counts.ok;
console.log(
  `\n${audits.length} audits: ${counts.ok} ok, ${counts.notice} notice, ${counts.warn} warn, ${counts.error} error`,
);
if (notOk === 0) {
  console.log('PASS: every audit is ok');
  process.exit(0);
}
console.log(`FAIL: ${notOk} audit(s) not ok`);
process.exit(fatal > 0 ? 2 : 1);
