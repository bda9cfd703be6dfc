/**
 * `npm run bench:e2e`: only the end-to-end runs of `npm run bench` — saturation at
 * 1 and 10 packets per Sync, then an open loop at `--open <packets/s>` if given —
 * with PostgreSQL's CPU split by the service whose connections used it. About a
 * minute per round, so two checkouts can be run turn about (`--rounds`), the only
 * fair comparison on a machine whose speed moves by 2× within an hour.
 * `--batches 1,10` picks the saturation runs; `--profile <dir>` runs the services
 * under `--cpu-prof` (profiles written there when the stack stops).
 */
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { TEST_DATABASE_URL } from "@seeme/testkit/database";
import { postgresBackends, startCpuMeter, type PidSource } from "./lib/cpu.js";
import { createPairs } from "./lib/devices.js";
import { startOwnNats } from "./lib/nats-server.js";
import { ROOT, startProcessStack, type ServiceName } from "./lib/stack.js";
import { msPerPacket } from "./lib/stats.js";
import { FULL, warmStack } from "./suite.js";
import { runFlow } from "./scenarios/seeme.js";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "1" },
    batches: { type: "string", default: "1,10" },
    open: { type: "string" },
    profile: { type: "string" },
  },
});
const SERVICES: ServiceName[] = ["gateway", "location", "identity", "connection"];
const load = () => loadavg()[0].toFixed(2);

const nats = await startOwnNats();
process.env.NATS_URL = nats.url;
// The services' warning logs go where a full run's go.
const logDir = `${ROOT}bench/results/${new Date().toISOString().replace(/[:.]/g, "-")}-e2e`;
mkdirSync(logDir, { recursive: true });
const stack = await startProcessStack("bench", { logDir });
const closing: Array<() => Promise<unknown>> = [];
try {
  if (args.profile) await stack.restart?.(["--cpu-prof", `--cpu-prof-dir=${args.profile}`]);
  const pairs = await createPairs(stack.gatewayUrl, FULL.pairs);
  const groups: Record<string, PidSource> = { "nats-server": () => [nats.pid] };
  for (const name of SERVICES) groups[name] = () => [stack.pid(name)];
  for (const name of ["location", "identity", "connection"]) {
    const backends = await postgresBackends(TEST_DATABASE_URL, `${stack.postgresApplication}_${name}`);
    groups[`postgres (${name})`] = backends.find;
    closing.push(backends.close);
  }
  await warmStack(pairs, FULL.stackWarmupMs);
  for (let round = 1; round <= Number(args.rounds); round++) {
    for (const batch of args.batches.split(",").map(Number)) {
      const meter = await startCpuMeter(groups);
      const result = await runFlow(pairs, { mode: "closed", batch, ...FULL.e2e });
      const used = await meter();
      const serving = Object.entries(used).filter(([name]) => name !== "load generator");
      const total = serving.reduce((sum, [, cores]) => sum + cores, 0);
      console.log(
        `round ${round}, ${batch} per Sync: ${msPerPacket(total, result.ackedPerSecond)} CPU ms per acked packet (${serving
          .map(([name, cores]) => `${name} ${msPerPacket(cores, result.ackedPerSecond)}`)
          .join(
            ", ",
          )}; load generator ${msPerPacket(used["load generator"], result.ackedPerSecond)}); ${result.ackedPerSecond} acked/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms; refused ${JSON.stringify(result.errors)}; load ${load()}`,
      );
    }
    if (args.open) {
      const result = await runFlow(pairs, { mode: "open", rate: Number(args.open), ...FULL.e2e });
      console.log(
        `round ${round}, open loop at ${args.open}/s: p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms (${result.ackedPerSecond} acked/s, ${result.syncsPerSecond} Syncs/s); load ${load()}`,
      );
    }
  }
  for (const pair of pairs) {
    pair.sender.close();
    pair.recipient.close();
  }
} finally {
  for (const close of closing) await close();
  await stack.stop();
  await nats.stop();
}
