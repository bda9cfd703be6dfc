import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { migrate, openDatabase, type ServiceDatabase } from "@seeme/runtime/db";
import { isDependencyOutage } from "@seeme/runtime/outage";
import { createTestDatabase, type TestDatabase } from "@seeme/testkit/database";
import { PrismaClient } from "./fixtures/db/generated/client.js";

/**
 * openDatabase (db.ts, db/direct.ts): direct `pg` statements for hot paths on the
 * very pool Prisma's adapter runs on, named like the adapter's, with Prisma's
 * result types, in transactions that commit or roll back whole.
 */
const FIXTURE = fileURLToPath(new URL("./fixtures/prisma/", import.meta.url));
const silent = { info: () => undefined };

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase("runtime-direct-sql");
  await migrate({
    schemaPath: join(FIXTURE, "schema.prisma"),
    migrationsDir: join(FIXTURE, "migrations"),
    url: db.url,
    log: silent,
  });
});
afterAll(() => db.drop());

async function withDatabase(
  url: string,
  poolSize: number,
  use: (database: ServiceDatabase, prisma: PrismaClient) => Promise<void>,
): Promise<void> {
  const database = openDatabase(url, { poolSize });
  const prisma = new PrismaClient({ adapter: database.adapter });
  try {
    await use(database, prisma);
  } finally {
    await prisma.$disconnect();
    await database.end();
    await database.end();
  }
}

const statement = (text: string, values: unknown[] = []) => ({ text, values });

test("Prisma and direct statements share one pool: the URL's schema, application_name and connection_limit", async () => {
  const url = `${db.url}&application_name=direct_sql_test`;
  await withDatabase(url, 1, async (database, prisma) => {
    await prisma.note.create({ data: { body: "from prisma" } });
    // Unqualified: the shared connection's search_path is the URL's schema.
    const rows = await database.sql.query<{ body: string; backend: number; app: string }>(
      statement("SELECT body, pg_backend_pid() AS backend, current_setting('application_name') AS app FROM \"Note\""),
    );
    expect(rows.map((row) => row.body)).toEqual(["from prisma"]);
    expect(rows[0].app).toBe("direct_sql_test");
    const [{ backend }] = await prisma.$queryRawUnsafe<Array<{ backend: number }>>(
      "SELECT pg_backend_pid() AS backend",
    );
    // connection_limit 1 counts both: one backend serves Prisma and the direct statements.
    expect(backend).toBe(rows[0].backend);
  });
});

test("rows read as Prisma's $queryRaw reads them: int8 as bigint, bytea as Uint8Array, timestamptz as Date", async () => {
  await withDatabase(db.url, 2, async (database, prisma) => {
    const text = `SELECT $1::bigint AS big, NULL::bigint AS none, $2::bytea AS bytes, $3::timestamptz AS at,
                         $4::int AS small, $5::text AS label, $6::bigint[] AS ids`;
    const values = [
      9_007_199_254_740_993n,
      Buffer.from([0, 1, 255]),
      new Date("2026-12-01T10:00:00.123Z"),
      7,
      "x",
      [1, 2],
    ];
    const [direct] = await database.sql.query<Record<string, unknown>>(statement(text, values));
    expect(direct.big).toBe(9_007_199_254_740_993n);
    expect(direct.bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(direct.bytes)).toBe(false);
    expect(direct.bytes).toEqual(new Uint8Array([0, 1, 255]));
    const [viaPrisma] = await prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(text, ...values);
    // Only int8[] differs (Prisma: bigint[]; pg: strings); the relay's statements return no arrays.
    const { ids, ...rest } = direct;
    const { ids: prismaIds, ...prismaRest } = viaPrisma;
    expect(rest).toEqual(prismaRest);
    expect(ids).toEqual(["1", "2"]);
    expect(prismaIds).toEqual([1n, 2n]);
  });
});

