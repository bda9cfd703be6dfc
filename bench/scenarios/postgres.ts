import { randomUUID } from "node:crypto";
import pg from "pg";
import { createLocationDb } from "@seeme/location/db/client";
import { GroupCommit } from "@seeme/location/db/group-commit";
import { applySync, readOutcome, syncStatement, type SyncInput, type SyncRow } from "@seeme/location/db/sync";
import { createPrismaAdapter, migrate, openDatabase, parseDatabaseUrl } from "@seeme/runtime/db";
import { createTestDatabase, type TestDatabase } from "@seeme/testkit/database";
import { postgresBackends, startCpuMeter, type PidSource } from "../lib/cpu.js";
import { ROOT, withApplicationName } from "../lib/stack.js";
import { blobFor, closedLoop, type LatencySummary } from "../lib/stats.js";
import type { Progress } from "../lib/progress.js";

const BATCH_SIZES = [1, 10, 100] as const;

interface PostgresPoint {
  batch: number;
  /** Packets stored by a sender's Sync statement and deleted by the recipient's, per second. */
  rowsPerSecond: number;
  /** One sending statement plus its acknowledging one. */
  latency: LatencySummary;
  /** CPU ms per packet in the client (this process) and in the client's PostgreSQL backends. */
  clientCpuMsPerRow: number;
  postgresCpuMsPerRow: number;
}

export interface PostgresResult {
  concurrency: number;
  raw: PostgresPoint[];
  /** The chosen client: applySync on the runtime's pool, as the relay runs Sync (`pg` directly, named). */
  relay: PostgresPoint[];
  /** The same statement through Prisma's $queryRaw (how the relay ran it until 2026-12-01), for reference. */
  prisma: PostgresPoint[];
  /** P_relay through the relay's group commit (db/group-commit.ts): Syncs of one event-loop turn share a commit. */
  grouped: PostgresPoint[];
}

const silentMigrations = { info: () => undefined };

/**
 * P_raw, P_relay and P_prisma: the relay's own Sync statement (db/sync.ts), the
 * same SQL text and parameters, run through a plain node-postgres pool (a named
 * statement), through what the relay runs (applySync on the runtime's pool:
 * openDatabase, named statements, Prisma's result types) and through Prisma's
 * $queryRaw with the services' adapter: each worker's sender Syncs a batch of
 * packets to its peer (acknowledging the receipts its previous Sync reported),
 * and the recipient's Sync acknowledges them. The location service's own schema
 * (same migrations, indexes, routes); pools of the services' size (10). P_group
 * is P_relay through the relay's group commit, as the service runs it when on.
 *
 * Each client has a schema of its own, so each meets the tables in the same state
 * (the same points before it): in one shared schema the later clients ran on
 * tables the earlier ones had grown (seen_packet) and filled with dead rows, and
 * PostgreSQL's CPU per packet rose with the order, not the client.
 */
