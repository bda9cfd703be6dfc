import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { checkDatabase, createMigration, createPrismaAdapter, migrate, parseDatabaseUrl } from "@seeme/runtime/db";
import { isDependencyOutage } from "@seeme/runtime/outage";
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from "@seeme/testkit/database";
import { startPglite } from "../../../scripts/pglite.js";
import { PrismaClient } from "./fixtures/db/generated/client.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/prisma/", import.meta.url));
const schemaPath = join(FIXTURE, "schema.prisma");
const migrationsDir = join(FIXTURE, "migrations");

function recordingLogger() {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  return { lines, info: (obj: object, msg: string) => void lines.push({ obj: obj as Record<string, unknown>, msg }) };
}

async function tablesIn(schema: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [schema],
    );
    return rows.map((r) => r.table_name);
  } finally {
    await client.end();
  }
}

describe("database URLs", () => {
  test("schema and connection_limit are split off for pg", () => {
    expect(parseDatabaseUrl("postgresql://u@h:5/db?schema=identity&connection_limit=1&sslmode=disable")).toEqual({
      connectionString: "postgresql://u@h:5/db?sslmode=disable",
      schema: "identity",
      poolSize: 1,
      namedStatements: true,
    });
    expect(parseDatabaseUrl("postgresql://u@h/db").schema).toBe("public");
    expect(() => parseDatabaseUrl("postgresql://u@h/db?schema=a;drop")).toThrow("invalid schema name");
    expect(() => parseDatabaseUrl("postgresql://u@h/db?connection_limit=0")).toThrow("invalid connection_limit");
  });
});

describe("migrate on PostgreSQL", () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase("runtime-db");
  });
  afterEach(async () => {
    await db.drop();
  });

  test("applies the committed migrations once and records them", async () => {
    const log = recordingLogger();
    const [migration] = await readdir(migrationsDir).then((names) => names.filter((n) => n.endsWith("_init")));
    expect(await migrate({ schemaPath, migrationsDir, url: db.url, log })).toEqual([migration]);
    expect(log.lines[0]).toEqual({ obj: { migration, schema: db.schema }, msg: "migration applied" });
    expect(await tablesIn(db.schema)).toEqual(["Note", "_prisma_migrations"]);

    const again = recordingLogger();
    expect(await migrate({ schemaPath, migrationsDir, url: db.url, log: again })).toEqual([]);
    expect(again.lines.map((l) => l.msg)).toEqual(["database schema up to date"]);
  });

  test("creates a missing schema, and concurrent callers apply each migration once", async () => {
    await db.drop();
    const results = await Promise.all(
      [1, 2].map(() => migrate({ schemaPath, migrationsDir, url: db.url, log: recordingLogger() })),
    );
    expect(results.flat()).toHaveLength(1);
    expect(await tablesIn(db.schema)).toEqual(["Note", "_prisma_migrations"]);
  });

  test("a Prisma client reads and writes in the URL's schema, and the probe sees it", async () => {
    await migrate({ schemaPath, migrationsDir, url: db.url, log: recordingLogger() });
    const prisma = new PrismaClient({ adapter: createPrismaAdapter(db.url, { poolSize: 2 }) });
    try {
      const note = await prisma.note.create({ data: { body: "hello", mood: "BUSY" } });
      expect(await prisma.note.findMany({ where: { mood: "BUSY" } })).toEqual([note]);
      // Raw SQL is unqualified: the connection's search_path must point at the schema.
      expect(await prisma.$queryRawUnsafe('SELECT body FROM "Note"')).toEqual([{ body: "hello" }]);
      expect(await checkDatabase(prisma)).toBe(true);
    } finally {
      await prisma.$disconnect();
    }
  });

  test("queries go as named prepared statements, parsed once per connection; ?pgbouncer=true sends them unnamed", async () => {
    await migrate({ schemaPath, migrationsDir, url: db.url, log: recordingLogger() });
    for (const [url, named] of [
      [db.url, true],
      [`${db.url}&pgbouncer=true`, false],
    ] as const) {
      // One connection, so the session asked below is the one that ran the query.
      const prisma = new PrismaClient({ adapter: createPrismaAdapter(url, { poolSize: 1 }) });
      try {
        for (let i = 0; i < 2; i++) await prisma.note.findMany({ where: { mood: "BUSY" } });
        const prepared = await prisma.$queryRawUnsafe<Array<{ statement: string }>>(
          "SELECT statement FROM pg_prepared_statements",
        );
        expect(prepared.filter((row) => row.statement.includes('"Note"'))).toHaveLength(named ? 1 : 0);
      } finally {
        await prisma.$disconnect();
      }
    }
  });

  test("a transaction that cannot get a connection in time (the pool is busy) is an outage to retry, not a bug", async () => {
    await migrate({ schemaPath, migrationsDir, url: db.url, log: recordingLogger() });
    const prisma = new PrismaClient({ adapter: createPrismaAdapter(db.url, { poolSize: 1 }) });
    try {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      // The only connection, held by a transaction until the second one has given up.
      const holding = prisma.$transaction(async (tx) => {
        await tx.note.findMany();
        await released;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const waiting = prisma.$transaction(async (tx) => tx.note.findMany(), { maxWait: 200 });
      const error = await waiting.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      release();
      await holding;
      expect(error).toMatchObject({ code: "P2028" });
      expect(isDependencyOutage(error)).toBe(true);
    } finally {
      await prisma.$disconnect();
    }
  });
});

