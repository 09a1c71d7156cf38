#!/usr/bin/env node
// The BFF cookie session in a real browser: a page of the API's own origin (a same-site SPA) signs up,
// signs in with useCookie, reads the viewer by cookie alone, is refused a mutation without the CSRF
// header, signs out with it. Prints one JSON object of what it saw; the pytest test asserts on it.
//
//   node tests/browser/cookie_session.mjs --origin http://127.0.0.1:PORT --chromium /usr/bin/chromium

import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { values: opts } = parseArgs({
  options: {
    origin: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
  strict: true,
});
if (!opts.origin) {
  console.error("cookie_session: missing --origin");
  process.exit(2);
}

const requireFromPlayground = createRequire(join(repoRoot, "playground", "package.json"));
const { chromium } = requireFromPlayground("playwright-core");
const userDataDir = mkdtempSync(join(tmpdir(), "cookie-session-"));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await context.newPage();
  await page.goto(`${opts.origin}/healthz`);
  const seen = await page.evaluate(async () => {
    const email = `browser.${Date.now()}@example.com`;
    const password = "a browser passphrase";
    async function gql(query, variables, headers = {}) {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: await response.json() };
    }
    const csrf = () => document.cookie.split("; ").find((c) => c.startsWith("sf_csrf="))?.split("=")[1];
    await gql(
      "mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { errors { code } } }",
      { i: { email, password, displayName: "Bea" } },
    );
    const login = await gql(
      "mutation($e: String!, $p: String!) { customerLogin(email: $e, password: $p, useCookie: true) { accessToken refreshToken errors { code } } }",
      { e: email, p: password },
    );
    const scriptCookies = document.cookie;
    const viewer = await gql("{ viewer { email } }");
    const withoutHeader = await gql("mutation { customerLogout { errors { code } } }");
    const stillIn = await gql("{ viewer { email } }");
    const withHeader = await gql("mutation { customerLogout { errors { code } } }", undefined, { "x-csrf-token": csrf() });
    const after = await gql("{ viewer { email } }");
    return { email, login, scriptCookies, viewer, withoutHeader, stillIn, withHeader, after, cookiesAfter: document.cookie };
  });
  console.log(JSON.stringify(seen));
} catch (error) {
  console.error(`cookie_session: ${error.stack || error}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
