import { randomUUID } from "node:crypto";
import type pg from "pg";
import { Code } from "@connectrpc/connect";
import { SyncTarget } from "@seeme/contracts/location";
import { events } from "@seeme/contracts/subjects";
import { isConflictAbort } from "../src/db/client.js";
import { Prisma } from "../src/db/generated/client.js";
import { blob, newConnection, startHarness, waitUntil, type Harness, type Pair } from "./helpers.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("location-deadlock");
});
afterAll(() => h.stop());

/** Two connections initiated by `account`, ordered by the peer pairID it sends to. */
function connectionsOf(account: string): [Pair, Pair] {
  const pairs = [newConnection(), newConnection()];
  for (const pair of pairs) {
    pair.a = account;
    pair.route.initiatorAccountId = account;
  }
  pairs.sort((x, y) => (x.bPair < y.bPair ? -1 : 1));
  return [pairs[0], pairs[1]];
}

const lockRoute = (client: pg.PoolClient, pairId: string) =>
  client.query("SELECT 1 FROM route WHERE pair_id = $1 FOR UPDATE", [pairId]);

/** Waits until some backend waits for a lock `client` holds. */
async function untilBlockedBy(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  await waitUntil(async () => {
    const blocked = await h.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
      [rows[0].pid],
    );
    return blocked.rows[0].n > 0;
  });
}

/** A transaction on its own connection, always ended and released. */
async function inTransaction(deadlockTimeout: string, body: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await h.pool.connect();
  try {
    await client.query(`SET deadlock_timeout = '${deadlockTimeout}'`);
    await client.query("BEGIN");
    await body(client);
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
    client.release();
  }
}

it("account deletion locks the account's routes in pairID order first, so it cannot deadlock with a Sync", async () => {
  const account = randomUUID();
  const [low, high] = connectionsOf(account);
  // Stored in this order, the handler used to meet (and delete) `high` first.
  await h.connect(high);
  await h.connect(low);
  // Plays the Sync of `account` sending to both: it locks the routes in pairID order.
  // Its short deadlock_timeout makes it the side that would detect a deadlock.
  await inTransaction("50ms", async (sync) => {
    await lockRoute(sync, low.bPair);
    await h.events.publish(
      events.accountDeleted,
      { eventId: randomUUID(), accountId: account },
      { msgId: randomUUID() },
    );
    await untilBlockedBy(sync);
    await lockRoute(sync, high.bPair);
    await sync.query("COMMIT");
  });
  await waitUntil(async () => {
    const { rows } = await h.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM route WHERE account_id = $1 OR peer_account_id = $1",
      [account],
    );
    return rows[0].n === 0;
  });
});

it("Sync answers a deadlock with Unavailable (retry), not Internal, and the retry succeeds", async () => {
  const account = randomUUID();
  const [low, high] = connectionsOf(account);
  await h.connect(low);
  await h.connect(high);
  const a = h.as(account);
  const data = [low, high].map((pair) => ({ pairId: pair.bPair, packetId: 1, blob: blob("x") }));
  // Another transaction takes the routes in the opposite order; its long
  // deadlock_timeout leaves the detection, and the cancellation, to the Sync.
  await inTransaction("10s", async (other) => {
    await lockRoute(other, high.bPair);
    const syncing = a.sync({ data });
    syncing.catch(() => undefined);
    await untilBlockedBy(other);
    await lockRoute(other, low.bPair);
    await expect(syncing).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringMatching(/retry/) });
  });
  const retried = await a.sync({ data });
  expect(retried.syncMeta).toEqual([
    expect.objectContaining({ target: SyncTarget.SENDER, pairId: low.bPair, receivedPackets: [1] }),
    expect.objectContaining({ target: SyncTarget.SENDER, pairId: high.bPair, receivedPackets: [1] }),
  ]);
});

it("a deadlock or serialization failure is told apart from other database errors, from pg and from Prisma alike", async () => {
  // Real PostgreSQL errors of each code, raised by the server.
  const raise = (code: string) => `DO $$ BEGIN RAISE EXCEPTION 'raised by the test' USING ERRCODE = '${code}'; END $$`;
  const failure = async (run: () => Promise<unknown>): Promise<unknown> => {
    try {
      await run();
    } catch (error) {
      return error;
    }
    throw new Error("the statement did not fail");
  };
  for (const [code, conflict] of [
    ["40P01", true], // deadlock_detected
    ["40001", true], // serialization_failure
    ["23505", false], // unique_violation
    ["57014", false], // query_canceled
  ] as const) {
    // The Sync path: pg's own error.
    expect([code, isConflictAbort(await failure(() => h.pool.query(raise(code))))]).toEqual([code, conflict]);
    // Prisma's raw queries (P2010, the driver adapter's original code inside).
    expect([code, isConflictAbort(await failure(() => h.location.context.db.$executeRawUnsafe(raise(code))))]).toEqual([
      code,
      conflict,
    ]);
  }
  // Prisma's own queries report a conflict as P2034; its other known errors are not conflicts.
  const prismaError = (errorCode: string) =>
    new Prisma.PrismaClientKnownRequestError("failed", { code: errorCode, clientVersion: Prisma.prismaVersion.client });
  expect(isConflictAbort(prismaError("P2034"))).toBe(true);
  expect(isConflictAbort(prismaError("P2002"))).toBe(false);
  expect(isConflictAbort(new Error("40P01"))).toBe(false);
});
