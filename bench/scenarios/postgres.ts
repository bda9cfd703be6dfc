import pg from "pg";
import { createLocationDb } from "@seeme/location/db/client";
import { createPrismaAdapter, migrate, parseDatabaseUrl } from "@seeme/runtime/db";
import { createTestDatabase } from "@seeme/testkit/database";
import { ROOT } from "../lib/stack.js";
import { blobFor, closedLoop, type LatencySummary } from "../lib/stats.js";
import type { Progress } from "../lib/progress.js";

const BATCH_SIZES = [1, 10, 100] as const;

interface PostgresPoint {
  batch: number;
  /** Rows inserted and then deleted per second (one row = one packet). */
  rowsPerSecond: number;
  /** One insert plus its delete. */
  latency: LatencySummary;
}

export interface PostgresResult {
  concurrency: number;
  raw: PostgresPoint[];
  prisma: PostgresPoint[];
}

const silentMigrations = { info: () => undefined };

/**
 * P_raw and P_prisma: insert a batch of packets, then delete exactly those rows,
 * on the location service's own `packet` table (same migrations, same indexes),
 * from `concurrency` workers each writing its own recipient pairID. The pools
 * have the services' default size (10).
 */
export async function benchPostgres(
  say: Progress,
  options: { durationMs: number; concurrency: number },
): Promise<PostgresResult> {
  const database = await createTestDatabase("bench_pg");
  try {
    await migrate({
      schemaPath: `${ROOT}prisma/location/schema.prisma`,
      migrationsDir: `${ROOT}prisma/location/migrations`,
      url: database.url,
      log: silentMigrations,
    });
    const target = parseDatabaseUrl(database.url);
    const pool = new pg.Pool({
      connectionString: target.connectionString,
      options: `-c search_path=${target.schema}`,
      max: 10,
    });
    const prisma = createLocationDb(createPrismaAdapter(database.url, { poolSize: 10 }));
    const pairOf = (worker: number) => `bench${String(worker).padStart(35, "0")}`;
    const sender = "S".repeat(40);
    const result: PostgresResult = { concurrency: options.concurrency, raw: [], prisma: [] };
    let nextId = 0;
    // A few untimed rounds first: Prisma compiles each new query shape once, and the pools connect.
    const measure = async (work: (worker: number) => Promise<number>) => {
      for (let worker = 0; worker < options.concurrency; worker++) for (let i = 0; i < 3; i++) await work(worker);
      return closedLoop({ ...options, warmupMs: options.durationMs / 4 }, work);
    };
    try {
      for (const batch of BATCH_SIZES) {
        const rows = (worker: number) => {
          const now = new Date();
          const expires = new Date(now.getTime() + 3_600_000);
          return Array.from({ length: batch }, () => {
            const id = nextId++;
            return {
              recipientPairId: pairOf(worker),
              packetId: BigInt(id),
              senderPairId: sender,
              blob: blobFor(id),
              storedAt: now,
              expiresAt: expires,
            };
          });
        };
        // The same statements a hand-written relay would send: one multi-row INSERT, one DELETE by key.
        const values = Array.from(
          { length: batch },
          (_, i) => `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`,
        ).join(", ");
        const insertSql = `INSERT INTO packet (recipient_pair_id, packet_id, sender_pair_id, blob, stored_at, expires_at) VALUES ${values}`;
        const rawWork = async (worker: number) => {
          const batchRows = rows(worker);
          await pool.query(
            insertSql,
            batchRows.flatMap((r) => [
              r.recipientPairId,
              r.packetId.toString(),
              r.senderPairId,
              r.blob,
              r.storedAt,
              r.expiresAt,
            ]),
          );
          const deleted = await pool.query(
            "DELETE FROM packet WHERE recipient_pair_id = $1 AND packet_id = ANY($2::bigint[])",
            [pairOf(worker), batchRows.map((r) => r.packetId.toString())],
          );
          return deleted.rowCount ?? 0;
        };
        const raw = await measure(rawWork);
        result.raw.push({ batch, rowsPerSecond: raw.perSecond, latency: raw.latency });
        say(
          `P_raw    batch ${String(batch).padStart(3)}: ${raw.perSecond} rows/s (insert+delete p50 ${raw.latency.p50Ms} ms)`,
        );

        const prismaWork = async (worker: number) => {
          const batchRows = rows(worker);
          await prisma.packet.createMany({ data: batchRows });
          const { count } = await prisma.packet.deleteMany({
            where: { recipientPairId: pairOf(worker), packetId: { in: batchRows.map((r) => r.packetId) } },
          });
          return count;
        };
        const viaPrisma = await measure(prismaWork);
        result.prisma.push({ batch, rowsPerSecond: viaPrisma.perSecond, latency: viaPrisma.latency });
        say(
          `P_prisma batch ${String(batch).padStart(3)}: ${viaPrisma.perSecond} rows/s (insert+delete p50 ${viaPrisma.latency.p50Ms} ms)`,
        );
      }
    } finally {
      await pool.end();
      await prisma.$disconnect();
    }
    return result;
  } finally {
    await database.drop();
  }
}
