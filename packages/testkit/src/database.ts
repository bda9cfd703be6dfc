import { randomBytes } from "node:crypto";
import pg from "pg";

export interface TestDatabase {
  /** `TEST_DATABASE_URL` with `?schema=<schema>`: pass it as a service's database URL. */
  url: string;
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** The machine's shared PostgreSQL; suites isolate themselves by schema, not database. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

async function run(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, uniquely named, empty schema for one suite. The label (e.g. "identity") makes
 * leftovers from crashed runs recognisable; the random suffix keeps parallel runs apart.
 */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .slice(0, 30);
  const schema = `t_${slug}_${randomBytes(5).toString("hex")}`;
  await run(`CREATE SCHEMA "${schema}"`);
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("schema", schema);
  return {
    url: url.toString(),
    schema,
    drop: () => run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  };
}
