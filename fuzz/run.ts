import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { registerAndSignIn } from "@seeme/testkit/accounts";
import { checkHealth } from "@seeme/testkit/health";
import { startStack, type Stack } from "../test/stack.js";
import { runFuzz, type FuzzReport } from "./fuzz.js";

/**
 * `npm run fuzz`: the whole stack in this process (real PostgreSQL, NATS,
 * gRPC services, gateway), FUZZ_REQUESTS (default 100,000) generated requests
 * across every public RPC and protocol, then the codes, RSS before/after and
 * a verdict. Exits 1 on any Internal/Unknown, dropped connection, a service
 * no longer SERVING, or RSS more than 10% above where it started.
 */
export interface FuzzRun {
  report: FuzzReport;
  rssBeforeMb: number;
  rssAfterMb: number;
  /** The JavaScript heap in use at the same moments: a leak shows here, allocator slack only in RSS. */
  heapBeforeMb: number;
  heapAfterMb: number;
  /** Memory outside the heap that JavaScript objects hold (Buffers, ArrayBuffers). */
  externalBeforeMb: number;
  externalAfterMb: number;
  serving: string[];
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** Memory after forced garbage collections (`--expose-gc`), with pauses for sockets to close. */
async function settledMemory(): Promise<{ rss: number; heapUsed: number; external: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, heapUsed, external };
}

export async function fuzzStack(
  stack: Stack,
  requests: number,
  seed: number,
  log: (line: string) => void = () => undefined,
): Promise<FuzzRun> {
  const identity = createClient(
    IdentityService,
    createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" }),
  );
  const accounts = await Promise.all([0, 1, 2].map(() => registerAndSignIn(identity)));
  const options = {
    gatewayUrl: stack.gatewayUrl,
    concurrency: 16,
    seed,
    sessionTokens: accounts.map((account) => account.sessionToken),
  };
  // Warm-up: code paths loaded, pools and caches filled, so the RSS baseline is honest.
  await runFuzz({ ...options, requests: Math.min(2_000, Math.ceil(requests / 10)), seed: seed + 1 });
  const before = await settledMemory();
  const report = await runFuzz({
    ...options,
    requests,
    onProgress: (done) => done % 10_000 === 0 && log(`  ${done} requests`),
  });
  const after = await settledMemory();
  const serving = await Promise.all(
    (["identity", "connection", "location", "gateway"] as const).map((name) =>
      checkHealth(stack.address(name)).catch(() => "DOWN"),
    ),
  );
  return {
    report,
    rssBeforeMb: mb(before.rss),
    rssAfterMb: mb(after.rss),
    heapBeforeMb: mb(before.heapUsed),
    heapAfterMb: mb(after.heapUsed),
    externalBeforeMb: mb(before.external),
    externalAfterMb: mb(after.external),
    serving,
  };
}

export function verdict(run: FuzzRun): string[] {
  const problems: string[] = [];
  if (run.report.failures > 0) problems.push(`${run.report.failures} requests answered as a server fault or dropped`);
  if (run.report.unanswered > 0) problems.push(`${run.report.unanswered} unary calls got no answer within 15 s`);
  if (run.serving.some((status) => status !== "SERVING"))
    problems.push(`services after the run: ${run.serving.join(", ")}`);
  if (run.rssAfterMb > run.rssBeforeMb * 1.1)
    problems.push(`RSS grew from ${run.rssBeforeMb} MB to ${run.rssAfterMb} MB (> 10%)`);
  return problems;
}

async function main(): Promise<void> {
  const requests = Number(process.env.FUZZ_REQUESTS ?? 100_000);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  console.log(`fuzz: ${requests} requests, seed ${seed} (FUZZ_SEED=${seed} replays it)`);
  const stack = await startStack("fuzz");
  try {
    const run = await fuzzStack(stack, requests, seed, console.log);
    const { report } = run;
    console.log(
      `\n${report.requests} requests over ${report.methods} RPCs × 4 protocols in ${(report.elapsedMs / 1000).toFixed(1)} s`,
    );
    console.log("\ncode                 count");
    for (const [code, count] of Object.entries(report.byCode).sort((a, b) => b[1] - a[1]))
      console.log(`${code.padEnd(20)} ${count}`);
    console.log("\ncase kind            count");
    for (const [kind, count] of Object.entries(report.byKind).sort((a, b) => b[1] - a[1]))
      console.log(`${kind.padEnd(20)} ${count}`);
    console.log(`\nslowest answer (ms) by code and protocol: ${JSON.stringify(report.slowest)}`);
    console.log(
      `\nRSS before ${run.rssBeforeMb} MB, after ${run.rssAfterMb} MB; heap in use before ${run.heapBeforeMb} MB, after ${run.heapAfterMb} MB; external (Buffers) before ${run.externalBeforeMb} MB, after ${run.externalAfterMb} MB; services: ${run.serving.join(", ")}`,
    );
    for (const example of report.examples)
      console.log(`  FAIL ${example.method} ${example.protocol} ${example.kind}: ${example.code} ${example.message}`);
    const problems = verdict(run);
    console.log(
      problems.length
        ? `\nFAILED: ${problems.join("; ")}`
        : "\nPASSED: 0 Internal/Unknown, 0 dropped, all SERVING, RSS within 10%",
    );
    process.exitCode = problems.length ? 1 : 0;
  } finally {
    await stack.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
