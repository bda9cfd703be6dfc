import { mkdirSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { createPairs, type DevicePair } from "./lib/devices.js";
import { postgresBackends, startCpuMeter, type PidSource } from "./lib/cpu.js";
import { startOwnNats } from "./lib/nats-server.js";
import { profilesIn, summarizeProfile, type ProfileSummary } from "./lib/profile.js";
import type { Progress } from "./lib/progress.js";
import { startInProcessStack, startProcessStack, type BenchStack, type ServiceName } from "./lib/stack.js";
import { TEST_DATABASE_URL } from "@seeme/testkit/database";
import { BLOB_BYTES, msPerPacket } from "./lib/stats.js";
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
  /** How long the idle stack is metered (its CPU is subtracted for the marginal cost per packet). */
  idleMs: number;
  /** An unmetered run at 10 per Sync after every (re)start of the services (warmStack). */
  stackWarmupMs: number;
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
  idleMs: 5000,
  stackWarmupMs: 3000,
  profile: true,
};

/** A tiny run of every scenario (the smoke test): structure, not figures. */
export const SMOKE: BenchSizes = {
  stack: "in-process",
  pairs: 2,
  e2e: { warmupMs: 100, durationMs: 1000, drainMs: 2000 },
  baseline: { durationMs: 250, pgConcurrency: 2, concurrency: 4 },
  backlog: [200],
  growth: { warmupMs: 100, durationMs: 300 },
  subscribers: [3],
  registerBoundMs: 5000,
  sweepBoundMs: 10_000,
  idleMs: 200,
  stackWarmupMs: 200,
  profile: false,
};

