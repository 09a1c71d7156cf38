#!/usr/bin/env node
// CORS as a real SPA on another origin sees it: a page of a listed origin POSTs JSON to the API with
// credentials (a preflighted request) and reads the answer; a page of an unlisted origin has the same POST
// blocked by the browser, and cannot read the answer to a simple GET (no preflight) either. Prints one JSON
// object of what it saw; the pytest test asserts on it.
//
//   node tests/browser/cors_origins.mjs --api http://127.0.0.1:PORT --listed http://127.0.0.1:PORT2 \
//     --unlisted http://127.0.0.1:PORT3 --chromium /usr/bin/chromium

import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { values: opts } = parseArgs({
  options: {
    api: { type: "string" },
    listed: { type: "string" },
    unlisted: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
  strict: true,
});
for (const name of ["api", "listed", "unlisted"]) {
  if (!opts[name]) {
    console.error(`cors_origins: missing --${name}`);
    process.exit(2);
  }
}

// Runs in the page: one fetch, and what the page's script got from it (an answer, or the error it threw).
async function attempt([url, init]) {
  try {
    const response = await fetch(url, init);
    // the rate-limit headers are readable only when the API exposes them to this origin
    const remaining = response.headers.get("x-ratelimit-remaining");
    return { threw: null, status: response.status, body: await response.json(), remaining };
  } catch (error) {
    return { threw: error.name, message: error.message };
  }
}

// A JSON content type is not a "simple" header value, so the browser preflights this POST.
const preflightedPost = (api) => [
  `${api}/graphql`,
  {
    method: "POST",
    credentials: "include",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: "{ __typename }" }),
  },
];
// A GET without custom headers is a "simple" request: sent without a preflight, its answer withheld from
// script unless the API's CORS headers allow this origin.
const simpleGet = (api) => [`${api}/graphql?query=%7B__typename%7D`, {}];

async function fromPage(context, origin, request) {
  const page = await context.newPage();
  try {
    await page.goto(`${origin}/`);
    return await page.evaluate(attempt, request);
  } finally {
    await page.close();
  }
}

const requireFromPlayground = createRequire(join(repoRoot, "playground", "package.json"));
const { chromium } = requireFromPlayground("playwright-core");
const userDataDir = mkdtempSync(join(tmpdir(), "cors-origins-"));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const seen = {
    listedPost: await fromPage(context, opts.listed, preflightedPost(opts.api)),
    unlistedPost: await fromPage(context, opts.unlisted, preflightedPost(opts.api)),
    unlistedGet: await fromPage(context, opts.unlisted, simpleGet(opts.api)),
  };
  console.log(JSON.stringify(seen));
} catch (error) {
  console.error(`cors_origins: ${error.stack || error}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
