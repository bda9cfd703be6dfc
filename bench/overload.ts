/**
 * `npm run overload`: admission control under 3× saturation (issue #16, item 5).
 *
 * The four services run as their own processes (bench/lib/stack.ts) with the
 * default admission limits. Senders' Syncs of one packet each go through the
 * gateway over gRPC (Connect-ES clients, one HTTP/2 connection per device):
 *
 * 1. saturation: a closed loop (OVERLOAD_CONCURRENCY workers, below the
 *    admission bound so nothing is refused) measures the calls/s the stack
 *    completes: S;
 * 2. overload: an open loop offers OVERLOAD_FACTOR × S calls/s (default 3) for
 *    OVERLOAD_SECONDS, each call fired at its scheduled time whether or not
 *    earlier ones have answered (a closed loop would slow down with the server
 *    and hide the queue);
 * 3. accounting: every recipient drains its inbox; each packet whose Sync was
 *    answered OK must be delivered.
 *
 * Prints saturation, admitted p50/p99 (from the scheduled time, so client-side
 * lag counts too), refusals by code (and how many carried retry-after-ms), and
 * lost packets. Exits 1 when admitted p99 ≥ 1 s, a refusal is not
 * ResourceExhausted, or a packet is lost.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { registerAndSignIn, type TestAccount } from "@seeme/testkit/accounts";
import { LocationService } from "@seeme/contracts/location";
import { pairAccounts } from "@seeme/testkit/pairing";
import { RETRY_AFTER_HEADER } from "@seeme/runtime/admission";
import type { Device, DevicePair } from "./lib/devices.js";
import { ROOT, serviceEntry, startProcessStack } from "./lib/stack.js";
import { waitFor } from "@seeme/testkit/wait";
import { blobFor, closedLoop, Latencies, round, sleep } from "./lib/stats.js";
import { freePort } from "@seeme/testkit/ports";

const PAIRS = Number(process.env.OVERLOAD_PAIRS ?? 60);
const CONCURRENCY = Number(process.env.OVERLOAD_CONCURRENCY ?? 16);
const SATURATION_SECONDS = Number(process.env.OVERLOAD_SATURATION_SECONDS ?? 15);
const SECONDS = Number(process.env.OVERLOAD_SECONDS ?? 20);
const FACTOR = Number(process.env.OVERLOAD_FACTOR ?? 3);
const CALL_TIMEOUT_MS = 10_000;
const CONNECTIONS = Number(process.env.OVERLOAD_CONNECTIONS ?? 8);
const PAGE = 500;

const log = (line: string) => process.stdout.write(`${line}\n`);

/** One packet from the pair's sender; resolves with the acknowledged key, or throws the call's error. */
async function sendOne(pair: DevicePair): Promise<string> {
  const id = pair.nextPacketId++;
  await pair.sender.location.sync(
    { data: [{ pairId: pair.to, packetId: id, blob: blobFor(id) }], skipIncoming: true },
    { ...pair.sender.call, timeoutMs: CALL_TIMEOUT_MS },
  );
  return `${pair.to}/${id}`;
}

/** Everything waiting for the pair's recipient, acknowledged page by page. */
async function drain(pair: DevicePair, delivered: Set<string>): Promise<void> {
  let ack: number[] = [];
  for (;;) {
    const request = { lastPacketsReceived: ack.length ? [{ pairId: pair.to, packetIds: ack }] : [], pageSize: PAGE };
    const response = await pair.recipient.location
      .sync(request, { ...pair.recipient.call, timeoutMs: 30_000 })
      .catch(async (error: unknown) => {
        // Refused or a dependency hiccup (the shared machine's PostgreSQL): the same request again.
        const code = ConnectError.from(error).code;
        if (code !== Code.ResourceExhausted && code !== Code.Unavailable) throw error;
        await sleep(200);
        return undefined;
      });
    if (!response) continue;
    ack = [];
    for (const packet of response.data) {
      if (packet.pairId !== pair.to) continue;
      delivered.add(`${pair.to}/${packet.packetId}`);
      ack.push(packet.packetId);
    }
    if (!response.hasMore && ack.length === 0) return;
  }
}

/** Set-up calls are retried when admission refuses them, as a client told retry-after-ms would. */
const retryRefused: Interceptor = (next) => async (request) => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await next(request);
    } catch (error) {
      const failure = ConnectError.from(error);
      if (failure.code !== Code.ResourceExhausted || attempt >= 100) throw error;
      await sleep(Number(failure.metadata.get(RETRY_AFTER_HEADER) ?? 100));
    }
  }
};

