import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { loadConfig as gatewayConfig } from "@seeme/gateway/config";
import { startGatewayService, type GatewayHandle } from "@seeme/gateway/service";
import { createLogger } from "@seeme/runtime/logger";
import { registerAndSignIn } from "@seeme/testkit/accounts";
import { pairAccounts } from "@seeme/testkit/pairing";
import { startStack, type Stack } from "../../../test/stack.js";
import { loadConfig } from "../src/config.js";
import { startLocationService, type RunningLocationService } from "../src/service.js";
import { blob, waitUntil } from "./helpers.js";

/**
 * Issue #15: one gateway spreads calls over every location replica. Two real
 * location replicas (one schema, one NATS prefix) behind one gateway whose
 * LOCATION_ADDR is a resolver target listing both (`ipv4:` here, `dns:///` over
 * a headless Service in Kubernetes): Syncs over gRPC and Connect, and the backlog
 * reads of Subscribe streams (the gateway holds the streams themselves), land on both.
 */
let stack: Stack;
const replicas: RunningLocationService[] = [];
let gateway: GatewayHandle;
const silent = createLogger("test", "silent");

beforeAll(async () => {
  stack = await startStack("location-round-robin");
  const env = {
    LOCATION_DATABASE_URL: stack.databaseUrls.location,
    NATS_URL: stack.natsUrl,
    NATS_SUBJECT_PREFIX: stack.natsPrefix,
    INTERNAL_AUTH_SECRET: stack.internalAuthSecret,
    ADMIN_TOKEN: stack.adminToken,
    CONNECTION_ADDR: stack.address("connection"),
    LOCATION_PORT: "0",
    METRICS_PORT: "0",
    LOG_LEVEL: "silent",
  };
  for (let i = 0; i < 2; i++) replicas.push(await startLocationService(loadConfig(env), { log: silent }));
  gateway = await startGatewayService(
    gatewayConfig({
      ...env,
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      HEALTH_INTERVAL_MS: "200",
      IDENTITY_ADDR: stack.address("identity"),
      LOCATION_ADDR: `ipv4:${replicas.map((replica) => `127.0.0.1:${replica.port}`).join(",")}`,
    }),
    { log: silent },
  );
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  for (const replica of replicas) await replica.stop();
  await stack?.stop();
});

const served = async (replica: RunningLocationService, method: "Sync" | "Subscribe") =>
  (await replica.metrics.rpcHandled.get()).values
    .filter((value) => value.labels.method === method && value.labels.code === "OK")
    .reduce((sum, value) => sum + value.value, 0);
const syncsServed = (replica: RunningLocationService) => served(replica, "Sync");
const backlogReadsServed = (replica: RunningLocationService) => served(replica, "Subscribe");

it("Syncs (gRPC and Connect) and Subscribe backlog reads through one gateway are served by both location replicas", async () => {
  const url = `http://127.0.0.1:${gateway.port}`;
  const transports = [
    createGrpcTransport({ baseUrl: url }),
    createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
  ];
  const identity = createClient(IdentityService, transports[0]);
  const sender = await registerAndSignIn(identity);
  const recipient = await registerAndSignIn(identity);
  const { initiatorPairId } = await pairAccounts(createClient(ConnectionService, transports[0]), recipient, sender);
  const before = await Promise.all(replicas.map(syncsServed));

  for (const transport of transports) {
    const location = createClient(LocationService, transport);
    for (let packetId = 1; packetId <= 10; packetId++) {
      await location.sync(
        {
          data: [
            { pairId: initiatorPairId, packetId: packetId + (transport === transports[0] ? 0 : 100), blob: blob("rr") },
          ],
        },
        { headers: { authorization: `Bearer ${sender.sessionToken}` } },
      );
    }
  }
  const syncs = (await Promise.all(replicas.map(syncsServed))).map((after, i) => after - before[i]);
  expect(syncs[0] + syncs[1]).toBe(20);
  expect(syncs[0]).toBeGreaterThan(0);
  expect(syncs[1]).toBeGreaterThan(0);

  const abort = new AbortController();
  const location = createClient(LocationService, transports[0]);
  const streams = Array.from({ length: 6 }, async () => {
    try {
      for await (const _ of location.subscribe(
        {},
        { signal: abort.signal, headers: { authorization: `Bearer ${recipient.sessionToken}` } },
      ));
    } catch {
      // Aborted at the end.
    }
  });
  // Each held stream reads its backlog from location once, up to caught_up, and holds no slot there.
  let reads = [0, 0];
  await waitUntil(async () => {
    reads = await Promise.all(replicas.map(backlogReadsServed));
    return gateway.live()?.streams === 6 && reads[0] + reads[1] === 6;
  }, 10_000);
  expect(reads[0]).toBeGreaterThan(0);
  expect(reads[1]).toBeGreaterThan(0);
  expect(replicas[0].context.live.streams + replicas[1].context.live.streams).toBe(0);
  abort.abort();
  await Promise.all(streams);
}, 60_000);
