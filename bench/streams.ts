import { once } from "node:events";
import { mkdirSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { loadavg } from "node:os";
import { rssBytes } from "./lib/cpu.js";
import { startOwnNats } from "./lib/nats-server.js";
import { memoryAfterGc, openInspector } from "./lib/inspector.js";
import { createDevices, deviceFor, type Device, type DeviceProtocol } from "./lib/devices.js";
import { ROOT, startProcessStack } from "./lib/stack.js";
import { round, sleep } from "./lib/stats.js";
import { startEmptyServer } from "./scenarios/handlers.js";
import { startTcpProxy } from "@seeme/testkit/tcp-proxy";
import { pgStatements } from "@seeme/testkit/wire-counters";

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const STREAMS = arg("streams", 10_000);
const ACCOUNTS = arg("accounts", 100);
const IDLE_SECONDS = arg("idle", 60);
// 1: every device on its own HTTP/2 connection (phones); more: streams multiplexed on shared connections.
const PER_CONNECTION = arg("streams-per-connection", 1);
// --protocol grpc (default) | connect (the Connect protocol over HTTP/2) | connect-http1 (over
// HTTP/1.1, as the SDK's fetch and browsers open them against an http:// gateway: a connection each).
const PROTOCOLS: DeviceProtocol[] = ["grpc", "connect", "connect-http1"];
const protocolAt = process.argv.indexOf("--protocol");
const PROTOCOL = (protocolAt === -1 ? "grpc" : process.argv[protocolAt + 1]) as DeviceProtocol;
if (!PROTOCOLS.includes(PROTOCOL)) throw new Error(`--protocol must be one of ${PROTOCOLS.join(", ")}`);
if (PROTOCOL === "connect-http1" && PER_CONNECTION !== 1)
  throw new Error("--protocol connect-http1 holds one stream per connection: HTTP/1.1 cannot share one");
// --no-floor: skip measuring a bare Node server holding the same streams.
const FLOOR = !process.argv.includes("--no-floor");
const say = (text: string) => process.stderr.write(`[streams] ${text}\n`);

/**
 * The floor under the gateway's figure: a bare Node server (no code of ours) holding as many
 * streams, on as many connections, opened with headers of the same size, measured the same way:
 * node:http2 for gRPC and Connect over HTTP/2, node:http for Connect over HTTP/1.1.
 */
async function serverFloor(streams: number, perConnection: number) {
  const http1 = PROTOCOL === "connect-http1";
  const server = await startEmptyServer(http1 ? "held-http1" : "held");
  const sessions: http2.ClientHttp2Session[] = [];
  const requests: http.ClientRequest[] = [];
  const path = "/seeme.location.v1.LocationService/Subscribe";
  const authorization = `Bearer ${"x".repeat(220)}`;
  const open2 = async () => {
    const call = sessions[sessions.length - 1].request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      authorization,
    });
    call.on("error", () => undefined);
    call.end(Buffer.from([0, 0, 0, 0, 0]));
    call.resume();
    await once(call, "response");
  };
  const open1 = async () => {
    const call = http.request({
      host: "127.0.0.1",
      port: server.port,
      method: "POST",
      path,
      agent: false,
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1", authorization },
    });
    requests.push(call);
    call.on("error", () => undefined);
    call.end(Buffer.from([0, 0, 0, 0, 0]));
    const [response] = (await once(call, "response")) as [http.IncomingMessage];
    response.resume();
  };
  try {
    await sleep(1000);
    const before = await memoryAfterGc(server.pid);
    for (let i = 0; i < streams; i += 200) {
      const batch: Array<Promise<void>> = [];
      for (let j = i; j < Math.min(i + 200, streams); j++) {
        if (http1) {
          batch.push(open1());
          continue;
        }
        if (j % perConnection === 0) sessions.push(http2.connect(`http://127.0.0.1:${server.port}`));
        batch.push(open2());
      }
      await Promise.all(batch);
    }
    await sleep(5000);
    const after = await memoryAfterGc(server.pid);
    return {
      rssKiBPerStream: round((after.rss - before.rss) / 1024 / streams, 2),
      heapKiBPerStream: round((after.heapUsed - before.heapUsed) / 1024 / streams, 2),
      rssBeforeMiB: round(before.rss / 2 ** 20, 1),
      rssAfterMiB: round(after.rss / 2 ** 20, 1),
    };
  } finally {
    for (const session of sessions) session.destroy();
    for (const request of requests) request.destroy();
    await server.stop();
  }
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** Live bytes by allocating function (self size), from V8's sampling heap profiler. */
function topAllocations(root: SamplingNode, streams: number, top = 25): string[] {
  const sizes = new Map<string, number>();
  const walk = (node: SamplingNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || "(anonymous)"} ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/(services|packages)\//, "$1/")}:${lineNumber + 1}`;
    sizes.set(key, (sizes.get(key) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(root);
  return [...sizes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, bytes]) => `${round(bytes / 1024 / streams, 2)} KiB/stream  ${key}`);
}