/** Signs up 2n accounts and pairs them through the gateway, a few at a time. */
async function createPairs(gatewayUrl: string, n: number): Promise<DevicePair[]> {
  const transport = createGrpcTransport({ baseUrl: gatewayUrl, interceptors: [retryRefused] });
  const identity = createClient(IdentityService, transport);
  const connection = createClient(ConnectionService, transport);
  // The load generator shares this machine with the services: a few HTTP/2
  // connections for all devices keep its own CPU (and so its own lag, which
  // the latencies include) small, instead of one connection per device.
  const shared = Array.from({ length: CONNECTIONS }, () => createGrpcTransport({ baseUrl: gatewayUrl }));
  const device = (account: TestAccount, i: number): Device => ({
    account,
    location: createClient(LocationService, shared[i % CONNECTIONS]),
    connection: createClient(ConnectionService, shared[i % CONNECTIONS]),
    call: { headers: { authorization: `Bearer ${account.sessionToken}` } },
    close: () => undefined,
  });
  const pairs: DevicePair[] = [];
  for (let i = 0; i < n; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, n - i) }, async (_, k) => {
        const [sender, recipient] = [await registerAndSignIn(identity), await registerAndSignIn(identity)];
        // The recipient initiates, so `initiatorPairId` is where the sender sends.
        const { initiatorPairId } = await pairAccounts(connection, recipient, sender);
        return {
          sender: device(sender, 2 * (i + k)),
          recipient: device(recipient, 2 * (i + k) + 1),
          to: initiatorPairId,
          nextPacketId: 1,
        };
      }),
    );
    pairs.push(...batch);
  }
  return pairs;
}

/** The gateway's Sync duration histogram (admitted calls only: refusals never reach its interceptor). */
async function syncHistogram(metricsUrl: string): Promise<Map<number, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const buckets = new Map<number, number>();
  const pattern = /^seeme_rpc_duration_seconds_bucket\{([^}]*)\} (\d+)/gm;
  for (const [, labels, count] of text.matchAll(pattern)) {
    if (!labels.includes('method="Sync"')) continue;
    const le = /le="([^"]+)"/.exec(labels)?.[1] ?? "+Inf";
    buckets.set(le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), Number(count));
  }
  return buckets;
}