describe("hand-written migrations", () => {
  let dir: string;
  let db: TestDatabase;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "seeme-migrations-"));
    await cp(FIXTURE, dir, { recursive: true });
    db = await createTestDatabase("runtime-db-sql");
  });
  afterEach(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  async function addMigration(name: string, sql: string): Promise<void> {
    await mkdir(join(dir, "migrations", name));
    await writeFile(join(dir, "migrations", name, "migration.sql"), sql);
  }

  test("run whole: semicolons in literals and function bodies survive", async () => {
    await addMigration(
      "20990101000000_seed",
      `INSERT INTO "Note" ("body") VALUES ('a; b');
CREATE FUNCTION note_count() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM "Note");
END;
$$;
`,
    );
    const options = { schemaPath: join(dir, "schema.prisma"), migrationsDir: join(dir, "migrations"), url: db.url };
    expect(await migrate({ ...options, log: recordingLogger() })).toHaveLength(2);
    const prisma = new PrismaClient({ adapter: createPrismaAdapter(db.url) });
    try {
      expect(await prisma.$queryRawUnsafe('SELECT body, note_count() AS n FROM "Note"')).toEqual([
        { body: "a; b", n: 1n },
      ]);
    } finally {
      await prisma.$disconnect();
    }
  });

  test("a failing migration is rolled back as a whole and stops the start", async () => {
    await addMigration("20990101000000_broken", `CREATE TABLE "Half" (id int);\nSELECT no_such_function();\n`);
    const options = { schemaPath: join(dir, "schema.prisma"), migrationsDir: join(dir, "migrations"), url: db.url };
    await expect(migrate({ ...options, log: recordingLogger() })).rejects.toThrow("no_such_function");
    expect(await tablesIn(db.schema)).toEqual(["Note", "_prisma_migrations"]);
  });
});

describe("checkDatabase", () => {
  test("is false, not an exception, when the database is unreachable", async () => {
    const pool = new pg.Pool({ connectionString: "postgresql://postgres@127.0.0.1:1/test" });
    pool.on("error", () => {});
    try {
      expect(await checkDatabase(pool, 500)).toBe(false);
    } finally {
      await pool.end();
    }
  });

  test("is false when the answer takes longer than the timeout", async () => {
    // The pool's only connection is busy, so the probe's SELECT 1 has to wait.
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    try {
      const busy = pool.query("SELECT pg_sleep(0.5)");
      expect(await checkDatabase(pool, 100)).toBe(false);
      await busy;
      expect(await checkDatabase(pool, 1000)).toBe(true);
    } finally {
      await pool.end();
    }
  });
});

