import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { createLogger } from "@seeme/runtime/logger";
import { registerAndSignIn } from "@seeme/testkit/accounts";
import { startTcpProxy, type TcpProxy } from "@seeme/testkit/tcp-proxy";
import { http2Requests, pgStatements } from "@seeme/testkit/wire-counters";
import { startStack, type Stack } from "../../../test/stack.js";
import { loadConfig } from "../src/config.js";
import { startGatewayService, type GatewayHandle } from "../src/service.js";

/**
 * What a Sync costs identity: requests to its gRPC port and statements on its
 * database, counted on the wire by proxies in front of both. Syncs are spaced
 * wider than the old 2 s session cache, as a device that syncs now and then.
 */

describe("what a Sync costs identity", () => {
  let stack: Stack;
  let gateway: GatewayHandle;
  // Counted on the wire by proxies in front of identity's database and gRPC port.
  let identityDb: TcpProxy;
  let identityRpc: TcpProxy;
  const counted = { statements: 0, requests: 0 };
  const total = { db: () => counted.statements, rpc: () => counted.requests };

  beforeAll(async () => {
    const pgPort = Number(new URL(process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test").port);
    identityDb = await startTcpProxy("127.0.0.1", pgPort || 5432, {
      watch: pgStatements((n) => (counted.statements += n)),
    });
    stack = await startStack("session_cost", {
      // Only identity's connections go through the counting proxy.
      databaseUrl: (url) => (url.includes("_identity") ? url.replace(/:(\d+)\//, `:${identityDb.port}/`) : url),
      // Quiet background: health probes once a minute, no sweeps (the outbox relay still polls once a second).
      env: { HEALTH_INTERVAL_MS: "60000", IDENTITY_SWEEP_INTERVAL: "1h" },
    });
    const [host, port] = stack.address("identity").split(":");
    identityRpc = await startTcpProxy(host, Number(port), { watch: http2Requests((n) => (counted.requests += n)) });
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
    const idle = { rpc: total.rpc(), db: total.db() };
    await new Promise((resolve) => setTimeout(resolve, syncs * 2100));
    const background = total.db() - idle.db;
    const before = { rpc: total.rpc(), db: total.db() };
    for (let i = 0; i < syncs; i++) {
      await location.sync({}, auth);
      await new Promise((resolve) => setTimeout(resolve, 2100));
    }
    const perSync = {
      identityRequests: (total.rpc() - before.rpc) / syncs,
      identityStatements: (total.db() - before.db - background) / syncs,
    };
    if (process.env.REPORT_TIMINGS) console.log({ perSync, backgroundStatements: background });
    expect(perSync.identityRequests).toBe(0);
    // 0 up to the relay's polling jitter (±1 poll per window); main: 1 per Sync.
    expect(Math.abs(perSync.identityStatements)).toBeLessThan(0.5);
  });
});
