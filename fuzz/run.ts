import { mkdtempSync, readdirSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { allocatorName } from "@seeme/runtime/allocator";
import { registerAndSignIn } from "@seeme/testkit/accounts";
import { checkHealth } from "@seeme/testkit/health";
import { freePort } from "@seeme/testkit/ports";
import { memoryAfterGc, type SettledMemory } from "../bench/lib/inspector.js";
import { startProcessStack } from "../bench/lib/stack.js";
import { runFuzz, type FuzzReport } from "./fuzz.js";

/**
 * `npm run fuzz`: the four services as separate Node processes (as deployed;
 * real PostgreSQL and NATS), FUZZ_REQUESTS (default 100,000) generated requests
 * across every public RPC and protocol from this process, then a second pass
 * of as many (FUZZ_PASSES=1 skips it), the codes, each service's memory and a
 * verdict. Exits 1 on any Internal/Unknown, dropped connection, unanswered
 * unary call, a service no longer SERVING, or a service whose RSS after full
 * garbage collections ends a pass more than 10% above its warmed-up baseline
 * (docs/reliability.md).
 */
export interface ProcessMemoryRow {
  name: string;
  /** false for the load generator (this process): its memory says nothing about the server. */
  judged: boolean;
  /** After the warm-up, after pass 1, after pass 2 (if run). */
  samples: SettledMemory[];
}

export interface FuzzRun {
  /** One report per pass. */
  passes: FuzzReport[];
  /** The first pass (the ≥ 100k requests judged on codes like every pass). */
  report: FuzzReport;
  memory: ProcessMemoryRow[];
  serving: string[];
}

export interface FuzzStackOptions {
  requests: number;
  seed: number;
  /** Passes of `requests` each after the warm-up (default 1). */
  passes?: number;
  /** Memory of every process that matters, measured after the warm-up and after each pass. */
  measure?: () => Promise<Array<{ name: string; judged: boolean; memory: SettledMemory }>>;
  log?: (line: string) => void;
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** This process's memory after forced garbage collections (with `--expose-gc`), with pauses for sockets to close. */
async function ownMemory(): Promise<SettledMemory> {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const raw = { rss, heapTotal, heapUsed, external, arrayBuffers };
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const settled = process.memoryUsage();
  return {
    rss: settled.rss,
    heapTotal: settled.heapTotal,
    heapUsed: settled.heapUsed,
    external: settled.external,
    arrayBuffers: settled.arrayBuffers,
    raw,
  };
}

export async function fuzzStack(
  stack: { gatewayUrl: string; address(name: "identity" | "connection" | "location" | "gateway"): string },
  options: FuzzStackOptions,
): Promise<FuzzRun> {
  const { requests, seed, log = () => undefined } = options;
  // In one process (the suite's short run), services and load generator share one figure: not judged.
  const measure =
    options.measure ?? (async () => [{ name: "services + fuzz client", judged: false, memory: await ownMemory() }]);
  const identity = createClient(
    IdentityService,
    createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" }),
  );
  const accounts = await Promise.all([0, 1, 2].map(() => registerAndSignIn(identity)));
  const fuzzOptions = {
    gatewayUrl: stack.gatewayUrl,
    concurrency: 16,
    seed,
    sessionTokens: accounts.map((account) => account.sessionToken),
  };
  // Warm-up over every RPC × protocol (64 pairs, each ≥ 30 times): code compiled, pools, caches and
  // allocator arenas filled, so the baseline is the steady state, not a cold start.
  await runFuzz({ ...fuzzOptions, requests: Math.min(2_000, Math.ceil(requests / 10)), seed: seed + 1 });
  const rows: ProcessMemoryRow[] = (await measure()).map(({ name, judged, memory }) => ({
    name,
    judged,
    samples: [memory],
  }));
  const passes: FuzzReport[] = [];
  for (let pass = 0; pass < (options.passes ?? 1); pass++) {
    passes.push(
      await runFuzz({
        ...fuzzOptions,
        requests,
        // Pass 2 sends other cases: the same work, not a replay the caches could remember.
        seed: seed + pass * 7_919,
        onProgress: (done) => done % 10_000 === 0 && log(`  pass ${pass + 1}: ${done} requests`),
      }),
    );
    const measured = await measure();
    for (const row of rows) row.samples.push(measured.find((entry) => entry.name === row.name)!.memory);
  }
  const serving = await Promise.all(
    (["identity", "connection", "location", "gateway"] as const).map((name) =>
      checkHealth(stack.address(name)).catch(() => "DOWN"),
    ),
  );
  return { passes, report: passes[0], memory: rows, serving };
}

/**
 * A judged process's RSS (after GC) may end no pass more than this much above
 * where it was after the warm-up: against the baseline, not the previous pass,
 * so a slow leak cannot pass by growing a little less than this every pass.
 */
const RSS_GROWTH_LIMIT = 0.1;

export function verdict(run: FuzzRun): string[] {
  const problems: string[] = [];
  run.passes.forEach((report, pass) => {
    if (report.failures > 0)
      problems.push(`pass ${pass + 1}: ${report.failures} requests answered as a server fault or dropped`);
    if (report.unanswered > 0)
      problems.push(`pass ${pass + 1}: ${report.unanswered} unary calls got no answer within 15 s`);
  });
  if (run.serving.some((status) => status !== "SERVING"))
    problems.push(`services after the run: ${run.serving.join(", ")}`);
  for (const row of run.memory.filter((entry) => entry.judged))
    for (let pass = 1; pass < row.samples.length; pass++) {
      const baseline = row.samples[0].rss;
      const after = row.samples[pass].rss;
      if (after > baseline * (1 + RSS_GROWTH_LIMIT))
        problems.push(
          `${row.name}: RSS after pass ${pass} ${mb(after)} MB, ${mb(baseline)} MB after the warm-up (> +10%)`,
        );
    }
  return problems;
}

/** One line per process and sample: RSS, heap and external after GC, and RSS before it (raw). */
export function memoryTable(run: FuzzRun): string[] {
  const lines = [
    "process          judged  sample         RSS MB  growth  (raw)    heap MB (committed)  external MB  arrayBuffers MB",
  ];
  for (const row of run.memory)
    row.samples.forEach((sample, index) => {
      const label = index === 0 ? "after warm-up" : `after pass ${index}`;
      const change = ((sample.rss - row.samples[0].rss) / row.samples[0].rss) * 100;
      const growth = index === 0 ? "" : `${change >= 0 ? "+" : ""}${change.toFixed(1)}%`;
      lines.push(
        `${row.name.padEnd(16)} ${(row.judged ? "yes" : "no").padEnd(7)} ${label.padEnd(14)} ${String(mb(sample.rss)).padEnd(7)} ${growth.padEnd(7)} (${mb(sample.raw.rss)})`.padEnd(
          66,
        ) +
          ` ${`${mb(sample.heapUsed)} (${mb(sample.heapTotal)})`.padEnd(20)} ${String(mb(sample.external)).padEnd(12)} ${mb(sample.arrayBuffers)}`,
      );
    });
  return lines;
}

function printReport(report: FuzzReport, title: string): void {
  console.log(
    `\n${title}: ${report.requests} requests over ${report.methods} RPCs × 4 protocols in ${(report.elapsedMs / 1000).toFixed(1)} s`,
  );
  console.log("code                 count");
  for (const [code, count] of Object.entries(report.byCode).sort((a, b) => b[1] - a[1]))
    console.log(`${code.padEnd(20)} ${count}`);
  console.log("case kind            count");
  for (const [kind, count] of Object.entries(report.byKind).sort((a, b) => b[1] - a[1]))
    console.log(`${kind.padEnd(20)} ${count}`);
  console.log(`slowest answer (ms) by code and protocol: ${JSON.stringify(report.slowest)}`);
  for (const example of report.examples)
    console.log(`  FAIL ${example.method} ${example.protocol} ${example.kind}: ${example.code} ${example.message}`);
}

async function main(): Promise<void> {
  const requests = Number(process.env.FUZZ_REQUESTS ?? 100_000);
  const passes = Number(process.env.FUZZ_PASSES ?? 2);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  console.log(
    `fuzz: ${passes} × ${requests} requests, seed ${seed} (FUZZ_SEED=${seed} replays it); services as separate processes`,
  );
  const logDir = mkdtempSync(join(tmpdir(), "seeme-fuzz-"));
  // SIGUSR1 opens a service's inspector on this port, one service at a time, to force a GC and read its memory.
  const inspectPort = await freePort();
  const stack = await startProcessStack("fuzz", {
    logDir,
    nodeFlags: [`--inspect-port=127.0.0.1:${inspectPort}`],
    raiseLimits: false,
  });
  console.log(
    `services' allocator: ${allocatorName(stack.env)} (SEEME_ALLOCATOR=glibc runs them on glibc malloc; docs/reliability.md)`,
  );
  const services = ["identity", "connection", "location", "gateway"] as const;
  // The client's kept-alive connections (and what the gateway holds per connection) stay until the
  // gateway's idle timer (IDLE_TIMEOUT, 60 s) closes them: measured before that, a service's figure
  // includes a client that is still connected. Each measurement waits for it, as a server would.
  const settleMs = Number(process.env.FUZZ_SETTLE_SECONDS ?? 65) * 1000;
  const measure = async () => {
    const openBefore = openSockets(stack.pid("gateway"));
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    console.log(
      `  measuring after ${settleMs / 1000} s: gateway sockets ${openBefore} → ${openSockets(stack.pid("gateway"))}`,
    );
    const rows = [];
    for (const name of services)
      rows.push({ name, judged: true, memory: await memoryAfterGc(stack.pid(name), inspectPort) });
    rows.push({ name: "fuzz client", judged: false, memory: await ownMemory() });
    return rows;
  };
  try {
    const run = await fuzzStack(stack, { requests, seed, passes, measure, log: console.log });
    run.passes.forEach((report, pass) => printReport(report, `pass ${pass + 1}`));
    console.log(`\nservices: ${run.serving.join(", ")}; service logs in ${logDir}`);
    console.log("memory per process after full GCs (raw = just before the GC); growth is against after warm-up:");
    for (const line of memoryTable(run)) console.log(`  ${line}`);
    const problems = verdict(run);
    console.log(
      problems.length
        ? `\nFAILED: ${problems.join("; ")}`
        : "\nPASSED: 0 Internal/Unknown, 0 dropped, 0 unanswered, all SERVING, every service's RSS within 10% of its warmed-up baseline after each pass",
    );
    process.exitCode = problems.length ? 1 : 0;
  } finally {
    await stack.stop();
  }
}

/** Open sockets of a process (Linux /proc): connections the server still holds. */
function openSockets(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
    } catch {
      return false; // closed in between
    }
  }).length;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
