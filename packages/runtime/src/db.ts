/**
 * Persistence shared by every service: a `pg` pool built from a service database URL,
 * shared by a Prisma driver adapter and direct statements (db/direct.ts), offline migrations (Prisma's schema engine compiled to WebAssembly),
 * and a health probe.
 *
 * URL convention: `postgresql://user@host:port/db?schema=<name>&connection_limit=<n>`.
 * `schema` selects the PostgreSQL schema (default `public`); `connection_limit` caps the
 * pool (an embedded PGlite database must use 1); `pgbouncer=true` (Prisma's name for it)
 * turns named prepared statements off, for servers whose sessions outlive or are shared
 * between client connections (a transaction-mode pooler, PGlite's single session).
 */
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { directDatabase, type DirectDatabase, type StatementNames } from "./db/direct.js";
import { parseDatabaseUrl, poolConfig } from "./db/url.js";

export { parseDatabaseUrl } from "./db/url.js";
export { createMigration, migrate } from "./db/migrations.js";
export type { DirectDatabase, DirectSql } from "./db/direct.js";

export interface PrismaAdapterOptions {
  /** Overrides `?connection_limit=`. */
  poolSize?: number;
  /** Errors of idle pooled connections (e.g. the server restarted); they never crash the process. */
  onPoolError?: (err: Error) => void;
}

/** A service's database: one `pg` pool that Prisma's adapter and direct statements share. */
export interface ServiceDatabase {
  /** For `new PrismaClient({ adapter })`; `$disconnect` leaves the pool to `end`. */
  adapter: PrismaPg;
  /** Hot statements on `pg` directly, named like the adapter's (one name per SQL text). */
  sql: DirectDatabase;
  /** Closes the pool (after the Prisma client's `$disconnect`); once is enough, more is harmless. */
  end(): Promise<void>;
}

/**
 * The pool for a service database URL, shared by Prisma and direct statements: same
 * connections, so the same search_path (the URL's schema), pool size, application_name
 * and other URL settings, and no second pool for `connection_limit` to count.
 */
export function openDatabase(url: string, options: PrismaAdapterOptions = {}): ServiceDatabase {
  const { pool, names, adapter } = pooled(url, options, false);
  let ended: Promise<void> | undefined;
  return { adapter, sql: directDatabase(pool, names), end: () => (ended ??= pool.end()) };
}

/**
 * A `@prisma/adapter-pg` adapter on a pool of its own, closed by the client's
 * `$disconnect`. Prisma qualifies its queries with the URL's schema; the
 * connections' search_path points there too, so raw SQL agrees.
 */
export function createPrismaAdapter(url: string, options: PrismaAdapterOptions = {}): PrismaPg {
  return pooled(url, options, true).adapter;
}

function pooled(url: string, options: PrismaAdapterOptions, disposeExternalPool: boolean) {
  const target = parseDatabaseUrl(url);
  const pool = new pg.Pool(poolConfig(target, options.poolSize === undefined ? {} : { max: options.poolSize }));
  // pg emits idle connections' errors on the pool: without a listener they would crash the process.
  pool.on("error", (error) => options.onPoolError?.(error));
  const names = target.namedStatements ? statementNames() : undefined;
  const adapter = new PrismaPg(pool, {
    schema: target.schema,
    disposeExternalPool,
    // pg treats an undefined name as unnamed; the adapter's type says string.
    statementNameGenerator: names && ((query) => names(query.sql) as string),
  });
  return { pool, names, adapter };
}

// Distinct statements named per process; any beyond (a query shape that varies with its
// input, should one appear) run unnamed, so no connection caches an unbounded number.
const MAX_NAMED_STATEMENTS = 500;

/**
 * Names for prepared statements, one per distinct SQL text. An unnamed statement
 * (the adapter's default) is parsed and planned again on every call: for the
 * relay's Sync statement PostgreSQL spent more CPU planning than running it.
 * A named one is parsed once per connection and its plan cached (PostgreSQL
 * switches to a generic plan after five runs when that is no worse).
 */
function statementNames(limit = MAX_NAMED_STATEMENTS): StatementNames {
  const names = new Map<string, string>();
  return (sql) => {
    let name = names.get(sql);
    if (name === undefined && names.size < limit) {
      name = `seeme_${names.size}`;
      names.set(sql, name);
    }
    return name;
  };
}

/** Anything `checkDatabase` can probe: a generated PrismaClient or a pg pool/client. */
export type Probeable =
  | { $queryRawUnsafe(query: string): PromiseLike<unknown> }
  | { query(sql: string): PromiseLike<unknown> };

/** True when `SELECT 1` answers within `timeoutMs`; never throws (for health checks). */
export async function checkDatabase(db: Probeable, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  const probe = Promise.resolve("$queryRawUnsafe" in db ? db.$queryRawUnsafe("SELECT 1") : db.query("SELECT 1")).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
