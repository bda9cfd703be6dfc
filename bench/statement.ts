/**
 * `npm run bench:statement`: only the relay's Sync statement baselines of
 * `npm run bench` (bench/scenarios/postgres.ts: P_raw and the clients the relay
 * can run it through, batch 1 / 10 / 100, 8 workers, 4 s per point), with each
 * client's CPU per packet (client + its PostgreSQL backends) ÷ P_raw's, and the
 * load average before and after. A few minutes instead of the full suite's.
 */
import { loadavg } from "node:os";
import { createProgress } from "./lib/progress.js";
import { benchPostgres } from "./scenarios/postgres.js";
import { FULL } from "./suite.js";

const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(" / ");
const say = createProgress();
const before = load();
const result = await benchPostgres(say, {
  durationMs: FULL.baseline.durationMs,
  concurrency: FULL.baseline.pgConcurrency,
});
const cpu = (point: { clientCpuMsPerRow: number; postgresCpuMsPerRow: number }) =>
  point.clientCpuMsPerRow + point.postgresCpuMsPerRow;
const lines = [`load average (1 / 5 / 15 min) before ${before}, after ${load()}`];
for (const [name, points] of Object.entries(result)) {
  if (!Array.isArray(points)) continue;
  for (const point of points) {
    const raw = result.raw.find((entry) => entry.batch === point.batch);
    const ratio = raw && cpu(raw) > 0 ? (cpu(point) / cpu(raw)).toFixed(2) : "n/a";
    lines.push(
      `${name.padEnd(8)} batch ${String(point.batch).padStart(3)}: ${point.rowsPerSecond} packets/s, CPU ms/packet client ${point.clientCpuMsPerRow} + postgres ${point.postgresCpuMsPerRow} = ${cpu(point).toFixed(3)} (${ratio}× P_raw)`,
    );
  }
}
process.stdout.write(`${lines.join("\n")}\n`);
