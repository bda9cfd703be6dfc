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
const r3 = (value: number) => Math.round(value * 1000) / 1000;
const div = (a: number, b: number) => (b > 0 ? r2(a / b) : 0);

export function ratios(results: BenchResults): Ratio[] {
  const [batch1, batch10] = results.seeme.saturation;
  const raw = (batch: number) => results.postgres.raw.find((point) => point.batch === batch)?.rowsPerSecond ?? 0;
  const rate = (points: typeof results.postgres.raw, batch: number) =>
    points.find((point) => point.batch === batch)?.rowsPerSecond ?? 0;
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
      name: `P_relay ÷ P_raw (batch ${batch})`,
      value: div(rate(results.postgres.relay, batch), raw(batch)),
      of: "relay Sync statement: as the relay runs it (pg directly) ÷ a plain node-postgres pool, packets/s",
    })),
    ...[1, 10, 100].map((batch) => ({
      name: `P_prisma ÷ P_raw (batch ${batch})`,
      value: div(rate(results.postgres.prisma, batch), raw(batch)),
      of: "relay Sync statement: through Prisma (until 2026-12-01) ÷ a plain node-postgres pool, packets/s",
    })),
  ];
}

/** total ÷ goal for "at most" targets: ≤ 1 is met. */
const over = (value: number, goal: number) => (goal > 0 ? r2(value / goal) : 0);

function targets(results: BenchResults): Target[] {
  const cost = (batch: number) => results.seeme.cost.find((entry) => entry.batch === batch);
  const half = results.seeme.openLoop.find((flow) => flow.fraction === 0.5);
  // The relay's statement: the chosen client's CPU per packet (client + its backends) ÷ raw pg's, worst batch size.
  const statementCost = Math.max(
    ...[1, 10, 100].map((batch) => {
      const raw = results.postgres.raw.find((point) => point.batch === batch);
      const chosen = results.postgres.relay.find((point) => point.batch === batch);
      if (!raw || !chosen) return 0;
      return div(
        chosen.clientCpuMsPerRow + chosen.postgresCpuMsPerRow,
        raw.clientCpuMsPerRow + raw.postgresCpuMsPerRow,
      );
    }),
  );
  const backlog = results.growth.backlog;
  const costs = backlog.map((point) => point.totalCpuMsPerPacket);
  const flat = costs.length > 1 ? div(Math.max(...costs), Math.min(...costs)) : 1;
  const perPacket = (batch: number, goal: number, rate: number): Target => {
    const entry = cost(batch);
    const total = entry?.totalCpuMsPerPacket ?? Infinity;
    // What the relay's statement alone costs on this machine (client + PostgreSQL): no design that runs it
    // once to send and once to acknowledge a packet can go below it.
    const raw = results.postgres.raw.find((point) => point.batch === batch);
    const floor = raw ? r3(raw.clientCpuMsPerRow + raw.postgresCpuMsPerRow) : "n/a";
    return {
      goal: `≤ ${goal} ms total CPU per acked packet at ${batch} per Sync (≈ ${rate.toLocaleString("en")}/s on 2 cores)`,
      measured: `${total} ms (${over(total, goal)}× the goal; idle subtracted ${entry?.marginalCpuMsPerPacket ?? "n/a"} ms, ${over(entry?.marginalCpuMsPerPacket ?? 0, goal)}×; projected ${entry?.projectedPerSecond ?? 0}/s; load ${entry?.load ?? "n/a"}; the Sync statement alone, P_raw batch ${batch}: ${floor} ms)`,
      met: total <= goal,
    };
  };
  return [
    perPacket(10, 0.35, 5000),
    perPacket(1, 1.2, 1500),
    {
      goal: "p99 send→receive ≤ 25 ms at 50% of the 10-per-Sync saturation rate",
      measured: `${half?.latency.p99Ms ?? "n/a"} ms at ${half?.offeredPerSecond ?? "n/a"}/s (${over(half?.latency.p99Ms ?? 0, 25)}× the goal; load ${half?.load ?? "n/a"})`,
      met: (half?.latency.p99Ms ?? Infinity) <= 25,
    },
    {
      goal: "relay Sync statement via the chosen client (pg directly) ≤ 1.2× raw pg running the same statement (CPU per packet, client + PostgreSQL)",
      measured: `up to ${statementCost}× (worst batch size)`,
      met: statementCost <= 1.2,
    },
    {
      goal: "flat cost from the smallest to the largest backlog (highest ÷ lowest CPU per packet ≤ 1.25)",
      measured: `${flat}× (${backlog.map((point) => `${point.queued}: ${point.totalCpuMsPerPacket} ms`).join(", ")})`,
      met: flat <= 1.25,
    },
  ];
}

