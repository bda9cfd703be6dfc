/**
 * `npm run bench`: see-me end to end next to its own components (PostgreSQL
 * raw and through Prisma, NATS, empty Connect and grpc-js handlers), in one run
 * on this machine; then growth (queued packets, live subscribers, sweeper).
 * Writes bench/results/<time>/results.json and chart.svg, prints the table,
 * and copies both to bench/latest.{json,svg}. `--smoke` runs every scenario tiny.
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { createProgress } from "./lib/progress.js";
import { formatTable } from "./lib/report.js";
import { ROOT } from "./lib/stack.js";
import { renderChart } from "./lib/svg.js";
import { FULL, runBenchmarks, SMOKE } from "./suite.js";

const smoke = process.argv.includes("--smoke");
const say = createProgress();
const outDir = `${ROOT}bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}${smoke ? "-smoke" : ""}`;
const results = await runBenchmarks(say, smoke ? SMOKE : FULL, outDir);
writeFileSync(`${outDir}/results.json`, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(`${outDir}/chart.svg`, renderChart(results));
if (!smoke) {
  copyFileSync(`${outDir}/results.json`, `${ROOT}bench/latest.json`);
  copyFileSync(`${outDir}/chart.svg`, `${ROOT}bench/latest.svg`);
}
process.stdout.write(`\n${formatTable(results)}\n`);
if (results.profile) {
  for (const service of results.profile) {
    process.stdout.write(
      `\nprofile ${service.service} (${service.busyMs} ms busy in ${service.windowMs} ms): ${service.topModules
        .slice(0, 6)
        .map((entry) => `${entry.name} ${entry.percent}%`)
        .join(", ")}\n`,
    );
  }
}
say(`done in ${Math.round(say.elapsed())} s; results in ${outDir}`);
