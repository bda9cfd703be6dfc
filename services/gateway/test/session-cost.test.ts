import net from "node:net";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { createLogger } from "@seeme/runtime/logger";
import { registerAndSignIn } from "@seeme/testkit/accounts";
import { startStack, type Stack } from "../../../test/stack.js";
import { loadConfig } from "../src/config.js";
import { startGatewayService, type GatewayHandle } from "../src/service.js";

/**
 * What a Sync costs identity: requests to its gRPC port and statements on its
 * database, counted on the wire by proxies in front of both. Syncs are spaced
 * wider than the old 2 s session cache, as a device that syncs now and then.
 */

/** Forwards TCP to `target` and counts the client's messages with `count(chunk)`. */
async function countingProxy(target: { host: string; port: number }, count: (chunk: Buffer, state: object) => number) {
  let total = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const state = {};
    client.on("data", (chunk: Buffer) => (total += count(chunk, state)));
    client.pipe(upstream).pipe(client);
    for (const socket of [client, upstream]) socket.on("error", () => (client.destroy(), upstream.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    total: () => total,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** HTTP/2 HEADERS frames on odd (client) streams after the preface: one per request. */
function http2Requests(chunk: Buffer, state: { buffer?: Buffer; preface?: boolean }): number {
  let data = state.buffer ? Buffer.concat([state.buffer, chunk]) : chunk;
  if (!state.preface) {
    if (data.length < 24) return ((state.buffer = data), 0);
    data = data.subarray(24);
    state.preface = true;
  }
  let requests = 0;
  while (data.length >= 9) {
    const length = data.readUIntBE(0, 3);
    if (data.length < 9 + length) break;
    const type = data[3];
    const stream = data.readUInt32BE(5) & 0x7fffffff;
    if (type === 0x1 && stream % 2 === 1) requests += 1;
    data = data.subarray(9 + length);
  }
  state.buffer = data;
  return requests;
}

/** PostgreSQL frontend Execute ('E') and simple Query ('Q') messages: one per statement run. */
function pgStatements(chunk: Buffer, state: { buffer?: Buffer; started?: boolean }): number {
  let data = state.buffer ? Buffer.concat([state.buffer, chunk]) : chunk;
  let statements = 0;
  while (true) {
    if (!state.started) {
      // Startup (or SSLRequest) messages carry no type byte.
      if (data.length < 8) break;
      const length = data.readUInt32BE(0);
      if (data.length < length) break;
      if (data.readUInt32BE(4) !== 80877103) state.started = true;
      data = data.subarray(length);
      continue;
    }
    if (data.length < 5) break;
    const length = data.readUInt32BE(1);
    if (data.length < 1 + length) break;
    if (data[0] === 0x45 || data[0] === 0x51) statements += 1;
    data = data.subarray(1 + length);
  }
  state.buffer = data;
  return statements;
}

describe("what a Sync costs identity", () => {
  let stack: Stack;
  let gateway: GatewayHandle;
  let identityDb: Awaited<ReturnType<typeof countingProxy>>;
  let identityRpc: Awaited<ReturnType<typeof countingProxy>>;

  beforeAll(async () => {
    const pgPort = Number(new URL(process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test").port);
    identityDb = await countingProxy({ host: "127.0.0.1", port: pgPort || 5432 }, pgStatements);
    stack = await startStack("session_cost", {
      // Only identity's connections go through the counting proxy.
      databaseUrl: (url) => (url.includes("_identity") ? url.replace(/:(\d+)\//, `:${identityDb.port}/`) : url),
      // Quiet background: health probes once a minute, no sweeps (the outbox relay still polls once a second).
      env: { HEALTH_INTERVAL_MS: "60000", IDENTITY_SWEEP_INTERVAL: "1h" },
    });
    const [host, port] = stack.address("identity").split(":");
    identityRpc = await countingProxy({ host, port: Number(port) }, http2Requests);
    gateway = await startGatewayService(
      loadConfig({
        INTERNAL_AUTH_SECRET: stack.internalAuthSecret,
        NATS_URL: stack.natsUrl,
        NATS_SUBJECT_PREFIX: stack.natsPrefix,
        GATEWAY_PORT: "0",
        GATEWAY_HOST: "127.0.0.1",
        METRICS_PORT: "0",
        IDENTITY_ADDR: `127.0.0.1:${identityRpc.port}`,
        CONNECTION_ADDR: stack.address("connection"),
        LOCATION_ADDR: stack.address("location"),
        // Its health probes of identity would be counted as requests.
        HEALTH_INTERVAL_MS: "60000",
      }),
      { log: createLogger("test", "silent") },
    );
  });
  afterAll(async () => {
    await gateway.stop();
    await stack.stop();
    await identityRpc.close();
    await identityDb.close();
  });

  it("no identity request and no identity query per Sync", async () => {
    const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${gateway.port}`, httpVersion: "1.1" });
    const account = await registerAndSignIn(createClient(IdentityService, transport));
    const location = createClient(LocationService, transport);
    const auth = { headers: { authorization: `Bearer ${account.sessionToken}` } };
    await location.sync({}, auth);
    // Identity's outbox relay polls once a second: measured alone over as long a window first.
    const syncs = 5;
    const idle = { rpc: identityRpc.total(), db: identityDb.total() };
    await new Promise((resolve) => setTimeout(resolve, syncs * 2100));
    const background = identityDb.total() - idle.db;
    const before = { rpc: identityRpc.total(), db: identityDb.total() };
    for (let i = 0; i < syncs; i++) {
      await location.sync({}, auth);
      await new Promise((resolve) => setTimeout(resolve, 2100));
    }
    const perSync = {
      identityRequests: (identityRpc.total() - before.rpc) / syncs,
      identityStatements: (identityDb.total() - before.db - background) / syncs,
    };
    if (process.env.REPORT_TIMINGS) console.log({ perSync, backgroundStatements: background });
    expect(perSync.identityRequests).toBe(0);
    // 0 up to the relay's polling jitter (±1 poll per window); main: 1 per Sync.
    expect(Math.abs(perSync.identityStatements)).toBeLessThan(0.5);
  });
});