const logDir = `${ROOT}bench/results/streams-${new Date().toISOString().replace(/[:.]/g, "-")}`;
mkdirSync(logDir, { recursive: true });
const nats = await startOwnNats();
const stack = await startProcessStack("streams", { logDir, env: { SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT: "1000" } });
const location = new URL(stack.env.LOCATION_DATABASE_URL);
let statements = 0;
const pg = await startTcpProxy(location.hostname, Number(location.port || 5432), {
  watch: pgStatements((n) => (statements += n)),
});
const devices: Device[] = [];
try {
  // Location's queries through the counting proxy; every service on this run's own NATS.
  location.hostname = "127.0.0.1";
  location.port = String(pg.port);
  stack.env.LOCATION_DATABASE_URL = location.toString();
  stack.env.NATS_URL = nats.url;
  if (!stack.restart) throw new Error("needs the services as processes");
  await stack.restart([]);
  say(`creating ${ACCOUNTS} accounts …`);
  const accounts = await createDevices(stack.gatewayUrl, ACCOUNTS, 8);
  for (const account of accounts) account.close();

  const pids = { gateway: stack.pid("gateway"), location: stack.pid("location") };
  const measure = async () => ({
    gateway: await memoryAfterGc(pids.gateway),
    location: await memoryAfterGc(pids.location),
    nats: { heapUsed: 0, rss: rssBytes(nats.pid) },
  });
  await sleep(2000);
  const before = await measure();

  say(`idle ${IDLE_SECONDS} s with no stream open …`);
  let mark = statements;
  await sleep(IDLE_SECONDS * 1000);
  const statementsWithout = statements - mark;

  // --heap-profile [gateway|location]: live allocations by function in that process (default gateway).
  const profileAt = process.argv.indexOf("--heap-profile");
  const profiledName =
    profileAt === -1 ? undefined : process.argv[profileAt + 1] === "location" ? "location" : "gateway";
  const profiled = profiledName ? await openInspector(pids[profiledName]) : undefined;
  await profiled?.send("HeapProfiler.startSampling", { samplingInterval: 1024 });
  say(`opening ${STREAMS} Subscribe streams …`);
  const abort = new AbortController();
  let caughtUp = 0;
  let failed = 0;
  // Streams that ended (with their error) before the measurements were over; there should be none.
  const errors: Record<string, number> = {};
  const started = performance.now();
  const readers: Array<Promise<void>> = [];
  for (let i = 0; i < STREAMS; i++) {
    const account = accounts[i % accounts.length].account;
    const shared = i % PER_CONNECTION === 0 ? undefined : devices[devices.length - 1];
    const device = shared
      ? { ...shared, account, call: { headers: { authorization: `Bearer ${account.sessionToken}` } } }
      : deviceFor(stack.gatewayUrl, account, PROTOCOL);
    if (!shared) devices.push(device);
    readers.push(
      (async () => {
        let open = false;
        try {
          for await (const { event } of device.location.subscribe({}, { ...device.call, signal: abort.signal }))
            if (event.case === "caughtUp") {
              open = true;
              caughtUp += 1;
            }
        } catch (error) {
          if (abort.signal.aborted) return;
          const key = `${open ? "ended" : "refused"}: ${String(error).slice(0, 160)}`;
          errors[key] = (errors[key] ?? 0) + 1;
        }
        if (!open) failed += 1;
      })(),
    );
    // Connections open a few hundred at a time, as phones would not all at once.
    if (i % 200 === 199) {
      while (caughtUp + failed < i - 100) await sleep(50);
    }
  }
  while (caughtUp + failed < STREAMS) await sleep(200);
  const openSeconds = (performance.now() - started) / 1000;
  say(`${caughtUp} streams open (${failed} failed) in ${round(openSeconds, 1)} s`);
  await sleep(5000);
  if (profiled) {
    await profiled.memoryAfterGc();
    const { profile } = (await profiled.send("HeapProfiler.getSamplingProfile")) as { profile: { head: SamplingNode } };
    await profiled.send("HeapProfiler.stopSampling");
    await profiled.close();
    process.stdout.write(
      `${profiledName}, live allocations by function:\n${topAllocations(profile.head, caughtUp).join("\n")}\n`,
    );
  }
  const after = await measure();

  say(`idle ${IDLE_SECONDS} s with ${caughtUp} streams open …`);
  mark = statements;
  await sleep(IDLE_SECONDS * 1000);
  const statementsWith = statements - mark;

  const per = (bytes: number) => round(bytes / 1024 / caughtUp, 2);
  const rows = (["gateway", "location", "nats"] as const).map((name) => ({
    process: name as string,
    rssKiBPerStream: per(after[name].rss - before[name].rss),
    heapKiBPerStream: name === "nats" ? "-" : per(after[name].heapUsed - before[name].heapUsed),
    rssBeforeMiB: round(before[name].rss / 2 ** 20, 1),
    rssAfterMiB: round(after[name].rss / 2 ** 20, 1),
  }));
  const total = rows.reduce((sum, row) => sum + row.rssKiBPerStream, 0);
  abort.abort();
  await Promise.all(readers);
  for (const device of devices.splice(0)) device.close();
  const floorServer = PROTOCOL === "connect-http1" ? "node:http" : "node:http2";
  if (FLOOR) say(`bare ${floorServer} holding ${caughtUp} streams, ${PER_CONNECTION} per connection …`);
  const floor = FLOOR ? await serverFloor(caughtUp, PER_CONNECTION) : undefined;
  if (floor) rows.push({ process: `bare ${floorServer} (floor)`, ...floor });
  console.table(rows);
  process.stdout.write(
    `${JSON.stringify({
      streams: caughtUp,
      failed,
      errors,
      protocol: PROTOCOL,
      streamsPerConnection: PER_CONNECTION,
      accounts: ACCOUNTS,
      openSeconds: round(openSeconds, 1),
      rssKiBPerStreamAllProcesses: round(total, 2),
      locationStatementsIdle: { seconds: IDLE_SECONDS, withoutStreams: statementsWithout, withStreams: statementsWith },
      // The gateway's own code per stream: its figure above the bare server's.
      gatewayAboveFloorKiB: floor ? round(rows[0].rssKiBPerStream - floor.rssKiBPerStream, 2) : undefined,
      loadAverage: loadavg().map((load) => round(load, 2)),
    })}\n`,
  );
} finally {
  for (const device of devices) device.close();
  await stack.stop();
  await pg.close();
  await nats.stop();
}
