import { mkdirSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { createPairs, type DevicePair } from "./lib/devices.js";
import { pidsNamed, startCpuMeter } from "./lib/cpu.js";
import { profilesIn, summarizeProfile, type ProfileSummary } from "./lib/profile.js";
import type { Progress } from "./lib/progress.js";
import { startInProcessStack, startProcessStack, type BenchStack, type ServiceName } from "./lib/stack.js";
import { BLOB_BYTES } from "./lib/stats.js";
import { countPackets, seedQueuedPackets } from "./scenarios/growth.js";
import { benchHandlers, type HandlersResult } from "./scenarios/handlers.js";
import { benchNats, type NatsResult } from "./scenarios/nats.js";
import { benchPostgres, type PostgresResult } from "./scenarios/postgres.js";
import { runFlow, type FlowResult } from "./scenarios/seeme.js";
import { benchSubscribers, type SubscribersPoint } from "./scenarios/subscribers.js";
import { timeSweep, type SweeperResult } from "./scenarios/sweeper.js";

/** How big and long each scenario is. */
export interface BenchSizes {
  stack: "processes" | "in-process";
  /** Connected device pairs driving the end-to-end load. */
  pairs: number;
  e2e: { warmupMs: number; durationMs: number; drainMs: number };
  /** Duration of each baseline point and the concurrency of the baselines. */
  baseline: { durationMs: number; pgConcurrency: number; concurrency: number };
  /** Packets already queued (for offline devices) while throughput is measured. */
  backlog: number[];
  growth: { warmupMs: number; durationMs: number };
  subscribers: number[];
  /** Most time spent signing up subscriber accounts; later subscribers reuse accounts. */
  registerBoundMs: number;
  sweepBoundMs: number;
  /** Profile the services during a saturation run (processes only). */
  profile: boolean;
}

export const FULL: BenchSizes = {
  stack: "processes",
  pairs: 32,
  e2e: { warmupMs: 2000, durationMs: 8000, drainMs: 5000 },
  baseline: { durationMs: 4000, pgConcurrency: 8, concurrency: 32 },
  backlog: [1_000, 100_000, 1_000_000],
  growth: { warmupMs: 1000, durationMs: 5000 },
  subscribers: [100, 1000],
  registerBoundMs: 60_000,
  sweepBoundMs: 180_000,
  profile: true,
};

/** A tiny run of every scenario (the smoke test): structure, not figures. */
export const SMOKE: BenchSizes = {
  stack: "in-process",
  pairs: 2,
  e2e: { warmupMs: 100, durationMs: 400, drainMs: 2000 },
  baseline: { durationMs: 250, pgConcurrency: 2, concurrency: 4 },
  backlog: [200],
  growth: { warmupMs: 100, durationMs: 300 },
  subscribers: [3],
  registerBoundMs: 5000,
  sweepBoundMs: 10_000,
  profile: false,
};

export interface BenchResults {
  startedAt: string;
  seconds: number;
  /** loadAverage: 1/5/15-minute load at the start; other work on the shared machine shows here. */
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; loadAverage: number[] };
  stackMode: BenchStack["mode"];
  blobBytes: number;
  seeme: {
    saturation: FlowResult[];
    /** Open loop at 50% and 80% of the one-packet-per-Sync saturation rate. */
    openLoop: Array<FlowResult & { fraction: number }>;
    /** CPU use (cores) per process during the one-packet-per-Sync saturation run. */
    cpu: Record<string, number>;
    /**
     * CPU milliseconds each process spent per acknowledged packet at saturation,
     * and the rate that would fill this machine's cores with see-me alone
     * (services, PostgreSQL, NATS; not the load generator). Unlike the
     * throughput, this barely moves when other work shares the machine.
     */
    cost: Array<{ batch: number; cpuMsPerPacket: Record<string, number>; projectedPerSecond: number }>;
  };
  postgres: PostgresResult;
  nats: NatsResult;
  handlers: HandlersResult;
  growth: {
    backlog: Array<{ queued: number; seedSeconds: number; flow: FlowResult }>;
    subscribers: SubscribersPoint[];
    sweeper?: SweeperResult;
  };
  profile?: Array<{ service: ServiceName } & ProfileSummary>;
}

function machine(loadAtStart: number[]): BenchResults["machine"] {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverage: loadAtStart.map((load) => Math.round(load * 100) / 100),
  };
}