function row(cells: Array<string | number>, widths: number[]): string {
  return cells
    .map((cell, i) => String(cell).padEnd(widths[i]))
    .join("  ")
    .trimEnd();
}

/** Every figure, the ratios and the targets as a plain-text table: CPU per packet first, throughput second. */
export function formatTable(results: BenchResults): string {
  const out: string[] = [
    `machine: ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}; load average at start ${results.machine.loadAverage.join(" / ")}; NATS: ${results.natsServer === "own" ? "the bench's own nats-server" : "the machine's (CPU not counted)"}`,
    "",
  ];
  for (const entry of results.seeme.cost) {
    out.push(
      `CPU ms per acked packet at ${entry.batch} packet(s)/Sync: total ${entry.totalCpuMsPerPacket} (${entry.marginalCpuMsPerPacket} with the idle stack's CPU subtracted) = ${Object.entries(
        entry.cpuMsPerPacket,
      )
        .map(([name, ms]) => `${name} ${ms}`)
        .join(" + ")}; load generator ${entry.loadGeneratorCpuMsPerPacket} (not in the total); load ${entry.load}`,
    );
    out.push(
      `  → see-me alone on ${results.machine.cpus} idle cores: about ${entry.projectedPerSecond} acked packets/s`,
    );
  }
  out.push("");
  const lines: Array<[string, string, string]> = [];
  const add = (figure: string, value: string | number, unit: string) => lines.push([figure, String(value), unit]);
  const [batch1, batch10] = results.seeme.saturation;
  add(
    "see-me saturation, 1 packet/Sync",
    batch1.ackedPerSecond,
    `acked packets/s (p50 ${batch1.latency.p50Ms} ms, p99 ${batch1.latency.p99Ms} ms; load ${batch1.load})`,
  );
  add(
    "see-me saturation, 10 packets/Sync",
    batch10.ackedPerSecond,
    `acked packets/s (p50 ${batch10.latency.p50Ms} ms, p99 ${batch10.latency.p99Ms} ms; load ${batch10.load})`,
  );
  for (const flow of results.seeme.openLoop) {
    add(
      `see-me open loop ${flow.fraction * 100}% of 10/Sync (${flow.offeredPerSecond}/s)`,
      `${flow.latency.p50Ms} / ${flow.latency.p99Ms}`,
      `ms send→receive p50 / p99 (${flow.ackedPerSecond} acked/s; load ${flow.load})`,
    );
  }
  for (const [name, points] of [
    ["P_raw", results.postgres.raw],
    ["P_relay", results.postgres.relay],
    ["P_prisma", results.postgres.prisma],
    ["P_group", results.postgres.grouped],
  ] as const)
    for (const point of points)
      add(
        `${name} batch ${point.batch}`,
        point.rowsPerSecond,
        `packets/s, relay Sync statement send+ack (CPU ms/packet: client ${point.clientCpuMsPerRow}, postgres ${point.postgresCpuMsPerRow})`,
      );
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
      point.totalCpuMsPerPacket,
      `CPU ms per acked packet (${point.flow.ackedPerSecond} acked packets/s, p99 ${point.flow.latency.p99Ms} ms; load ${point.load})`,
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
  out.push(
    row(["figure", "value", "unit"], widths),
    row(
      widths.map((w) => "-".repeat(w)),
      widths,
    ),
    ...lines.map((line) => row(line, widths)),
  );
  out.push("", "targets:");
  for (const target of targets(results))
    out.push(`  ${target.met ? "met   " : "MISSED"}  ${target.goal}: ${target.measured}`);
  out.push(
    "",
    `CPU during 1-packet saturation (cores): ${Object.entries(results.seeme.cpu)
      .map(([name, cores]) => `${name} ${cores}`)
      .join(", ")}`,
  );
  return out.join("\n");
}