/** The bucket bound under which `p` % of the calls between two scrapes finished. */
function histogramPercentile(before: Map<number, number>, after: Map<number, number>, p: number): string {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  for (const bound of bounds) {
    const count = (after.get(bound) ?? 0) - (before.get(bound) ?? 0);
    if (count >= (p / 100) * total) return bound === Number.POSITIVE_INFINITY ? "> 2.5 s" : `≤ ${bound * 1000} ms`;
  }
  return "n/a";
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), "seeme-overload-"));
  log(`starting the stack as processes (service logs in ${logDir})`);
  const stack = await startProcessStack("overload", { logDir });
  // A gateway of our own in front of the stack's services, with its metrics on
  // (the stack's processes share METRICS_PORT=0, which turns them off).
  const gatewayPort = await freePort();
  const metricsPort = await freePort();
  const gateway = spawn(process.execPath, [serviceEntry("gateway")], {
    cwd: ROOT,
    env: { ...process.env, ...stack.env, GATEWAY_PORT: String(gatewayPort), METRICS_PORT: String(metricsPort) },
    stdio: "ignore",
  });
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const up = await waitFor(async () => (await fetch(`${gatewayUrl}/healthz`)).ok, 60_000, 200);
  if (!up) throw new Error("the overload gateway did not become healthy");
  try {
    const pairs = await createPairs(gatewayUrl, PAIRS);
    log(`${PAIRS} device pairs connected`);
    const acked = new Set<string>();

    // 1. Saturation, closed loop.
    let turn = 0;
    let saturationRefused = 0;
    const saturation = await closedLoop(
      { concurrency: CONCURRENCY, durationMs: SATURATION_SECONDS * 1000, warmupMs: 3000 },
      async () => {
        try {
          acked.add(await sendOne(pairs[turn++ % pairs.length]));
          return 1;
        } catch (error) {
          // Admission may refuse even here (its limit adapts to latency): back off as told.
          // Unavailable: a dependency refused (on the shared test machine, PostgreSQL's
          // "too many clients" when other suites hold its connections).
          const failure = ConnectError.from(error);
          if (failure.code !== Code.ResourceExhausted && failure.code !== Code.Unavailable) throw error;
          saturationRefused++;
          await sleep(Number(failure.metadata.get(RETRY_AFTER_HEADER) ?? 100));
          return 0;
        }
      },
    );
    log(
      `saturation (closed loop, ${CONCURRENCY} in flight): ${saturation.perSecond} calls/s, ` +
        `p50 ${saturation.latency.p50Ms} ms, p99 ${saturation.latency.p99Ms} ms, ${saturationRefused} refused`,
    );

    // 2. Open loop at FACTOR × saturation.
    const rate = Math.round(saturation.perSecond * FACTOR);
    log(`overload: offering ${rate} calls/s (${FACTOR}× saturation) for ${SECONDS} s, open loop`);
    const gatewayBefore = await syncHistogram(metricsUrl);
    const admitted = new Latencies();
    const refused: Record<string, number> = {};
    // The first few messages of each code other than ResourceExhausted, to say what went wrong.
    const samples: Record<string, string[]> = {};
    let withHint = 0;
    let offered = 0;
    const inFlight = new Set<Promise<void>>();
    const start = performance.now();
    const until = start + SECONDS * 1000;
    while (performance.now() < until) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      for (; offered < due; offered++) {
        const scheduled = start + (offered * 1000) / rate;
        const pair = pairs[offered % pairs.length];
        const call = sendOne(pair).then(
          (key) => {
            acked.add(key);
            admitted.add(performance.now() - scheduled);
          },
          (error: unknown) => {
            const failure = ConnectError.from(error);
            const code = Code[failure.code];
            refused[code] = (refused[code] ?? 0) + 1;
            const seen = samples[code] ?? [];
            if (failure.code !== Code.ResourceExhausted && seen.length < 5)
              samples[code] = [...seen, failure.rawMessage];
            if (failure.metadata.get(RETRY_AFTER_HEADER) !== null) withHint++;
          },
        );
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
      }
      await sleep(1);
    }
    await Promise.all(inFlight);
    const elapsed = (performance.now() - start) / 1000;
    const gatewayAfter = await syncHistogram(metricsUrl);
    const admissionState = (await (await fetch(metricsUrl)).text())
      .split("\n")
      .filter((line) => line.startsWith("seeme_admission_"))
      .join(", ");

    // 3. Every acknowledged packet delivered?
    const delivered = new Set<string>();
    for (let i = 0; i < pairs.length; i += 10)
      await Promise.all(pairs.slice(i, i + 10).map((p) => drain(p, delivered)));
    const lost = [...acked].filter((key) => !delivered.has(key)).length;

    const summary = admitted.summary();
    const refusedTotal = Object.values(refused).reduce((a, b) => a + b, 0);
    log("");
    log(`offered            ${offered} calls in ${round(elapsed, 1)} s (${round(offered / elapsed, 0)}/s)`);
    log(`admitted (OK)      ${summary.samples} (${round(summary.samples / elapsed, 0)}/s)`);
    log(`admitted p50       ${summary.p50Ms} ms`);
    log(`admitted p99       ${summary.p99Ms} ms`);
    log(`admitted max       ${summary.maxMs} ms`);
    log(
      `  inside the gateway (its Sync histogram, admitted only): p50 ${histogramPercentile(gatewayBefore, gatewayAfter, 50)}, ` +
        `p99 ${histogramPercentile(gatewayBefore, gatewayAfter, 99)}`,
    );
    log(`  gateway admission at the end: ${admissionState}`);
    log(`refused            ${refusedTotal}: ${JSON.stringify(refused)}; with ${RETRY_AFTER_HEADER}: ${withHint}`);
    for (const [code, messages] of Object.entries(samples)) log(`  ${code}: ${JSON.stringify(messages)}`);
    log(`acknowledged       ${acked.size} packets (saturation + overload phases)`);
    log(`delivered          ${[...acked].filter((key) => delivered.has(key)).length}`);
    log(`lost               ${lost}`);

    const problems: string[] = [];
    if (summary.p99Ms >= 1000) problems.push(`admitted p99 ${summary.p99Ms} ms ≥ 1 s`);
    // Unavailable is retryable too but means a dependency failed, not that the process shed load.
    const others = Object.keys(refused).filter((code) => code !== "ResourceExhausted");
    if (others.length) problems.push(`refusals other than ResourceExhausted: ${others.join(", ")}`);
    if (refusedTotal === 0) problems.push("nothing refused: the load did not exceed the bound");
    if (lost > 0) problems.push(`${lost} acknowledged packets lost`);
    log(problems.length ? `FAIL: ${problems.join("; ")}` : "PASS");
    process.exitCode = problems.length ? 1 : 0;
  } finally {
    gateway.kill("SIGTERM");
    await once(gateway, "exit");
    await stack.stop();
  }
}

await main();
// The shared HTTP/2 connections would keep the process alive.
process.exit(process.exitCode ?? 0);
