/**
 * Builds the web app into dist/ unless nothing it is made from changed since
 * the last build (npm start runs this every time), then prints the production
 * size and fails if the app shell (JS + CSS, gzipped) is over budget.
 *   node scripts/build.mjs [--force]
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const WEB = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(WEB, "dist");
const STAMP = join(DIST, ".build-stamp");
/** The app shell budget: JS + CSS, gzipped, map library and QR decoder included. */
export const SHELL_BUDGET_BYTES = 250 * 1024;

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

function sourceHash() {
  const hash = createHash("sha256");
  const inputs = [
    ...files(join(WEB, "src")),
    ...files(join(WEB, "public")),
    join(WEB, "index.html"),
    join(WEB, "vite.config.ts"),
    join(WEB, "package.json"),
    ...files(join(WEB, "../client/src")),
  ].sort();
  for (const path of inputs) hash.update(relative(WEB, path)).update(readFileSync(path));
  return hash.digest("hex");
}

/** Every file of the build with its size and gzipped size; `shell` sums the JS and CSS. */
export function measure(dist = DIST) {
  const rows = files(dist)
    .filter((path) => !path.endsWith(".build-stamp"))
    .map((path) => {
      const bytes = readFileSync(path);
      return { file: relative(dist, path), bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
    })
    .sort((a, b) => b.gzip - a.gzip);
  const shell = rows
    .filter((row) => /\.(js|css)$/.test(row.file) && row.file !== "sw.js")
    .reduce((sum, row) => sum + row.gzip, 0);
  return { rows, shell };
}

function report() {
  const { rows, shell } = measure();
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`.padStart(10);
  console.log("web app production build (packages/web/dist):");
  for (const row of rows) console.log(`  ${row.file.padEnd(40)} ${kb(row.bytes)} ${kb(row.gzip)} gzip`);
  console.log(
    `  app shell (JS + CSS, gzipped): ${(shell / 1024).toFixed(1)} KB of ${SHELL_BUDGET_BYTES / 1024} KB allowed`,
  );
  if (shell > SHELL_BUDGET_BYTES) {
    console.error(
      `web app shell is ${(shell / 1024).toFixed(1)} KB gzipped, over the ${SHELL_BUDGET_BYTES / 1024} KB budget`,
    );
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const current = sourceHash();
  const force = process.argv.includes("--force");
  if (!force && existsSync(STAMP) && readFileSync(STAMP, "utf8") === current) {
    console.log("web app: unchanged since the last build (packages/web/dist)");
  } else {
    const { build } = await import("vite");
    await build({ configFile: join(WEB, "vite.config.ts"), logLevel: "warn" });
    writeFileSync(STAMP, current);
  }
  report();
}