export async function runBenchmarks(say: Progress, sizes: BenchSizes, outDir: string): Promise<BenchResults> {
  mkdirSync(outDir, { recursive: true });
  const started = Date.now();
  const loadAtStart = loadavg();
  say(
    `baselines: PostgreSQL (P_raw, P_prisma), NATS, empty handlers (C0, G0), ${sizes.baseline.durationMs} ms per point`,
  );
  const postgres = await benchPostgres(say, {
    durationMs: sizes.baseline.durationMs,
    concurrency: sizes.baseline.pgConcurrency,
  });
  const nats = await benchNats(say, { durationMs: sizes.baseline.durationMs, concurrency: sizes.baseline.concurrency });
  const handlers = await benchHandlers(say, {
    durationMs: sizes.baseline.durationMs,
    concurrency: sizes.baseline.concurrency,
  });

  say(`starting see-me (${sizes.stack}) …`);
  const stack =
    sizes.stack === "processes"
      ? await startProcessStack("bench", { logDir: outDir })
      : await startInProcessStack("bench");
  let pairs: DevicePair[] = [];
  try {
    say(`signing up and pairing ${sizes.pairs * 2} devices through the gateway …`);
    pairs = await createPairs(stack.gatewayUrl, sizes.pairs);
    const flow = (options: Parameters<typeof runFlow>[1]) => runFlow(pairs, options);
    const services: ServiceName[] = ["gateway", "location", "identity", "connection"];
    const meterGroups = {
      ...Object.fromEntries(
        services.map((name) => [name, () => (stack.mode === "processes" ? [stack.pid(name)] : [])]),
      ),
      postgres: () => pidsNamed("postgres"),
      "nats-server": () => pidsNamed("nats-server"),
    };

    const saturation: FlowResult[] = [];
    let cpu: Record<string, number> = {};
    const cost: BenchResults["seeme"]["cost"] = [];
    for (const batch of [1, 10]) {
      say(
        `see-me saturation, ${batch} packet(s) per Sync, ${sizes.pairs} pairs, ${(sizes.e2e.warmupMs + sizes.e2e.durationMs) / 1000} s …`,
      );
      const meter = startCpuMeter(meterGroups);
      const result = await flow({ mode: "closed", batch, ...sizes.e2e });
      const used = meter();
      if (batch === 1) cpu = used;
      saturation.push(result);
      const serving = Object.entries(used).filter(([name]) => name !== "load generator");
      const perPacket = (cores: number) => Math.round((cores * 1000 * 100) / Math.max(result.ackedPerSecond, 1)) / 100;
      const total = serving.reduce((sum, [, cores]) => sum + cores, 0);
      cost.push({
        batch,
        cpuMsPerPacket: Object.fromEntries(serving.map(([name, cores]) => [name, perPacket(cores)])),
        // In-process the services share the load generator's process, so their CPU cannot be told apart.
        projectedPerSecond:
          stack.mode === "processes" && total > 0 ? Math.round((cpus().length / total) * result.ackedPerSecond) : 0,
      });
      say(
        `  → ${result.ackedPerSecond} acked packets/s, send→receive p50 ${result.latency.p50Ms} ms p99 ${result.latency.p99Ms} ms`,
      );
    }
    const peak = Math.max(1, saturation[0].ackedPerSecond);
    const openLoop: BenchResults["seeme"]["openLoop"] = [];
    for (const fraction of [0.5, 0.8]) {
      const rate = Math.max(10, Math.round(peak * fraction));
      say(`see-me open loop at ${fraction * 100}% (${rate} packets/s) …`);
      const result = await flow({ mode: "open", rate, ...sizes.e2e });
      openLoop.push({ ...result, fraction });
      say(
        `  → send→receive p50 ${result.latency.p50Ms} ms p99 ${result.latency.p99Ms} ms (${result.ackedPerSecond} acked/s)`,
      );
    }

    let profile: BenchResults["profile"];
    if (sizes.profile && stack.restart) {
      const dir = `${outDir}/profiles`;
      mkdirSync(dir, { recursive: true });
      say("restarting the services under --cpu-prof for a profiled saturation run …");
      await stack.restart(["--cpu-prof", `--cpu-prof-dir=${dir}`]);
      const pids = Object.fromEntries(services.map((name) => [name, stack.pid(name)]));
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const result = await flow({ mode: "closed", batch: 1, ...sizes.e2e });
      const toUs = Number(process.hrtime.bigint() / 1000n);
      say(`  → ${result.ackedPerSecond} acked packets/s under the profiler; restarting without it …`);
      await stack.restart([]);
      const files = profilesIn(dir);
      profile = services
        .filter((name) => files.has(pids[name]))
        .map((service) => ({ service, ...summarizeProfile(files.get(pids[service])!, { fromUs, toUs }) }));
    }

    const backlog: BenchResults["growth"]["backlog"] = [];
    const seedExpiryMs = 3_600_000;
    let queued = 0;
    for (const level of sizes.backlog) {
      say(`queueing ${level} packets for offline devices (SQL into the location schema) …`);
      const t0 = performance.now();
      await seedQueuedPackets(stack.databaseUrls.location, queued, level, seedExpiryMs, (done) =>
        say(`  ${done} queued`),
      );
      const seedSeconds = (performance.now() - t0) / 1000;
      queued = level;
      const result = await flow({ mode: "closed", batch: 1, ...sizes.growth, drainMs: sizes.e2e.drainMs });
      backlog.push({ queued: level, seedSeconds: Math.round(seedSeconds * 10) / 10, flow: result });
      say(`  → with ${level} queued: ${result.ackedPerSecond} acked packets/s, p99 ${result.latency.p99Ms} ms`);
    }

    let sweeper: SweeperResult | undefined;
    if (queued > 0) {
      say(`sweeper: deleting the ${queued} queued packets after they expire (clock moved past their expiry) …`);
      const before = await countPackets(stack.databaseUrls.location);
      sweeper = await timeSweep(stack.env, before, 2 * seedExpiryMs, sizes.sweepBoundMs);
      say(`  → ${sweeper.deleted} deleted in ${sweeper.seconds} s`);
    }

    say(`live subscribers on one gateway: ${sizes.subscribers.join(", ")} …`);
    for (const pair of pairs) {
      pair.sender.close();
      pair.recipient.close();
    }
    pairs = [];
    const subscribers = await benchSubscribers(stack, sizes.subscribers, sizes.registerBoundMs);
    for (const point of subscribers)
      say(
        `  → ${point.subscribers} streams: gateway +${point.gatewayKiBPerSubscriber} KiB each, location +${point.locationKiBPerSubscriber} KiB each`,
      );

    return {
      startedAt: new Date(started).toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      machine: machine(loadAtStart),
      stackMode: stack.mode,
      blobBytes: BLOB_BYTES,
      seeme: { saturation, openLoop, cpu, cost },
      postgres,
      nats,
      handlers,
      growth: { backlog, subscribers, sweeper },
      profile,
    };
  } finally {
    for (const pair of pairs) {
      pair.sender.close();
      pair.recipient.close();
    }
    say("stopping see-me and dropping its schemas and streams …");
    await stack.stop();
  }
}
