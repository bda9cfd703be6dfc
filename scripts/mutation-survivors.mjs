#!/usr/bin/env node
/**
 * The mutants a Stryker report left alive (Survived, NoCoverage), one line each with the code
 * they change, for review (docs/testing.md), and the report's score per file and in all.
 *
 *   node scripts/mutation-survivors.mjs [reports/mutation/all.json]
 */
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2] ?? "reports/mutation/all.json", "utf8"));
const DETECTED = new Set(["Killed", "Timeout"]);
const SCORED = new Set([...DETECTED, "Survived", "NoCoverage"]);
let detected = 0;
let scored = 0;
const scores = [];
const alive = [];
for (const [file, { source, mutants }] of Object.entries(report.files)) {
  const lines = source.split("\n");
  const fileScored = mutants.filter((m) => SCORED.has(m.status));
  const fileDetected = fileScored.filter((m) => DETECTED.has(m.status));
  scored += fileScored.length;
  detected += fileDetected.length;
  scores.push(`${file}: ${fileDetected.length} of ${fileScored.length}`);
  for (const m of mutants) {
    if (DETECTED.has(m.status) || !SCORED.has(m.status)) continue;
    const { start, end } = m.location;
    const original =
      start.line === end.line
        ? lines[start.line - 1].slice(start.column - 1, end.column - 1)
        : `${lines[start.line - 1].slice(start.column - 1)} …`;
    const short = (text) => JSON.stringify(text.replace(/\s+/g, " ").slice(0, 70));
    alive.push(`${file}:${start.line} ${m.status} ${m.mutatorName}: ${short(original)} → ${short(m.replacement)}`);
  }
}
console.log(alive.join("\n"));
console.log(`\n${scores.join("\n")}`);
console.log(`\nall: ${detected} of ${scored} = ${((100 * detected) / scored).toFixed(1)} %`);
