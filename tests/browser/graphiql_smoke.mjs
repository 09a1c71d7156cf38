#!/usr/bin/env node
// Browser smoke test for the self-hosted GraphiQL page.
//
// Opens the page in headless Chromium (driven by playwright-core from
// playground/node_modules), fails if any request leaves the loopback host,
// puts a query in the editor, clicks GraphiQL's run button, waits until the
// result pane contains the expected text and saves a screenshot.
//
//   node tests/browser/graphiql_smoke.mjs --url http://127.0.0.1:PORT/graphql \
//     --query '{ __typename }' --expect '"__typename"' --screenshot /tmp/graphiql.png
//
// Exits 0 on success, 1 on a failed check, 2 on bad arguments. A screenshot is
// written on failure too, when the page got far enough to take one.

import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    query: { type: "string" },
    expect: { type: "string" },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    timeout: { type: "string", default: "30000" },
  },
  strict: true,
});
for (const name of ["url", "query", "expect", "screenshot"]) {
  if (!opts[name]) {
    console.error(`graphiql_smoke: missing --${name}`);
    process.exit(2);
  }
}
const timeout = Number(opts.timeout);

// playwright-core is a devDependency of playground/, not of this folder.
const requireFromPlayground = createRequire(join(repoRoot, "playground", "package.json"));
const { chromium } = requireFromPlayground("playwright-core");

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const LOCAL_SCHEMES = new Set(["data:", "blob:", "about:"]);

function isLocal(rawUrl) {
  let url;
  try {
    url = new URL(rawUrl);
  } catch {
    return false;
  }
  if (LOCAL_SCHEMES.has(url.protocol)) return true;
  return ["http:", "https:", "ws:", "wss:"].includes(url.protocol) && LOOPBACK_HOSTS.has(url.hostname);
}

const failures = [];
const requests = [];
const userDataDir = mkdtempSync(join(tmpdir(), "graphiql-smoke-"));
let context;
let page;

function log(message) {
  console.log(`graphiql_smoke: ${message}`);
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    viewport: { width: 1280, height: 800 },
    timeout,
  });

  // Every request the page makes goes through here; anything not on the
  // loopback host is recorded as a failure and never reaches the network.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    failures.push(`non-local request blocked: ${url}`);
    return route.abort("blockedbyclient");
  });
  context.on("request", (request) => {
    requests.push(request.url());
    if (!isLocal(request.url())) failures.push(`non-local request: ${request.url()}`);
  });

  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") failures.push(`console error: ${message.text()}`);
  });
  page.on("requestfailed", (request) => {
    if (isLocal(request.url())) failures.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) failures.push(`HTTP ${response.status()} for ${response.url()}`);
  });

  const response = await page.goto(opts.url, { waitUntil: "load" });
  if (!response || response.status() !== 200) {
    throw new Error(`GET ${opts.url} answered ${response?.status()}`);
  }
  log(`page loaded, Content-Security-Policy: ${response.headers()["content-security-policy"] ?? "(none)"}`);

  await page.waitForSelector(".graphiql-container .graphiql-query-editor .CodeMirror");
  await page.waitForSelector(".graphiql-execute-button");

  // Replace the editor's content through CodeMirror's own API (typing would
  // race GraphiQL's bracket auto-closing and autocompletion).
  const editorValue = await page.evaluate((query) => {
    const cm = document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror;
    cm.setValue(query);
    return cm.getValue();
  }, opts.query);
  if (editorValue !== opts.query) throw new Error(`query editor holds ${JSON.stringify(editorValue)}`);
  log(`query set: ${opts.query}`);

  // GraphiQL parses the editor's text after a short debounce; its fetcher picks the WebSocket for a
  // subscription only once the parsed document says it is one.
  await page.waitForTimeout(750);
  await page.click(".graphiql-execute-button");
  log("run clicked");
  const resultHandle = await page.waitForFunction(
    (expected) => {
      const el = document.querySelector(".graphiql-response .CodeMirror");
      const text = el?.CodeMirror ? el.CodeMirror.getValue() : (el?.innerText ?? "");
      return text.includes(expected) ? text : false;
    },
    opts.expect,
  );
  log(`result pane: ${JSON.stringify(await resultHandle.jsonValue())}`);
} catch (error) {
  failures.push(`${error.name ?? "Error"}: ${error.message}`);
} finally {
  if (page) {
    try {
      await page.screenshot({ path: opts.screenshot });
      log(`screenshot: ${opts.screenshot}`);
    } catch (error) {
      failures.push(`screenshot failed: ${error.message}`);
    }
  }
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

log(`${requests.length} requests, all ${requests.every(isLocal) ? "local" : "NOT local"}`);
if (failures.length) {
  for (const failure of failures) console.error(`graphiql_smoke: FAIL: ${failure}`);
  process.exit(1);
}
log("OK");
