import type { BenchResults } from "../suite.js";

export interface Ratio {
  name: string;
  value: number;
  /** What the ratio divides, in words. */
  of: string;
}

interface Target {
  goal: string;
  measured: string;
  met: boolean;
}

const r2 = (value: number) => Math.round(value * 100) / 100;
const div = (a: number, b: number) => (b > 0 ? r2(a / b) : 0);

export function ratios(results: BenchResults): Ratio[] {
  const [batch1, batch10] = results.seeme.saturation;
  const raw = (batch: number) => results.postgres.raw.find((point) => point.batch === batch)?.rowsPerSecond ?? 0;
  const prisma = (batch: number) => results.postgres.prisma.find((point) => point.batch === batch)?.rowsPerSecond ?? 0;
  return [
    {
      name: "see-me ÷ P_raw (batch 1)",
      value: div(batch1.ackedPerSecond, raw(1)),
      of: "acked packets/s at 1 packet per Sync ÷ raw rows/s at batch 1",
    },
    {
      name: "see-me ÷ P_raw (batch 10)",
      value: div(batch10.ackedPerSecond, raw(10)),
      of: "acked packets/s at 10 packets per Sync ÷ raw rows/s at batch 10",
    },
    {
      name: "see-me ÷ C0",
      value: div(batch1.ackedPerSecond, results.handlers.connect.requestsPerSecond),
      of: "acked packets/s at 1 packet per Sync ÷ empty Connect Syncs/s",
    },
    ...[1, 10, 100].map((batch) => ({
      name: `P_prisma ÷ P_raw (batch ${batch})`,
      value: div(prisma(batch), raw(batch)),
      of: "Prisma rows/s ÷ node-postgres rows/s",
    })),
  ];
}

function targets(results: BenchResults): Target[] {
  const peak = Math.max(...results.seeme.saturation.map((flow) => flow.ackedPerSecond));
  const half = results.seeme.openLoop.find((flow) => flow.fraction === 0.5);
  const list = ratios(results);
  const ratio = (name: string) => list.find((entry) => entry.name === name)?.value ?? 0;
  const prismaCost = Math.max(
    ...[1, 10, 100].map((batch) => {
      const value = ratio(`P_prisma ÷ P_raw (batch ${batch})`);
      return value > 0 ? 1 / value : Infinity;
    }),
  );
  return [
    {
      goal: "≥ 5,000 acknowledged packets/s end to end",
      measured: `${peak} /s (${div(peak, 5000)}× the goal)`,
      met: peak >= 5000,
    },
    {
      goal: "p99 send→receive ≤ 25 ms at 50% of max rate",
      measured: `${half?.latency.p99Ms ?? "n/a"} ms`,
      met: (half?.latency.p99Ms ?? Infinity) <= 25,
    },
    {
      goal: "see-me ÷ P_raw (batch 10) ≥ 0.5",
      measured: String(ratio("see-me ÷ P_raw (batch 10)")),
      met: ratio("see-me ÷ P_raw (batch 10)") >= 0.5,
    },
    {
      goal: "Prisma costs ≤ 1.5× raw node-postgres",
      measured: `up to ${r2(prismaCost)}× (worst batch size)`,
      met: prismaCost <= 1.5,
    },
  ];
}

function row(cells: Array<string | number>, widths: number[]): string {
  return cells
    .map((cell, i) => String(cell).padEnd(widths[i]))
    .join("  ")
    .trimEnd();
}

/** Every figure, the ratios and the targets as a plain-text table. */
export function formatTable(results: BenchResults): string {
  const lines: Array<[string, string, string]> = [];
  const add = (figure: string, value: string | number, unit: string) => lines.push([figure, String(value), unit]);
  const [batch1, batch10] = results.seeme.saturation;
  add(
    "see-me saturation, 1 packet/Sync",
    batch1.ackedPerSecond,
    `acked packets/s (p50 ${batch1.latency.p50Ms} ms, p99 ${batch1.latency.p99Ms} ms)`,
  );
  add(
    "see-me saturation, 10 packets/Sync",
    batch10.ackedPerSecond,
    `acked packets/s (p50 ${batch10.latency.p50Ms} ms, p99 ${batch10.latency.p99Ms} ms)`,
  );
  for (const flow of results.seeme.openLoop) {
    add(
      `see-me open loop ${flow.fraction * 100}% (${flow.offeredPerSecond}/s)`,
      `${flow.latency.p50Ms} / ${flow.latency.p99Ms}`,
      `ms send→receive p50 / p99 (${flow.ackedPerSecond} acked/s)`,
    );
  }
  for (const point of results.postgres.raw)
    add(`P_raw batch ${point.batch}`, point.rowsPerSecond, "rows inserted+deleted/s");
  for (const point of results.postgres.prisma)
    add(`P_prisma batch ${point.batch}`, point.rowsPerSecond, "rows inserted+deleted/s");
  add("NATS core publish", results.nats.core.messagesPerSecond, "msg/s received");
  add(
    "NATS JetStream publish (file)",
    results.nats.jetstream.messagesPerSecond,
    `msg/s acked (p99 ${results.nats.jetstream.ackLatency.p99Ms} ms)`,
  );
  add(
    "C0 empty Connect handler",
    results.handlers.connect.requestsPerSecond,
    `Syncs/s (p50 ${results.handlers.connect.latency.p50Ms} ms)`,
  );
  add(
    "G0 empty grpc-js handler",
    results.handlers.grpc.requestsPerSecond,
    `Syncs/s (p50 ${results.handlers.grpc.latency.p50Ms} ms)`,
  );
  for (const point of results.growth.backlog)
    add(
      `see-me with ${point.queued} queued`,
      point.flow.ackedPerSecond,
      `acked packets/s (p99 ${point.flow.latency.p99Ms} ms)`,
    );
  for (const point of results.growth.subscribers) {
    add(
      `${point.subscribers} live subscribers`,
      `${point.gatewayKiBPerSubscriber}`,
      `KiB gateway RSS each (location ${point.locationKiBPerSubscriber} KiB; open ${point.openSeconds} s)`,
    );
  }
  if (results.growth.sweeper)
    add(
      `sweeper, ${results.growth.sweeper.deleted} expired`,
      results.growth.sweeper.seconds,
      `s (${results.growth.sweeper.packetsPerSecond} packets/s)`,
    );
  for (const ratio of ratios(results)) add(ratio.name, ratio.value, "");
  const widths = [0, 1, 2].map((i) => Math.max(...lines.map((line) => line[i].length), 6));
  const out = [
    row(["figure", "value", "unit"], widths),
    row(
      widths.map((w) => "-".repeat(w)),
      widths,
    ),
    ...lines.map((line) => row(line, widths)),
  ];
  out.push("", "targets:");
  for (const target of targets(results))
    out.push(`  ${target.met ? "met   " : "MISSED"}  ${target.goal}: ${target.measured}`);
  for (const entry of results.seeme.cost) {
    out.push(
      "",
      `CPU ms per acked packet at ${entry.batch} packet(s)/Sync: ${Object.entries(entry.cpuMsPerPacket)
        .map(([name, ms]) => `${name} ${ms}`)
        .join(", ")}`,
    );
    out.push(
      `  → see-me alone on ${results.machine.cpus} idle cores: about ${entry.projectedPerSecond} acked packets/s`,
    );
  }
  out.push(
    "",
    `CPU during 1-packet saturation (cores): ${Object.entries(results.seeme.cpu)
      .map(([name, cores]) => `${name} ${cores}`)
      .join(", ")}`,
  );
  return out.join("\n");
}