export async function benchPostgres(
  say: Progress,
  options: { durationMs: number; concurrency: number },
): Promise<PostgresResult> {
  const application = `seeme_pbench_${randomUUID().slice(0, 8)}`;
  // One connection per worker: sender account → recipient pairID.
  const workers = Array.from({ length: options.concurrency }, (_, i) => ({
    sender: randomUUID(),
    recipient: randomUUID(),
    to: `bench${String(i).padStart(35, "0")}`,
    back: `back${String(i).padStart(36, "0")}`,
    receipts: [] as number[],
  }));
  const databases: TestDatabase[] = [];
  const closing: Array<() => Promise<unknown>> = [];
  /** A migrated schema with the workers' routes, and its URL marked with the client's application_name. */
  const lane = async (name: string) => {
    const database = await createTestDatabase(`bench_pg_${name}`);
    databases.push(database);
    await migrate({
      schemaPath: `${ROOT}prisma/location/schema.prisma`,
      migrationsDir: `${ROOT}prisma/location/migrations`,
      url: database.url,
      log: silentMigrations,
    });
    const url = withApplicationName(database.url, application, name);
    const target = parseDatabaseUrl(url);
    const pool = new pg.Pool({
      connectionString: target.connectionString,
      options: `-c search_path=${target.schema}`,
      max: 10,
    });
    closing.push(() => pool.end());
    for (const w of workers)
      await pool.query(
        `INSERT INTO route (pair_id, account_id, peer_pair_id, peer_account_id, connection_id, packet_life_ms) VALUES
           ($1, $2, $3, $4, $5, 604800000), ($3, $4, $1, $2, $5, 604800000)`,
        [w.to, w.recipient, w.back, w.sender, randomUUID()],
      );
    const backends = await postgresBackends(target.connectionString, `${application}_${name}`);
    closing.push(() => backends.close());
    return { url, pool, backends };
  };
  try {
    const raw = await lane("raw");
    // Named, as the relay names its statements (one name per SQL text): parsed and planned once per connection.
    const names = new Map<string, string>();
    const viaRaw = async (input: SyncInput) => {
      const statement = syncStatement(input);
      if (!names.has(statement.text)) names.set(statement.text, `sync_${names.size}`);
      const name = names.get(statement.text);
      const { rows } = await raw.pool.query<SyncRow>({ name, text: statement.text, values: statement.values });
      return readOutcome(rows);
    };
    const relayLane = await lane("relay");
    const relay = openDatabase(relayLane.url, { poolSize: 10 });
    closing.push(() => relay.end());
    const viaRelay = (input: SyncInput) => applySync(relay.sql, input);
    const prismaLane = await lane("prisma");
    const prisma = createLocationDb(createPrismaAdapter(prismaLane.url, { poolSize: 10 }));
    closing.push(() => prisma.$disconnect());
    const viaPrisma = async (input: SyncInput) => readOutcome(await prisma.$queryRaw<SyncRow[]>(syncStatement(input)));
    // As the relay runs it when turned on (SYNC_GROUP_COMMIT_MAX=32): the Syncs of one event-loop turn share a commit.
    const groupLane = await lane("group");
    const grouping = openDatabase(groupLane.url, { poolSize: 10 });
    closing.push(() => grouping.end());
    const groupCommit = new GroupCommit(grouping.sql, { windowMs: 0, maxBatch: 32 });
    const viaGroupCommit = (input: SyncInput) => groupCommit.run(input.accountId, false, (db) => applySync(db, input));

    const result: PostgresResult = { concurrency: options.concurrency, raw: [], relay: [], prisma: [], grouped: [] };
    let nextId = 0;
    const measure = async (
      run: (input: SyncInput) => Promise<Awaited<ReturnType<typeof applySync>>>,
      backendsOf: { find: PidSource },
      batch: number,
    ) => {
      for (const w of workers) w.receipts = [];
      const work = async (index: number) => {
        const w = workers[index];
        const now = new Date();
        const ids = Array.from({ length: batch }, () => nextId++);
        const sent = await run({
          accountId: w.sender,
          now,
          outgoing: ids.map((id) => ({
            pairId: w.to,
            packetId: id,
            blob: Buffer.from(blobFor(id)),
            releaseAt: null,
            slot: 0,
            urgent: false,
          })),
          sendTo: [w.to],
          acks: [],
          receiveUnder: [],
          receiptsSeen: w.receipts.map((packetId) => ({ pairId: w.to, packetId })),
          serverAcks: [],
          inboxLimit: null,
        });
        w.receipts = sent.delivered.map((receipt) => receipt.packetId);
        const acked = await run({
          accountId: w.recipient,
          now,
          outgoing: [],
          sendTo: [],
          acks: ids.map((packetId) => ({ pairId: w.to, packetId })),
          receiveUnder: [w.to],
          receiptsSeen: [],
          serverAcks: [],
          inboxLimit: null,
        });
        return acked.deleted.length;
      };
      // A few untimed rounds first: Prisma compiles each new query shape once, and the pools connect.
      for (let worker = 0; worker < options.concurrency; worker++) for (let i = 0; i < 3; i++) await work(worker);
      const meter = await startCpuMeter({ postgres: backendsOf.find });
      const loop = await closedLoop({ ...options, warmupMs: 0 }, work);
      const cores = await meter();
      const perRow = (used: number) => Math.round(((used * 1000) / Math.max(loop.perSecond, 1)) * 1000) / 1000;
      return {
        batch,
        rowsPerSecond: loop.perSecond,
        latency: loop.latency,
        clientCpuMsPerRow: perRow(cores["load generator"]),
        postgresCpuMsPerRow: perRow(cores.postgres),
      };
    };
    const series = [
      ["P_raw   ", viaRaw, raw.backends, result.raw],
      ["P_relay ", viaRelay, relayLane.backends, result.relay],
      ["P_prisma", viaPrisma, prismaLane.backends, result.prisma],
      ["P_group ", viaGroupCommit, groupLane.backends, result.grouped],
    ] as const;
    for (const batch of BATCH_SIZES)
      for (const [label, run, backends, points] of series) {
        const point = await measure(run, backends, batch);
        points.push(point);
        say(
          `${label} batch ${String(batch).padStart(3)}: ${point.rowsPerSecond} packets/s (send+ack p50 ${point.latency.p50Ms} ms), CPU ms/packet client ${point.clientCpuMsPerRow} postgres ${point.postgresCpuMsPerRow}`,
        );
      }
    return result;
  } finally {
    for (const close of closing.reverse()) await close();
    for (const database of databases) await database.drop();
  }
}
