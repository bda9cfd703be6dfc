#!/usr/bin/env node
/**
 * Merges per-file Stryker incremental records into one record for the whole scope, so that
 * `npm run mutate` (which reads reports/stryker-incremental-all.json) reuses every result whose
 * code and tests did not change since, and runs the rest: survivors that tests added since now
 * cover, and kills whose killing test changed.
 *
 *   node scripts/merge-mutation-records.mjs <out.json> <record.json>[:<source file>,…] …
 *
 * Each source file's mutants come from the one record named for it (a record without a list:
 * every file it has). Test ids are only unique
 * within a record, and each record holds its test files as they were when it ran, so every
 * test is carried over to the test file as it is now (by the same rule as Stryker's own
 * differ: a test whose text changed, up to the next test, is dropped, and so no longer vouches
 * for a kill), keyed by file, position and name, and given an id of the merged record.
 */
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import DiffMatchPatch from "diff-match-patch";

const [out, ...specs] = process.argv.slice(2);
if (!out || specs.length === 0) {
  console.error("usage: merge-mutation-records.mjs <out.json> <record.json>[:<file>,…] …");
  process.exit(2);
}

const dmp = new DiffMatchPatch();
/** Offset of each line's first character. */
const lineStarts = (text) => [0, ...[...text.matchAll(/\n/g)].map((m) => m.index + 1)];
const toOffset = (starts, { line, column }) => starts[line - 1] + column - 1;
const toPosition = (starts, offset) => {
  let line = starts.length;
  while (starts[line - 1] > offset) line--;
  return { line, column: offset - starts[line - 1] + 1 };
};

/** Where each test of an old test file is in the current one, or nothing if its text changed. */
function carryTests(oldSource, currentSource, tests) {
  const diffs = dmp.diff_main(oldSource, currentSource);
  const oldStarts = lineStarts(oldSource);
  const currentStarts = lineStarts(currentSource);
  const starts = [...new Set(tests.map((t) => toOffset(oldStarts, t.location.start)))].sort((a, b) => a - b);
  const endOf = (start) => starts.find((s) => s > start) ?? oldSource.length;
  // Old-source spans touched by the diff: a deletion covers its text, an insertion its position.
  const touched = [];
  let at = 0;
  for (const [op, text] of diffs) {
    if (op === DiffMatchPatch.DIFF_DELETE) touched.push([at, at + text.length]);
    if (op === DiffMatchPatch.DIFF_INSERT) touched.push([at, at]);
    if (op !== DiffMatchPatch.DIFF_INSERT) at += text.length;
  }
  const carried = new Map();
  for (const test of tests) {
    const start = toOffset(oldStarts, test.location.start);
    const end = endOf(start);
    // Text inserted strictly inside the test, or deleted from it (as Stryker's own differ decides).
    if (touched.some(([from, to]) => (from === to ? from > start && from < end : from < end && to > start))) continue;
    carried.set(test.id, { name: test.name, start: toPosition(currentStarts, dmp.diff_xIndex(diffs, start)) });
  }
  return carried;
}

const merged = { files: {}, testFiles: {} };
const testIds = new Map(); // "file@line:column\nname" → merged id
const counts = { tests: 0, dropped: 0, mutants: 0, links: 0, lostLinks: 0 };

for (const spec of specs) {
  const [recordPath, fileList] = spec.split(":");
  const record = JSON.parse(readFileSync(recordPath, "utf8"));
  Object.assign(merged, {
    schemaVersion: record.schemaVersion,
    thresholds: record.thresholds,
    projectRoot: record.projectRoot,
    framework: record.framework,
  });
  const idOf = new Map(); // this record's test id → merged id
  for (const [testFile, { source, tests }] of Object.entries(record.testFiles ?? {})) {
    if (!existsSync(testFile)) {
      counts.dropped += tests.length;
      continue;
    }
    const current = readFileSync(testFile, "utf8");
    const carried = carryTests(source, current, tests);
    counts.dropped += tests.length - carried.size;
    merged.testFiles[testFile] ??= { source: current, tests: [] };
    const entry = merged.testFiles[testFile];
    for (const [oldId, { name, start }] of carried) {
      const key = `${testFile}@${start.line}:${start.column}\n${name}`;
      if (!testIds.has(key)) {
        testIds.set(key, String(testIds.size));
        entry.tests.push({ id: testIds.get(key), name, location: { start } });
        counts.tests++;
      }
      idOf.set(oldId, testIds.get(key));
    }
  }
  for (const file of fileList?.split(",") ?? Object.keys(record.files)) {
    const result = record.files[file];
    if (!result) throw new Error(`${recordPath} has no results for ${file}`);
    if (merged.files[file]) throw new Error(`${file} is named for two records`);
    const relink = (ids) => {
      counts.links += ids?.length ?? 0;
      const kept = (ids ?? []).map((id) => idOf.get(id)).filter((id) => id !== undefined);
      counts.lostLinks += (ids?.length ?? 0) - kept.length;
      return kept;
    };
    merged.files[file] = {
      ...result,
      mutants: result.mutants.map((m) => ({ ...m, coveredBy: relink(m.coveredBy), killedBy: relink(m.killedBy) })),
    };
    counts.mutants += result.mutants.length;
  }
}

writeFileSync(out, JSON.stringify(merged));
console.log(
  `${out}: ${counts.mutants} mutants in ${Object.keys(merged.files).length} files; ` +
    `${counts.tests} tests carried over, ${counts.dropped} dropped (changed or removed since their record); ` +
    `${counts.lostLinks} of ${counts.links} coverage/kill links went with them`,
);
