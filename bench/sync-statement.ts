/**
 * `npx tsx bench/sync-statement.ts` (not part of `npm run bench`): what
 * PostgreSQL spends on the relay's Sync statement (db/sync.ts) sent unnamed
 * (parsed and planned on every call, the Prisma adapter's default) and as a
 * named prepared statement (what the services now send): backend CPU per
 * statement, read from /proc for the one connection used, at 1 and 10 packets
 * per statement; plus EXPLAIN ANALYZE's planning and execution time of one
 * unnamed run. Fresh schema, the location migrations, 10,000 other routes.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { syncStatement, type SyncInput } from "@seeme/location/db/sync";
import { migrate, parseDatabaseUrl } from "@seeme/runtime/db";
import { createTestDatabase } from "@seeme/testkit/database";
import { ROOT } from "./lib/stack.js";

const RUNS = 400;
const database = await createTestDatabase("bench_statement");
try {
  await migrate({
    schemaPath: `${ROOT}prisma/location/schema.prisma`,
    migrationsDir: `${ROOT}prisma/location/migrations`,
    url: database.url,
    log: { info: () => undefined },
  });
  const target = parseDatabaseUrl(database.url);
  const client = new pg.Client({
    connectionString: target.connectionString,
    options: `-c search_path=${target.schema}`,
  });
  await client.connect();
  try {
    const sender = randomUUID();
    const to = "x".repeat(40);
    await client.query("INSERT INTO route VALUES ($1, $2, $3, $4, $5, 604800000), ($3, $4, $1, $2, $5, 604800000)", [
      to,
      randomUUID(),
      "y".repeat(40),
      sender,
      randomUUID(),
    ]);
    await client.query(`INSERT INTO route SELECT md5(i::text) || 'abcdefgh', md5((i + 1)::text), md5(i::text) || 'ijklmnop',
                          md5((i + 2)::text), md5(i::text), 604800000 FROM generate_series(1, 10000) i`);
    await client.query("ANALYZE");
    const { pid } = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0];
    const ticks = () => {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return Number(fields[11]) + Number(fields[12]);
    };
    let nextId = 0;
    // A sender's Sync of `batch` new packets, as the relay runs it (no inbox read: skip_incoming).
    const input = (batch: number): SyncInput => ({
      accountId: sender,
      now: new Date(),
      outgoing: Array.from({ length: batch }, () => ({
        pairId: to,
        packetId: nextId++,
        blob: Buffer.alloc(128, 1),
        releaseAt: null,
        slot: 0,
        urgent: false,
      })),
      sendTo: [to],
      acks: [],
      receiveUnder: [],
      receiptsSeen: [],
      serverAcks: [],
      inboxLimit: null,
    });
    for (const batch of [1, 10]) {
      const once = syncStatement(input(batch));
      const plan = await client.query({ text: `EXPLAIN (ANALYZE, SUMMARY) ${once.text}`, values: once.values });
      const times = plan.rows.map((row) => row["QUERY PLAN"] as string).filter((line) => /Time:/.test(line));
      console.log(`batch ${batch}, one unnamed run: ${times.join("; ")}`);
      for (const mode of ["unnamed", "named", "unnamed", "named"]) {
        const from = ticks();
        for (let i = 0; i < RUNS; i++) {
          const statement = syncStatement(input(batch));
          await client.query({
            name: mode === "named" ? `sync_${batch}` : undefined,
            text: statement.text,
            values: statement.values,
          });
        }
        console.log(`  ${mode}: backend CPU ${(((ticks() - from) * 10) / RUNS).toFixed(3)} ms per statement`);
      }
      const plans = await client.query(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1",
        [`sync_${batch}`],
      );
      console.log(`  named plans used: ${JSON.stringify(plans.rows[0])}`);
    }
  } finally {
    await client.end();
  }
} finally {
  await database.drop();
}
