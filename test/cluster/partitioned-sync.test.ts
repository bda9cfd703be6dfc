import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate, openDatabase, type ServiceDatabase } from "@seeme/runtime/db";
import { createLogger } from "@seeme/runtime/logger";
import { createTestDatabase, type TestDatabase } from "@seeme/testkit/database";
import { newPairId } from "@seeme/testkit/pairing";
import { applySync, type SyncInput } from "../../services/location/src/db/sync.js";

/**
 * docs/capacity.md, "past one PostgreSQL": the relay's tables hash-partitioned by
 * the recipient pairID (route by its own pair_id), and the relay's one-statement
 * Sync run against them unchanged. What had to change is what this file does to
 * the migrated schema: route's UNIQUE (peer_pair_id) cannot stay (a unique index
 * on a partitioned table must contain the partition key), so it becomes a plain index.
 */
const PARTITIONS = 8;
const TABLES: Array<{ table: string; key: string; drop?: string[]; index?: string[] }> = [
  { table: "packet", key: "recipient_pair_id" },
  { table: "delivery_receipt", key: "recipient_pair_id" },
  { table: "seen_packet", key: "recipient_pair_id" },
  { table: "seen_range", key: "recipient_pair_id" },
  {
    table: "route",
    key: "pair_id",
    drop: ["route_peer_pair_id_key"],
    index: ["CREATE INDEX route_peer_pair_id_idx ON route (peer_pair_id)"],
  },
];

let db: TestDatabase;
let pool: pg.Pool;
let relay: ServiceDatabase;

/** Re-creates `table` as PARTITION BY HASH (key) with the same columns, defaults, keys and indexes; rows are copied. */
async function partition(
  client: pg.Pool,
  { table, key, drop = [], index = [] }: (typeof TABLES)[number],
): Promise<void> {
  const indexes = await client.query<{ indexname: string; indexdef: string }>(
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1",
    [table],
  );
  await client.query(`ALTER TABLE ${table} RENAME TO ${table}_unpartitioned`);
  // The old table keeps owning its sequences (packet.seq): the new one's defaults still use them.
  await client.query(
    `CREATE TABLE ${table} (LIKE ${table}_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
       PARTITION BY HASH (${key})`,
  );
  for (let i = 0; i < PARTITIONS; i++) {
    await client.query(
      `CREATE TABLE ${table}_p${i} PARTITION OF ${table} FOR VALUES WITH (MODULUS ${PARTITIONS}, REMAINDER ${i})`,
    );
  }
  for (const { indexname, indexdef } of indexes.rows) {
    if (drop.includes(indexname)) continue;
    await client.query(`ALTER INDEX ${indexname} RENAME TO ${indexname}_old`);
    // Primary keys are unique indexes named *_pkey; re-created as constraints so ON CONFLICT finds them.
    if (indexname.endsWith("_pkey")) {
      const columns = /\((.*)\)$/.exec(indexdef)![1];
      await client.query(`ALTER TABLE ${table} ADD CONSTRAINT ${indexname} PRIMARY KEY (${columns})`);
    } else {
      await client.query(indexdef.replace(/ ON \S+ /, ` ON ${table} `));
    }
  }
  for (const statement of index) await client.query(statement);
  await client.query(`INSERT INTO ${table} SELECT * FROM ${table}_unpartitioned`);
}

beforeAll(async () => {
  db = await createTestDatabase("partitioned_sync");
  const folder = new URL("../../prisma/location/", import.meta.url);
  await migrate({
    schemaPath: fileURLToPath(new URL("schema.prisma", folder)),
    migrationsDir: fileURLToPath(new URL("migrations/", folder)),
    url: db.url,
    log: createLogger("partitioned-sync", "silent"),
  });
  const url = new URL(db.url);
  url.searchParams.delete("schema");
  pool = new pg.Pool({ connectionString: url.toString(), max: 1, options: `-c search_path=${db.schema}` });
  for (const table of TABLES) await partition(pool, table);
  relay = openDatabase(db.url);
}, 60_000);

afterAll(async () => {
  await relay?.end();
  await pool?.end();
  await db?.drop();
});