test("direct statements are named prepared statements, one per SQL text, shared with the adapter's names", async () => {
  const count = 'SELECT count(*) AS n FROM "Note" WHERE body = $1';
  await withDatabase(db.url, 1, async (database, prisma) => {
    // Prisma first: the direct run of the same text reuses its name on the one connection (pg refuses a name reused for another text).
    await prisma.$queryRawUnsafe(count, "a");
    for (let i = 0; i < 3; i++) await database.sql.query(statement(count, ["b"]));
    const prepared = await database.sql.query<{ name: string; statement: string }>(
      statement("SELECT name, statement FROM pg_prepared_statements"),
    );
    expect(prepared.filter((row) => row.statement === count)).toEqual([
      { name: expect.stringMatching(/^seeme_\d+$/), statement: count },
    ]);
  });
  // ?pgbouncer=true: nothing prepared by name.
  await withDatabase(`${db.url}&pgbouncer=true`, 1, async (database) => {
    await database.sql.query(statement(count, ["c"]));
    const prepared = await database.sql.query<{ name: string }>(statement("SELECT name FROM pg_prepared_statements"));
    expect(prepared).toEqual([]);
  });
});

test("a transaction commits whole, or rolls back whole and rethrows; its connection then serves again", async () => {
  await withDatabase(db.url, 1, async (database) => {
    const insert = (body: string) => statement('INSERT INTO "Note" (body) VALUES ($1)', [body]);
    const bodies = async () =>
      (
        await database.sql.query<{ body: string }>(
          statement("SELECT body FROM \"Note\" WHERE body LIKE 'tx-%' ORDER BY body"),
        )
      ).map((row) => row.body);
    const result = await database.sql.transaction(async (tx) => {
      await tx.query(insert("tx-1"));
      await tx.query(insert("tx-2"));
      const [{ level }] = await tx.query<{ level: string }>(
        statement("SELECT current_setting('transaction_isolation') AS level"),
      );
      return level;
    });
    expect(result).toBe("read committed");
    expect(await bodies()).toEqual(["tx-1", "tx-2"]);

    const failure = database.sql.transaction(async (tx) => {
      await tx.query(insert("tx-3"));
      await tx.query(statement("SELECT 1 / 0"));
    });
    await expect(failure).rejects.toMatchObject({ code: "22012" });
    expect(await bodies()).toEqual(["tx-1", "tx-2"]);
    // The connection was not left inside the failed transaction: what it runs next is committed
    // (checked after the pool has closed it, below).
    await database.sql.query(insert("tx-4"));
  });
  await withDatabase(db.url, 1, async (database) => {
    const rows = await database.sql.query<{ body: string }>(
      statement(`SELECT body FROM "Note" WHERE body LIKE 'tx-%' ORDER BY body`),
    );
    expect(rows.map((row) => row.body)).toEqual(["tx-1", "tx-2", "tx-4"]);
  });
});

test("an unreachable database is a dependency outage (Unavailable to callers), not a bug", async () => {
  const url = new URL(db.url);
  url.port = "1";
  await withDatabase(url.toString(), 1, async (database) => {
    const error = await database.sql.query(statement("SELECT 1")).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "ECONNREFUSED" });
    expect(isDependencyOutage(error)).toBe(true);
    const inTransaction = await database.sql.transaction(async () => undefined).catch((caught: unknown) => caught);
    expect(isDependencyOutage(inTransaction)).toBe(true);
  });
});

test("a statement that cannot get a connection in time (the pool is busy) is an outage to retry, not a bug", async () => {
  await withDatabase(db.url, 1, async (database) => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The only connection, held by a transaction until the statement has given up (the pool's 5 s).
    const holding = database.sql.transaction(async (tx) => {
      await tx.query(statement("SELECT 1"));
      await released;
    });
    const error = await database.sql.query(statement("SELECT 1")).catch((caught: unknown) => caught);
    release();
    await holding;
    expect(error).toMatchObject({ message: expect.stringMatching(/timeout exceeded when trying to connect/) });
    expect(isDependencyOutage(error)).toBe(true);
  });
}, 15_000);
