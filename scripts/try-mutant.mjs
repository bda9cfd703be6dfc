#!/usr/bin/env node
/**
 * Reviews one mutant by hand (docs/testing.md): applies it to the source, runs the tests that
 * should kill it, restores the file (also on Ctrl-C), and says KILLED or SURVIVED.
 *
 *   node scripts/try-mutant.mjs <file> <line> <from> <to> <test file> [jest -t pattern]
 *
 * <from> must occur on <line>; its first occurrence there becomes <to>. Run it in a checkout no
 * Stryker run is copying its sandbox from: the mutant is in the source while the tests run.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [file, lineText, from, to, testFile, pattern] = process.argv.slice(2);
if (!testFile || !Number.isInteger(Number(lineText))) {
  console.error("usage: node scripts/try-mutant.mjs <file> <line> <from> <to> <test file> [jest -t pattern]");
  process.exit(2);
}
const original = readFileSync(file, "utf8");
const lines = original.split("\n");
const index = Number(lineText) - 1;
if (!lines[index]?.includes(from)) {
  console.error(`${file}:${lineText} does not contain ${JSON.stringify(from)}:\n  ${lines[index]?.trim()}`);
  process.exit(2);
}
lines[index] = lines[index].replace(from, to);
const restore = () => writeFileSync(file, original);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => (restore(), process.exit(130)));
writeFileSync(file, lines.join("\n"));
try {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const args = ["--experimental-vm-modules", "node_modules/jest/bin/jest.js", testFile];
  if (pattern) args.push("-t", pattern);
  const run = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
  const output = `${run.stdout}${run.stderr}`;
  const failed = output
    .split("\n")
    .filter((l) => l.includes("✕"))
    .map((l) => l.trim());
  const summary = output.split("\n").find((l) => l.startsWith("Tests:"));
  // A suite that did not run (the mutant does not compile, say) killed nothing.
  const ran = summary !== undefined && !output.includes("Test suite failed to run");
  const verdict = !ran ? "NOT RUN" : run.status === 0 ? "SURVIVED" : "KILLED";
  console.log(
    `${file}:${lineText} ${JSON.stringify(from)} → ${JSON.stringify(to)}: ${verdict} (${summary?.trim() ?? output.trim().split("\n").slice(0, 5).join(" | ")})`,
  );
  for (const name of failed) console.log(`  ${name}`);
} finally {
  restore();
}