export interface BenchResults {
  startedAt: string;
  seconds: number;
  /** loadAverage: 1/5/15-minute load at the start; other work on the shared machine shows here. */
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; loadAverage: number[] };
  stackMode: BenchStack["mode"];
  blobBytes: number;
  /** Where NATS ran: the bench's own nats-server (its CPU counted), or the machine's (not counted). */
  natsServer: "own" | "shared";
  seeme: {
    saturation: Array<FlowResult & { load: number }>;
    /** Open loop at 50% and 80% of the ten-packets-per-Sync saturation rate. */
    openLoop: Array<FlowResult & { fraction: number; load: number }>;
    /** CPU use (cores) per process during the one-packet-per-Sync saturation run. */
    cpu: Record<string, number>;
    /**
     * CPU milliseconds each process spent per acknowledged packet at saturation
     * (PostgreSQL: this stack's backends only; the load generator apart), their
     * total, and the rate that would fill this machine's cores with see-me alone
     * (services, PostgreSQL, NATS; not the load generator). Unlike the
     * throughput, this barely moves when other work shares the machine.
     */
    cost: Array<{
      batch: number;
      cpuMsPerPacket: Record<string, number>;
      totalCpuMsPerPacket: number;
      /** The total less what the idle stack spends in the same time. */
      marginalCpuMsPerPacket: number;
      loadGeneratorCpuMsPerPacket: number;
      projectedPerSecond: number;
      /** 1-minute load average at the end of the run. */
      load: number;
    }>;
  };
  postgres: PostgresResult;
  nats: NatsResult;
  handlers: HandlersResult;
  growth: {
    backlog: Array<{
      queued: number;
      seedSeconds: number;
      flow: FlowResult;
      totalCpuMsPerPacket: number;
      load: number;
    }>;
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

const load1 = () => Math.round(loadavg()[0] * 100) / 100;

/**
 * An unmetered run after the services (re)start, so metered runs measure a warm stack:
 * JIT-compiled code, open pool connections, and prepared statements past the five runs on
 * each connection for which PostgreSQL plans a named statement anew. Without it the first
 * run after a start cost up to twice the same run later (the growth levels' 1k figure).
 */
export async function warmStack(pairs: DevicePair[], ms: number): Promise<void> {
  await runFlow(pairs, { mode: "closed", batch: 10, warmupMs: 0, durationMs: ms, drainMs: ms });
}

export async function runBenchmarks(say: Progress, sizes: BenchSizes, outDir: string): Promise<BenchResults> {
  // A full run brings its own nats-server, so NATS's CPU is this stack's alone; the smoke run uses the machine's.
  const ownNats = sizes.stack === "processes" ? await startOwnNats() : undefined;
  const sharedNatsUrl = process.env.NATS_URL;
  if (ownNats) process.env.NATS_URL = ownNats.url;
  try {
    return await runAll(say, sizes, outDir, ownNats?.pid);
  } finally {
    if (ownNats) {
      if (sharedNatsUrl === undefined) delete process.env.NATS_URL;
      else process.env.NATS_URL = sharedNatsUrl;
      await ownNats.stop();
    }
  }
}

async function runAll(say: Progress, sizes: BenchSizes, outDir: string, natsPid?: number): Promise<BenchResults> {
  mkdirSync(outDir, { recursive: true });
  const started = Date.now();
  const loadAtStart = loadavg();
  say(
    `baselines: PostgreSQL (P_raw, P_relay, P_prisma, P_group), NATS, empty handlers (C0, G0), ${sizes.baseline.durationMs} ms per point`,
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
  let backends: Awaited<ReturnType<typeof postgresBackends>> | undefined;
  try {
    say(`signing up and pairing ${sizes.pairs * 2} devices through the gateway …`);
    pairs = await createPairs(stack.gatewayUrl, sizes.pairs);
    const flow = (options: Parameters<typeof runFlow>[1]) => runFlow(pairs, options);
    const services: ServiceName[] = ["gateway", "location", "identity", "connection"];
    // This stack's PostgreSQL backends only (by application_name), including connections opened while metering.
    backends = await postgresBackends(TEST_DATABASE_URL, stack.postgresApplication);
    const meterGroups: Record<string, PidSource> = {
      ...Object.fromEntries(
        services.map((name) => [name, () => (stack.mode === "processes" ? [stack.pid(name)] : [])]),
      ),
      postgres: backends.find,
      ...(natsPid === undefined ? {} : { "nats-server": () => [natsPid] }),
    };
    await warmStack(pairs, sizes.stackWarmupMs);
    // What the stack spends doing nothing (timers, health checks, heartbeats): at a few dozen packets per
    // second on a crowded machine it is a large share of a packet's cost, so it is reported apart.
    say(`idle stack, ${sizes.idleMs} ms …`);
    const idleMeter = await startCpuMeter(meterGroups);
    await new Promise((resolve) => setTimeout(resolve, sizes.idleMs));
    const idle = await idleMeter();
    delete idle["load generator"];
    say(
      `  → idle cores: ${Object.entries(idle)
        .map(([name, cores]) => `${name} ${Math.round(cores * 1000) / 1000}`)
        .join(", ")}`,
    );
    /** Runs a flow under the CPU meter: CPU ms per acknowledged packet per process. */
    const metered = async (options: Parameters<typeof runFlow>[1]) => {
      const meter = await startCpuMeter(meterGroups);
      const result = await flow(options);
      const used = await meter();
      const perPacket = (cores: number) => msPerPacket(cores, result.ackedPerSecond);
      const serving = Object.entries(used).filter(([name]) => name !== "load generator");
      const total = serving.reduce((sum, [, cores]) => sum + cores, 0);
      return {
        result,
        used,
        cost: {
          cpuMsPerPacket: Object.fromEntries(serving.map(([name, cores]) => [name, perPacket(cores)])),
          totalCpuMsPerPacket: perPacket(total),
          marginalCpuMsPerPacket: perPacket(total - Object.values(idle).reduce((sum, cores) => sum + cores, 0)),
          loadGeneratorCpuMsPerPacket: perPacket(used["load generator"]),
          // In-process the services share the load generator's process, so their CPU cannot be told apart.
          projectedPerSecond:
            stack.mode === "processes" && total > 0 ? Math.round((cpus().length / total) * result.ackedPerSecond) : 0,
          load: load1(),
        },
      };
    };

    const saturation: BenchResults["seeme"]["saturation"] = [];
    let cpu: Record<string, number> = {};
    const cost: BenchResults["seeme"]["cost"] = [];
    for (const batch of [1, 10]) {
      say(
        `see-me saturation, ${batch} packet(s) per Sync, ${sizes.pairs} pairs, ${(sizes.e2e.warmupMs + sizes.e2e.durationMs) / 1000} s …`,
      );
      const run = await metered({ mode: "closed", batch, ...sizes.e2e });
      if (batch === 1)
        cpu = Object.fromEntries(
          Object.entries(run.used).map(([name, cores]) => [name, Math.round(cores * 100) / 100]),
        );
      saturation.push({ ...run.result, load: run.cost.load });
      cost.push({ batch, ...run.cost });
      say(
        `  → CPU ms per acked packet ${run.cost.totalCpuMsPerPacket} (idle subtracted ${run.cost.marginalCpuMsPerPacket}; ${Object.entries(
          run.cost.cpuMsPerPacket,
        )
          .map(([name, ms]) => `${name} ${ms}`)
          .join(
            ", ",
          )}; load generator ${run.cost.loadGeneratorCpuMsPerPacket}); ${run.result.ackedPerSecond} acked packets/s, send→receive p50 ${run.result.latency.p50Ms} ms p99 ${run.result.latency.p99Ms} ms; load ${run.cost.load}`,
      );
    }
    // Open loop at fractions of the 10-per-Sync saturation rate: devices send what they have queued, so Syncs grow.
    const peak = Math.max(1, saturation[1].ackedPerSecond);
    const openLoop: BenchResults["seeme"]["openLoop"] = [];
    for (const fraction of [0.5, 0.8]) {
      // At least 20/s: a smoke run on a crowded machine may ack nothing inside its short window.
      const rate = Math.max(20, Math.round(peak * fraction));
      say(`see-me open loop at ${fraction * 100}% of the 10-per-Sync rate (${rate} packets/s) …`);
      const result = await flow({ mode: "open", rate, ...sizes.e2e });
      openLoop.push({ ...result, fraction, load: load1() });
      say(
        `  → send→receive p50 ${result.latency.p50Ms} ms p99 ${result.latency.p99Ms} ms (${result.ackedPerSecond} acked/s); load ${load1()}`,
      );
    }

    let profile: BenchResults["profile"];
    if (sizes.profile && stack.restart) {
      const dir = `${outDir}/profiles`;
      mkdirSync(dir, { recursive: true });
      say("restarting the services under --cpu-prof for a profiled saturation run …");
      await stack.restart(["--cpu-prof", `--cpu-prof-dir=${dir}`]);
      const pids = Object.fromEntries(services.map((name) => [name, stack.pid(name)]));
      await warmStack(pairs, sizes.stackWarmupMs);
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const result = await flow({ mode: "closed", batch: 1, ...sizes.e2e });
      const toUs = Number(process.hrtime.bigint() / 1000n);
      say(`  → ${result.ackedPerSecond} acked packets/s under the profiler; restarting without it …`);
      await stack.restart([]);
      await warmStack(pairs, sizes.stackWarmupMs);
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
      // 10 per Sync: enough packets per second that idle work (timers, health checks) does not dominate the cost.
      const run = await metered({ mode: "closed", batch: 10, ...sizes.growth, drainMs: sizes.e2e.drainMs });
      backlog.push({
        queued: level,
        seedSeconds: Math.round(seedSeconds * 10) / 10,
        flow: run.result,
        totalCpuMsPerPacket: run.cost.totalCpuMsPerPacket,
        load: run.cost.load,
      });
      say(
        `  → with ${level} queued: CPU ms per acked packet ${run.cost.totalCpuMsPerPacket}; ${run.result.ackedPerSecond} acked packets/s, p99 ${run.result.latency.p99Ms} ms; load ${run.cost.load}`,
      );
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
      natsServer: natsPid === undefined ? "shared" : "own",
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
    await backends?.close();
    say("stopping see-me and dropping its schemas and streams …");
    await stack.stop();
  }
}
