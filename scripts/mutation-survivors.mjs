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
let timeouts = 0;
const scores = [];
const alive = [];
for (const [file, { source, mutants }] of Object.entries(report.files)) {
  const lines = source.split("\n");
  const fileScored = mutants.filter((m) => SCORED.has(m.status));
  const fileDetected = fileScored.filter((m) => DETECTED.has(m.status));
  scored += fileScored.length;
  detected += fileDetected.length;
  timeouts += mutants.filter((m) => m.status === "Timeout").length;
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
// Stryker counts a Timeout as detected: mostly a test left waiting for what the mutant stopped (a
// message, a stream's end), but on a busy machine a slow run can be one too, hence the lower bound.
const killed = detected - timeouts;
console.log(
  `of which Timeout: ${timeouts}; lower bound, every Timeout counted as survived: ${((100 * killed) / scored).toFixed(1)} %`,
);