function sync(input: Partial<SyncInput> & Pick<SyncInput, "accountId">): ReturnType<typeof applySync> {
  const outgoing = input.outgoing ?? [];
  const acks = input.acks ?? [];
  return applySync(relay.sql, {
    now: new Date(),
    outgoing,
    sendTo: [...new Set(outgoing.map((p) => p.pairId))],
    acks,
    receiveUnder: [...new Set(acks.map((a) => a.pairId))],
    receiptsSeen: [],
    serverAcks: [],
    inboxLimit: 100,
    ...input,
  });
}

test("the tables are partitioned (8 hash partitions each)", async () => {
  const { rows } = await pool.query<{ relname: string; parts: string }>(
    `SELECT c.relname, count(i.inhrelid) AS parts FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_inherits i ON i.inhparent = c.oid
      WHERE n.nspname = $1 GROUP BY c.relname ORDER BY c.relname`,
    [db.schema],
  );
  expect(rows).toEqual(
    TABLES.map(({ table }) => ({ relname: table, parts: String(PARTITIONS) })).sort((a, b) =>
      a.relname.localeCompare(b.relname),
    ),
  );
});

test("Sync stores, dedupes, delivers, acknowledges and reports receipts on the partitioned tables", async () => {
  const [a, b] = [randomUUID(), randomUUID()];
  const [aPair, bPair] = [newPairId(), newPairId()];
  await pool.query(
    `INSERT INTO route (pair_id, account_id, peer_pair_id, peer_account_id, connection_id, packet_life_ms)
     VALUES ($1, $2, $3, $4, $5, 86400000), ($3, $4, $1, $2, $5, 86400000)`,
    [bPair, b, aPair, a, randomUUID()],
  );
  const packet = (packetId: number, slot = 0) => ({
    pairId: bPair,
    packetId,
    blob: new Uint8Array([packetId]),
    releaseAt: null,
    slot,
    urgent: false,
  });

  const sent = await sync({ accountId: a, outgoing: [packet(1), packet(2), packet(3, 1), packet(4, 1)] });
  expect(sent.allowed).toBe(true);
  // Packet 3 is superseded in its latest-value slot by 4 within the same request.
  expect(sent.stored.map((p) => p.packetId)).toEqual([1, 2, 4]);
  expect(sent.stored.every((p) => p.accountId === b)).toBe(true);
  // A resend is not stored twice (seen_packet, partitioned).
  const resend = await sync({ accountId: a, outgoing: [packet(1)] });
  expect(resend.stored).toEqual([]);
  // The receipt written by the first request is reported by the sender's next one.
  expect(resend.superseded.map((p) => p.packetId)).toEqual([3]);

  const read = await sync({ accountId: b });
  expect(read.inbox.map((e) => e.packet.packetId)).toEqual([1, 2, 4]);
  const acked = await sync({ accountId: b, acks: [1, 2, 4].map((packetId) => ({ pairId: bPair, packetId })) });
  expect(acked.deleted.map((p) => p.packetId).sort()).toEqual([1, 2, 4]);
  expect(acked.inbox).toEqual([]);

  // Receipts stay until acknowledged (receipts_seen): the superseded one is acknowledged here.
  const receipts = await sync({ accountId: a, receiptsSeen: [{ pairId: bPair, packetId: 3 }] });
  expect(receipts.delivered.map((p) => p.packetId).sort()).toEqual([1, 2, 4]);
  expect(receipts.superseded).toEqual([]);
  const done = await sync({ accountId: a, receiptsSeen: [1, 2, 4].map((packetId) => ({ pairId: bPair, packetId })) });
  expect(done.delivered).toEqual([]);

  // Someone else's pairID is refused as on the unpartitioned schema.
  expect((await sync({ accountId: randomUUID(), outgoing: [packet(9)] })).allowed).toBe(false);
});

test("a single-pairID lookup touches one partition (pruning)", async () => {
  const plan = await pool.query<{ "QUERY PLAN": string }>("EXPLAIN SELECT * FROM packet WHERE recipient_pair_id = 'x'");
  const scanned =
    plan.rows
      .map((row) => row["QUERY PLAN"])
      .join("\n")
      .match(/packet_p\d/g) ?? [];
  expect(new Set(scanned).size).toBe(1);
});
