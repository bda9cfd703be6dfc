import { randomUUID } from "node:crypto";
import pg from "pg";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectionInternalService, RouteSchema, type Route } from "@seeme/contracts/connection";
import { HeldPacketService, LocationAdminService, LocationService } from "@seeme/contracts/location";
import { CALLER_HEADER, requireService, signCaller } from "@seeme/runtime/caller";
import { createGrpcClient, registration } from "@seeme/runtime/grpc";
import { createLogger, type Logger } from "@seeme/runtime/logger";
import { connectEventBus, type EventBus } from "@seeme/runtime/nats";
import { events } from "@seeme/contracts/subjects";
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from "@seeme/testkit/database";
import { testClock } from "@seeme/testkit/clock";
import { startFakeService } from "@seeme/testkit/fake-service";
import { newPairId } from "@seeme/testkit/pairing";
import { createTestBus, type TestBus } from "@seeme/testkit/nats";
import { loadConfig } from "../src/config.js";
import { startLocationService, type RunningLocationService as RunningLocation } from "../src/service.js";

export const SECRET = "location-test-secret-".padEnd(48, "x");
export const ADMIN_TOKEN = "location-test-admin-token-".padEnd(48, "a");
export const silent = createLogger("location-test", process.env.TEST_LOG_LEVEL ?? "silent");
export const DAY_MS = 24 * 60 * 60 * 1000;

export { newPairId };

export function blob(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** One connection between two fresh accounts, initiator A and recipient B. */
export interface Pair {
  route: Route;
  a: string;
  b: string;
  /** Where A receives (B sends here). */
  aPair: string;
  /** Where B receives (A sends here). */
  bPair: string;
}

export function newConnection(packetLifeMs?: number): Pair {
  const a = randomUUID();
  const b = randomUUID();
  const aPair = newPairId();
  const bPair = newPairId();
  const route = create(RouteSchema, {
    connectionId: randomUUID(),
    initiatorAccountId: a,
    initiatorPairId: aPair,
    recipientAccountId: b,
    recipientPairId: bPair,
    packetLife: packetLifeMs === undefined ? undefined : durationFromMs(packetLifeMs),
  });
  return { route, a, b, aPair, bPair };
}

/**
 * Stands in for the connection service's internal API only: a real gRPC server
 * with the real service guard, answering from a Map the test controls.
 */
export async function startFakeConnections() {
  const routes = new Map<string, Route>();
  const calls = { listAccountRoutes: 0, listRoutes: 0 };
  const fake = await startFakeService("connection-fake", [
    registration(
      ConnectionInternalService,
      {
        listAccountRoutes: (req) => {
          calls.listAccountRoutes++;
          return {
            routes: [...routes.values()].filter(
              (r) => r.initiatorAccountId === req.accountId || r.recipientAccountId === req.accountId,
            ),
          };
        },
        listRoutes: (req) => {
          calls.listRoutes++;
          const all = [...routes.values()];
          const start = req.pageToken === "" ? 0 : Number(req.pageToken);
          const size = req.pageSize || 100;
          const end = start + size;
          return { routes: all.slice(start, end), nextPageToken: end < all.length ? String(end) : "" };
        },
        getInviteSigningKey: () => ({ publicKey: new Uint8Array(32) }),
      },
      requireService(SECRET),
    ),
  ]);
  return { address: fake.address, routes, calls, stop: fake.stop };
}

export { testClock };

export interface Harness {
  db: TestDatabase;
  bus: TestBus;
  /** The test's own event bus on the suite's prefix, to publish what other services would. */
  events: EventBus;
  connections: Awaited<ReturnType<typeof startFakeConnections>>;
  clock: ReturnType<typeof testClock>;
  env: Record<string, string>;
  location: RunningLocation;
  pool: pg.Pool;
  address(): string;
  /** A LocationService client acting as `accountId`. */
  as(accountId: string): ReturnType<typeof createGrpcClient<typeof LocationService>>;
  admin(token?: string): ReturnType<typeof createGrpcClient<typeof LocationAdminService>>;
  /** A HeldPacketService client acting as `accountId`. */
  held(accountId: string): ReturnType<typeof createGrpcClient<typeof HeldPacketService>>;
  /** Publishes connection confirmed and waits until the relay routes it. */
  connect(pair: Pair): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(
  label: string,
  extraEnv: Record<string, string> = {},
  options: { log?: Logger } = {},
): Promise<Harness> {
  const db = await createTestDatabase(label);
  const bus = createTestBus(label);
  const connections = await startFakeConnections();
  const clock = testClock();
  const env: Record<string, string> = {
    LOCATION_DATABASE_URL: db.url,
    NATS_URL: bus.url,
    NATS_SUBJECT_PREFIX: bus.prefix,
    INTERNAL_AUTH_SECRET: SECRET,
    ADMIN_TOKEN,
    CONNECTION_ADDR: connections.address,
    LOCATION_PORT: "0",
    METRICS_PORT: "0",
    SHUTDOWN_TIMEOUT_MS: "1000",
    LOG_LEVEL: "silent",
    ...extraEnv,
  };
  const start = () => startLocationService(loadConfig(env), { now: clock.now, log: options.log ?? silent });
  let location = await start();
  const eventBus = await connectEventBus({ url: env.NATS_URL, prefix: bus.prefix, name: `${label}-test`, log: silent });
  const schemaUrl = new URL(TEST_DATABASE_URL);
  const pool = new pg.Pool({ connectionString: schemaUrl.toString(), max: 2, options: `-c search_path=${db.schema}` });
  const clients: Array<{ close(): void }> = [];
  const track = <C extends { close(): void }>(client: C): C => {
    clients.push(client);
    return client;
  };
  const harness: Harness = {
    db,
    bus,
    events: eventBus,
    connections,
    clock,
    env,
    get location() {
      return location;
    },
    pool,
    address: () => `127.0.0.1:${location.port}`,
    as: (accountId) =>
      track(
        createGrpcClient(LocationService, harness.address(), {
          headers: () => ({ [CALLER_HEADER]: signCaller(SECRET, accountId) }),
        }),
      ),
    held: (accountId) =>
      track(
        createGrpcClient(HeldPacketService, harness.address(), {
          headers: () => ({ [CALLER_HEADER]: signCaller(SECRET, accountId) }),
        }),
      ),
    admin: (token = ADMIN_TOKEN) =>
      track(
        createGrpcClient(LocationAdminService, harness.address(), {
          headers: () => ({ authorization: `Bearer ${token}` }),
        }),
      ),
    async connect(pair) {
      await eventBus.publish(
        events.connectionConfirmed,
        { eventId: randomUUID(), route: pair.route },
        { msgId: randomUUID() },
      );
      await waitUntil(
        async () => (await pool.query("SELECT 1 FROM route WHERE pair_id = $1", [pair.bPair])).rowCount === 1,
      );
    },
    async restart() {
      await location.stop();
      env.LOCATION_PORT = String(location.port);
      location = await start();
    },
    async stop() {
      for (const client of clients) client.close();
      await location.stop();
      await connections.stop();
      await eventBus.drain();
      await pool.end();
      await bus.cleanup();
      await db.drop();
    },
  };
  return harness;
}

import { waitUntil } from "@seeme/testkit/wait";

export { waitUntil };

export async function countPackets(pool: pg.Pool, pairId: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM packet WHERE recipient_pair_id = $1", [
    pairId,
  ]);
  return Number(rows[0].n);
}
