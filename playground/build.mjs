#!/usr/bin/env node
// Copies the prebuilt GraphiQL, React and ReactDOM browser bundles from
// playground/node_modules (installed with `npm ci` from the committed lock
// file) into app/static/graphiql/, next to a first-party bootstrap.js and a
// manifest.json. The app serves that folder at /graphql/assets, so GraphiQL
// works with no CDN and no network. The output is generated: it is ignored by
// git and rebuilt by this script. Plain Node, no dependencies.
//
// Usage (from anywhere):  node playground/build.mjs
// Fails with a non-zero exit code if any expected file is missing, or if an
// installed package's version differs from the exact pin in package.json.

import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..");
const nodeModules = join(here, "node_modules");
const outDir = join(repoRoot, "app", "static", "graphiql");

// name in outDir -> [package ("" = this folder), path inside the package]
const FILES = [
  ["react.production.min.js", "react", "umd/react.production.min.js"],
  ["react-dom.production.min.js", "react-dom", "umd/react-dom.production.min.js"],
  ["graphiql.min.js", "graphiql", "graphiql.min.js"],
  ["graphiql.min.css", "graphiql", "graphiql.min.css"],
  ["bootstrap.js", "", "bootstrap.js"],
  ["LICENSE.react.txt", "react", "LICENSE"],
  ["LICENSE.react-dom.txt", "react-dom", "LICENSE"],
  ["LICENSE.graphiql.txt", "graphiql", "LICENSE"],
];

function die(message) {
  console.error(`playground/build.mjs: ERROR: ${message}`);
  process.exit(1);
}

function readJson(path) {
  if (!existsSync(path)) {
    die(`missing ${relative(repoRoot, path)}. Run \`npm ci\` in playground/ first.`);
  }
  return JSON.parse(readFileSync(path, "utf8"));
}

const pins = readJson(join(here, "package.json")).dependencies ?? {};
const versions = {};
for (const pkg of new Set(FILES.map(([, p]) => p).filter(Boolean))) {
  const installed = readJson(join(nodeModules, pkg, "package.json")).version;
  if (pins[pkg] !== installed) {
    die(
      `${pkg} is pinned to ${JSON.stringify(pins[pkg])} in package.json but ${installed} is installed. ` +
        "Run `npm ci` in playground/.",
    );
  }
  versions[pkg] = installed;
}

// Check every source before touching the output, so a failed build never
// leaves a half-populated folder behind.
const sources = FILES.map(([name, pkg, path]) => {
  const source = pkg ? join(nodeModules, pkg, path) : join(here, path);
  if (!existsSync(source) || !statSync(source).isFile() || statSync(source).size === 0) {
    die(`expected file is missing or empty: ${relative(repoRoot, source)}`);
  }
  return { name, pkg, path, source };
});

if (!outDir.endsWith(join("app", "static", "graphiql"))) {
  die(`refusing to clean unexpected output folder ${outDir}`);
}
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const files = sources.map(({ name, pkg, path, source }) => {
  const target = join(outDir, name);
  copyFileSync(source, target);
  const data = readFileSync(target);
  return {
    name,
    package: pkg || "storefront-bff",
    version: pkg ? versions[pkg] : null,
    source: pkg ? `${pkg}/${path}` : `playground/${path}`,
    bytes: data.length,
    sha256: createHash("sha256").update(data).digest("hex"),
  };
});

const manifest = {
  generator: "playground/build.mjs",
  packages: versions,
  files,
};
writeFileSync(join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);

for (const f of files) {
  console.log(`  ${f.name.padEnd(28)} ${String(f.bytes).padStart(9)} B  ${f.source}`);
}
console.log(`playground/build.mjs: wrote ${files.length} files + manifest.json to ${relative(repoRoot, outDir)}/`);
