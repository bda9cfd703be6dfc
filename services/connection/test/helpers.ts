import { generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from "node:crypto";
import pg from "pg";
import { ConnectionInternalService, ConnectionService } from "@seeme/contracts/connection";
import { IdentityInternalService } from "@seeme/contracts/identity";
import { events } from "@seeme/contracts/subjects";
import { CALLER_HEADER, requireService, SERVICE_HEADER, signCaller, signService } from "@seeme/runtime/caller";
import { createGrpcClient, registration } from "@seeme/runtime/grpc";
import { createLogger } from "@seeme/runtime/logger";
import { connectEventBus, type EventBus } from "@seeme/runtime/nats";
import { Code, ConnectError } from "@connectrpc/connect";
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from "@seeme/testkit/database";
import { testClock as sharedTestClock } from "@seeme/testkit/clock";
import { startFakeService } from "@seeme/testkit/fake-service";
import { collector, createTestBus, type TestBus } from "@seeme/testkit/nats";
import { loadConfig, type ConnectionConfig } from "../src/config.js";
import { initiatePayload } from "@seeme/contracts/protocol";
import { startFakeLocation } from "@seeme/testkit/fake-location";
import {
  startConnectionService,
  type ConnectionServiceOptions,
  type RunningConnectionService,
} from "../src/service.js";

export const SECRET = "connection-test-secret-".padEnd(48, "x");
export const silent = createLogger("connection-test", "silent");

export { newPairId } from "@seeme/testkit/pairing";

/**
 * Stands in for the identity service's database only: a real gRPC server with
 * the real service guard, checking real Ed25519 signatures against the public
 * keys the test registered.
 */
export async function startFakeIdentity(): Promise<{
  address: string;
  keys: Map<string, KeyObject>;
  stop(): Promise<void>;
}> {
  const keys = new Map<string, KeyObject>();
  const fake = await startFakeService("identity-fake", [
    registration(
      IdentityInternalService,
      {
        verifySession: () => {
          throw new ConnectError("not used by the connection service", Code.Unimplemented);
        },
        verifySignature: (req) => {
          const key = keys.get(req.accountId);
          return {
            valid: key !== undefined && req.signature.length === 64 && verify(null, req.payload, key, req.signature),
          };
        },
      },
      requireService(SECRET),
    ),
  ]);
  return { address: fake.address, keys, stop: fake.stop };
}

export interface Account {
  id: string;
  privateKey: KeyObject;
  /** The account's signature of the initiate payload for this pair. */
  signInitiate(sender: string, recipient: string): Uint8Array;
}

export function registerAccount(identity: { keys: Map<string, KeyObject> }): Account {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const id = randomUUID();
  identity.keys.set(id, publicKey);
  return { id, privateKey, signInitiate: (s, r) => new Uint8Array(sign(null, initiatePayload(s, r), privateKey)) };
}

/** A ConnectionService client acting as `accountId` (what the gateway sends), or anonymous. */
export function clientAs(address: string, accountId?: string) {
  return createGrpcClient(ConnectionService, address, {
    headers: (): Record<string, string> =>
      accountId === undefined ? {} : { [CALLER_HEADER]: signCaller(SECRET, accountId) },
  });
}

export function internalClient(address: string) {
  return createGrpcClient(ConnectionInternalService, address, {
    headers: () => ({ [SERVICE_HEADER]: signService(SECRET, "location") }),
  });
}

// The relay's internal API as a fake; testConfig points LOCATION_ADDR at the latest one started.
let fakeLocationAddress = "127.0.0.1:1";

/** Starts the fake relay (BreakConnection revokes pairIDs there before answering). */
export async function useFakeLocation() {
  const location = await startFakeLocation(SECRET);
  fakeLocationAddress = location.address;
  return location;
}

/** A settable clock for `now()`. */
export function testClock(start = Date.now()) {
  return sharedTestClock({ frozen: true, start });
}

export const SEED = randomBytes(32);

export function testConfig(
  db: TestDatabase,
  bus: TestBus,
  identityAddr: string,
  env: Record<string, string> = {},
): ConnectionConfig {
  return loadConfig({
    LOCATION_ADDR: fakeLocationAddress,
    INTERNAL_AUTH_SECRET: SECRET,
    CONNECTION_DATABASE_URL: db.url,
    NATS_URL: bus.url,
    NATS_SUBJECT_PREFIX: bus.prefix,
    CONNECTION_PORT: "0",
    METRICS_PORT: "0",
    LOG_LEVEL: "silent",
    IDENTITY_ADDR: identityAddr,
    SERVER_SIGNING_KEY: SEED.toString("base64"),
    // Tests sweep by hand (sweeper.sweep()) with a settable clock.
    INVITE_SWEEP_INTERVAL: "1h",
    OUTBOX_POLL_INTERVAL: "50ms",
    ...env,
  });
}

/** Reads the service's tables directly, to prove a refusal changed nothing. */
export function tableReader(db: TestDatabase) {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2, options: `-c search_path=${db.schema}` });
  const rows = async (table: string) => (await pool.query(`SELECT * FROM ${table} ORDER BY 1`)).rows;
  return {
    rows,
    async count(table: string): Promise<number> {
      return Number((await pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    },
    /** Every row of every table; taken once the relay has emptied the outbox. */
    async snapshot(): Promise<string> {
      const tables = ["invites", "connections", "used_pair_ids", "outbox_events"];
      const all = await Promise.all(tables.map(rows));
      return JSON.stringify(Object.fromEntries(tables.map((t, i) => [t, all[i]])));
    },
    /** A connection of its own, to hold a transaction open against the service's. */
    connect: () => pool.connect(),
    /** How many backends wait for a lock the backend `pid` holds. */
    async waitingOn(pid: number): Promise<number> {
      const { rowCount } = await pool.query("SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", [
        pid,
      ]);
      return rowCount ?? 0;
    },
    close: () => pool.end(),
  };
}

/** Collects the connection events of a prefix with a durable consumer of its own. */
export async function eventWatcher(testBus: TestBus, durable: string) {
  const bus: EventBus = await connectEventBus({
    url: testBus.url,
    prefix: testBus.prefix,
    name: `watch-${durable}`,
    log: silent,
  });
  await bus.ensureStreams();
  const confirmed = collector<{
    eventId: string;
    initiator: string;
    recipient: string;
    initiatorPairId: string;
    recipientPairId: string;
  }>();
  const broken = collector<{ eventId: string; by: string; reason: number; pairIds: string[] }>();
  const expired = collector<{ eventId: string; initiator: string; sender: string; recipient: string }>();
  await bus.consume(events.connectionConfirmed, {
    durable,
    handler: (m) =>
      confirmed.push({
        eventId: m.eventId,
        initiator: m.route!.initiatorAccountId,
        recipient: m.route!.recipientAccountId,
        initiatorPairId: m.route!.initiatorPairId,
        recipientPairId: m.route!.recipientPairId,
      }),
  });
  await bus.consume(events.connectionBroken, {
    durable,
    handler: (m) =>
      broken.push({
        eventId: m.eventId,
        by: m.brokenByAccountId,
        reason: m.reason,
        pairIds: [m.route!.initiatorPairId, m.route!.recipientPairId],
      }),
  });
  await bus.consume(events.inviteExpired, {
    durable,
    handler: (m) =>
      expired.push({
        eventId: m.eventId,
        initiator: m.initiatorAccountId,
        sender: m.senderPairId,
        recipient: m.recipientPairId,
      }),
  });
  return { bus, confirmed, broken, expired, close: () => bus.drain() };
}

/** Everything a suite needs: schema, prefix, fake identity, the service, a table reader. */
export async function startSuite(
  label: string,
  options: ConnectionServiceOptions = {},
  env: Record<string, string> = {},
) {
  const db = await createTestDatabase(`connection_${label}`);
  const bus = createTestBus(`conn_${label}`);
  const identity = await startFakeIdentity();
  const location = await useFakeLocation();
  const config = testConfig(db, bus, identity.address, env);
  const service: RunningConnectionService = await startConnectionService(config, { log: silent, ...options });
  const tables = tableReader(db);
  const address = `127.0.0.1:${service.port}`;
  const clients: Array<{ close(): void }> = [];
  return {
    db,
    bus,
    identity,
    location,
    config,
    service,
    tables,
    address,
    /** A client calling as `account`, closed by stop(). */
    client(account: Account) {
      const client = clientAs(address, account.id);
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.close();
      await service.stop();
      await identity.stop();
      await location.stop();
      await tables.close();
      await db.drop();
      await bus.cleanup();
    },
  };
}