describe("createMigration", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "seeme-migrations-"));
    await cp(FIXTURE, dir, { recursive: true });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("writes nothing when schema.prisma matches the migrations", async () => {
    const options = {
      schemaPath: join(dir, "schema.prisma"),
      migrationsDir: join(dir, "migrations"),
      url: TEST_DATABASE_URL,
    };
    expect(await createMigration({ ...options, name: "noop" })).toBeNull();
    expect((await readdir(options.migrationsDir)).filter((n) => n.endsWith("_noop"))).toEqual([]);
  });

  test("writes schema-independent SQL for a model change, which then applies", async () => {
    const options = {
      schemaPath: join(dir, "schema.prisma"),
      migrationsDir: join(dir, "migrations"),
      url: TEST_DATABASE_URL,
    };
    const schema = await readFile(options.schemaPath, "utf8");
    await writeFile(
      options.schemaPath,
      schema.replace("  body      String\n", "  body      String\n  title     String?\n") +
        "\nmodel Tag {\n  name String @id\n}\n",
    );

    const created = await createMigration({ ...options, name: "Add title & tags" });
    expect(created).toMatch(/[/\\]\d{14}_add_title_tags$/);
    const sql = await readFile(join(created!, "migration.sql"), "utf8");
    expect(sql).toContain('ALTER TABLE "Note" ADD COLUMN     "title" TEXT;');
    expect(sql).toContain('CREATE TABLE "Tag"');
    expect(sql).not.toMatch(/seeme_shadow|CREATE SCHEMA/);

    const db = await createTestDatabase("runtime-db-create");
    try {
      const applied = await migrate({ ...options, url: db.url, log: recordingLogger() });
      expect(applied).toHaveLength(2);
      expect(await tablesIn(db.schema)).toEqual(["Note", "Tag", "_prisma_migrations"]);
    } finally {
      await db.drop();
    }
    // The scratch schema used as shadow database is gone.
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    const { rowCount } = await client.query("SELECT 1 FROM pg_namespace WHERE nspname LIKE 'seeme_shadow_%'");
    await client.end();
    expect(rowCount).toBe(0);
  });
});

describe("PGlite", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "seeme-pglite-"));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  // Two PGlite (WebAssembly) starts with migrations: ~10 s on a quiet machine, over 30 s on a busy one.
  test("migrates, serves Prisma over one connection, and keeps data across restarts", async () => {
    const first = await startPglite({ dataDir, port: 0 });
    try {
      expect(parseDatabaseUrl(first.url).poolSize).toBe(1);
      expect(await migrate({ schemaPath, migrationsDir, url: first.url, log: recordingLogger() })).toHaveLength(1);
      const prisma = new PrismaClient({ adapter: createPrismaAdapter(first.url) });
      try {
        await prisma.$transaction([
          prisma.note.create({ data: { body: "kept" } }),
          prisma.note.create({ data: { body: "too" } }),
        ]);
        expect(await checkDatabase(prisma)).toBe(true);
      } finally {
        await prisma.$disconnect();
      }
    } finally {
      await first.stop();
    }

    const second = await startPglite({ dataDir, port: 0 });
    try {
      expect(await migrate({ schemaPath, migrationsDir, url: second.url, log: recordingLogger() })).toEqual([]);
      const prisma = new PrismaClient({ adapter: createPrismaAdapter(second.url) });
      try {
        const notes = await prisma.note.findMany({ orderBy: { id: "asc" } });
        expect(notes.map((n) => [n.body, n.mood])).toEqual([
          ["kept", "CALM"],
          ["too", "CALM"],
        ]);
      } finally {
        await prisma.$disconnect();
      }
    } finally {
      await second.stop();
    }
  }, 120_000);
});
