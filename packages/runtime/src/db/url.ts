import type { PoolConfig } from "pg";

/** What a service database URL says beyond what `pg` itself understands. */
export interface DatabaseTarget {
  /** The URL without the Prisma-style parameters, safe to hand to `pg`. */
  connectionString: string;
  /** PostgreSQL schema the service owns (`?schema=`, default `public`). */
  schema: string;
  /** Pool size from `?connection_limit=`; undefined leaves pg's default (10). */
  poolSize: number | undefined;
  /** False with `?pgbouncer=true`: statements go unnamed (see createPrismaAdapter). */
  namedStatements: boolean;
}

/** A malformed database URL; the message completes "<VARIABLE> …" (see ConfigError). */
export class DatabaseUrlError extends Error {
  constructor(problem: string) {
    super(problem);
    this.name = "DatabaseUrlError";
  }
}

// Schema names end up in `-c search_path=` and in SQL identifiers; keeping them to
// plain identifiers avoids having to quote them correctly in both places.
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Splits `?schema=`, `?connection_limit=` and `?pgbouncer=` (Prisma's conventional names) off a URL. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError("is not a URL (postgresql://user@host:5432/db?schema=name)");
  }
  const schema = parsed.searchParams.get("schema") ?? "public";
  if (!SCHEMA_NAME.test(schema)) {
    throw new DatabaseUrlError(
      `has an invalid schema name in ?schema=: ${JSON.stringify(schema)} (letters, digits and _, not starting with a digit)`,
    );
  }
  const limit = parsed.searchParams.get("connection_limit");
  const poolSize = limit === null ? undefined : Number(limit);
  if (poolSize !== undefined && !(Number.isInteger(poolSize) && poolSize > 0)) {
    throw new DatabaseUrlError(`has an invalid connection_limit: ${JSON.stringify(limit)} (a positive integer)`);
  }
  const namedStatements = parsed.searchParams.get("pgbouncer") !== "true";
  parsed.searchParams.delete("schema");
  parsed.searchParams.delete("connection_limit");
  parsed.searchParams.delete("pgbouncer");
  return { connectionString: parsed.toString(), schema, poolSize, namedStatements };
}

/**
 * pg pool settings for a target. search_path is set on every connection so that raw
 * SQL (migration scripts, `$queryRaw`) lands in the service's schema like Prisma's
 * own schema-qualified queries do.
 */
export function poolConfig(target: DatabaseTarget, overrides: PoolConfig = {}): PoolConfig {
  return {
    connectionString: target.connectionString,
    options: `-c search_path=${target.schema}`,
    max: target.poolSize,
    // Fail fast instead of queueing forever when the database is unreachable.
    connectionTimeoutMillis: 5000,
    ...overrides,
  };
}
