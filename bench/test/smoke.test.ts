import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createProgress } from "../lib/progress.js";
import { formatTable, ratios } from "../lib/report.js";
import { renderChart } from "../lib/svg.js";
import { runBenchmarks, SMOKE, type BenchResults } from "../suite.js";

/**
 * Every scenario of `npm run bench`, tiny (a few hundred packets each, the
 * stack in-process): the harness works and reports what it should. The
 * figures themselves are only meaningful from a full run.
 */
let results: BenchResults;
const outDir = `${tmpdir()}/seeme-bench-smoke-${process.pid}`;

beforeAll(async () => {
  results = await runBenchmarks(createProgress(true), SMOKE, outDir);
}, 60_000);

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

test("see-me end to end: packets were sent, received over Subscribe and acknowledged, with latencies", () => {
  for (const flow of [...results.seeme.saturation, ...results.seeme.openLoop]) {
    expect(flow.sentPerSecond).toBeGreaterThan(0);
    expect(flow.latency.samples).toBeGreaterThan(0);
    expect(flow.latency.p99Ms).toBeGreaterThanOrEqual(flow.latency.p50Ms);
    expect(flow.latency.p50Ms).toBeGreaterThan(0);
    expect(flow.errors).toEqual({});
  }
  expect(results.seeme.saturation.map((flow) => flow.batch)).toEqual([1, 10]);
  expect(results.seeme.openLoop.map((flow) => flow.fraction)).toEqual([0.5, 0.8]);
  expect(results.seeme.saturation.some((flow) => flow.ackedPerSecond > 0)).toBe(true);
  expect(results.seeme.cost.map((entry) => entry.batch)).toEqual([1, 10]);
  // PostgreSQL's CPU is metered from this stack's own backends (found by application_name).
  expect(results.seeme.cost.reduce((sum, entry) => sum + entry.cpuMsPerPacket.postgres, 0)).toBeGreaterThan(0);
});

test("baselines: PostgreSQL raw, as the relay runs it, and Prisma at batch 1, 10, 100; NATS core and JetStream; C0 and G0", () => {
  for (const points of [results.postgres.raw, results.postgres.relay, results.postgres.prisma]) {
    expect(points.map((point) => point.batch)).toEqual([1, 10, 100]);
    for (const point of points) expect(point.rowsPerSecond).toBeGreaterThan(0);
    expect(points.reduce((sum, point) => sum + point.clientCpuMsPerRow + point.postgresCpuMsPerRow, 0)).toBeGreaterThan(
      0,
    );
  }
  expect(results.nats.core.messagesPerSecond).toBeGreaterThan(0);
  expect(results.nats.jetstream.messagesPerSecond).toBeGreaterThan(0);
  expect(results.handlers.connect.requestsPerSecond).toBeGreaterThan(0);
  expect(results.handlers.grpc.requestsPerSecond).toBeGreaterThan(0);
});

test("growth: throughput with packets queued, live subscribers, and the sweeper deleting every expired packet", () => {
  expect(results.growth.backlog.map((point) => point.queued)).toEqual(SMOKE.backlog);
  for (const point of results.growth.backlog) expect(point.flow.sentPerSecond).toBeGreaterThan(0);
  expect(results.growth.sweeper).toMatchObject({ expired: SMOKE.backlog.at(-1), deleted: SMOKE.backlog.at(-1) });
  expect(results.growth.sweeper!.seconds).toBeGreaterThan(0);
  expect(results.growth.subscribers.map((point) => point.subscribers)).toEqual(SMOKE.subscribers);
  for (const point of results.growth.subscribers) {
    expect(point.openSeconds).toBeGreaterThan(0);
    expect(Number.isFinite(point.gatewayKiBPerSubscriber)).toBe(true);
  }
});

test("the report prints every figure and ratio, and the chart is an SVG", () => {
  const table = formatTable(results);
  for (const name of [
    "see-me saturation, 1 packet/Sync",
    "CPU ms per acked packet at 10 packet(s)/Sync: total",
    "P_raw batch 10",
    "P_relay batch 1",
    "P_prisma batch 100",
    "NATS JetStream",
    "C0 empty Connect",
    "G0 empty grpc-js",
    "sweeper",
    "targets:",
  ]) {
    expect(table).toContain(name);
  }
  expect(ratios(results).map((ratio) => ratio.name)).toEqual([
    "see-me ÷ P_raw (batch 1)",
    "see-me ÷ P_raw (batch 10)",
    "see-me ÷ C0",
    "P_relay ÷ P_raw (batch 1)",
    "P_relay ÷ P_raw (batch 10)",
    "P_relay ÷ P_raw (batch 100)",
    "P_prisma ÷ P_raw (batch 1)",
    "P_prisma ÷ P_raw (batch 10)",
    "P_prisma ÷ P_raw (batch 100)",
  ]);
  for (const ratio of ratios(results)) expect(Number.isFinite(ratio.value)).toBe(true);
  const svg = renderChart(results);
  expect(svg.startsWith("<svg")).toBe(true);
  expect(svg).toContain("see-me send→receive latency");
});
