/**
 * Persistence shared by every service: a Prisma driver adapter built from a service
 * database URL, offline migrations (Prisma's schema engine compiled to WebAssembly),
 * and a health probe.
 *
 * URL convention: `postgresql://user@host:port/db?schema=<name>&connection_limit=<n>`.
 * `schema` selects the PostgreSQL schema (default `public`); `connection_limit` caps the
 * pool (an embedded PGlite database must use 1); `pgbouncer=true` (Prisma's name for it)
 * turns named prepared statements off, for servers whose sessions outlive or are shared
 * between client connections (a transaction-mode pooler, PGlite's single session).
 */
import { PrismaPg } from "@prisma/adapter-pg";
import { parseDatabaseUrl, poolConfig } from "./db/url.js";

export { parseDatabaseUrl } from "./db/url.js";
export { createMigration, migrate } from "./db/migrations.js";

export interface PrismaAdapterOptions {
  /** Overrides `?connection_limit=`. */
  poolSize?: number;
  /** Errors of idle pooled connections (e.g. the server restarted); the adapter already keeps them from crashing the process. */
  onPoolError?: (err: Error) => void;
}

/**
 * A `@prisma/adapter-pg` adapter for `new PrismaClient({ adapter })`. Prisma qualifies
 * its queries with the URL's schema; the connections' search_path points there too, so
 * raw SQL agrees.
 */
export function createPrismaAdapter(url: string, options: PrismaAdapterOptions = {}): PrismaPg {
  const target = parseDatabaseUrl(url);
  const config = poolConfig(target, options.poolSize === undefined ? {} : { max: options.poolSize });
  return new PrismaPg(config, {
    schema: target.schema,
    onPoolError: options.onPoolError,
    statementNameGenerator: target.namedStatements ? statementNames() : undefined,
  });
}

type StatementNameGenerator = NonNullable<
  NonNullable<ConstructorParameters<typeof PrismaPg>[1]>["statementNameGenerator"]
>;

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
function statementNames(limit = MAX_NAMED_STATEMENTS): StatementNameGenerator {
  const names = new Map<string, string>();
  // pg treats an undefined name as unnamed; the adapter's type says string.
  return (query) => {
    let name = names.get(query.sql);
    if (name === undefined && names.size < limit) {
      name = `seeme_${names.size}`;
      names.set(query.sql, name);
    }
    return name as string;
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
