import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { parseDatabaseUrl, poolConfig } from "./db/url.js";
import type { Logger } from "./logger.js";
import { RateLimiter, type RateLimit } from "./rate-limit.js";

/**
 * Limits every replica of a service shares, kept in the service's own PostgreSQL
 * schema (why PostgreSQL and not NATS KV: docs/cluster.md). A token bucket is one
 * UPSERT: the row lock serialises replicas, so two replicas together grant no more
 * than one bucket holds, with no read-modify-write retries. The tables are UNLOGGED:
 * no WAL on the hot path, and a crash only refills the buckets (a bucket that
 * forgets is generous, never wrong). Limit rows carry no account-to-pairID link:
 * each row holds one key.
 */
export interface Limiter {
  /** Takes `cost` tokens for `key`; false when the bucket is empty (nothing is taken then). */
  tryTake(key: string, cost?: number): boolean | Promise<boolean>;
  /** Like tryTake, but throws ResourceExhausted naming what was limited. */
  take(key: string, what: string, cost?: number): void | Promise<void>;
}

const BUCKETS = "seeme_rate_bucket";
const LEASES = "seeme_stream_lease";

const SETUP = [
  `CREATE UNLOGGED TABLE IF NOT EXISTS ${BUCKETS} (
     name text NOT NULL, key text NOT NULL,
     tokens float8 NOT NULL, updated_ms float8 NOT NULL, granted boolean NOT NULL,
     PRIMARY KEY (name, key))`,
  `CREATE UNLOGGED TABLE IF NOT EXISTS ${LEASES} (
     id uuid PRIMARY KEY, name text NOT NULL, key text NOT NULL, expires_at timestamptz NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS ${LEASES}_key ON ${LEASES} (name, key)`,
];

// $1 name, $2 key, $3 capacity, $4 per second, $5 cost, $6 now (ms). `b.` is the row before the update.
const AVAILABLE = "LEAST($3::float8, b.tokens + GREATEST(0, $6::float8 - b.updated_ms) / 1000 * $4::float8)";
const TAKE = `INSERT INTO ${BUCKETS} AS b (name, key, tokens, updated_ms, granted)
  VALUES ($1, $2, CASE WHEN $3::float8 >= $5::float8 THEN $3::float8 - $5::float8 ELSE $3::float8 END, $6::float8,
          $3::float8 >= $5::float8)
  ON CONFLICT (name, key) DO UPDATE SET
    granted = ${AVAILABLE} >= $5::float8,
    tokens = ${AVAILABLE} - CASE WHEN ${AVAILABLE} >= $5::float8 THEN $5::float8 ELSE 0 END,
    updated_ms = GREATEST(b.updated_ms, $6::float8)
  RETURNING granted`;
// Buckets that have refilled carry nothing worth keeping.
const FORGET_FULL = `DELETE FROM ${BUCKETS}
  WHERE name = $1 AND tokens + GREATEST(0, $4::float8 - updated_ms) / 1000 * $3::float8 >= $2::float8`;

export interface LimitStoreOptions {
  /** Pool size for limit statements (default 4); separate from Prisma's pool so a slow query cannot starve limits. */
  poolSize?: number;
  /** How long a stream lease lives without renewal: the cap a dead replica's streams hold (default 60 s). */
  leaseTtlMs?: number;
  log?: Logger;
}

/** The PostgreSQL side of shared limits: one small pool, the two UNLOGGED tables, lease renewal. */
export class LimitStore {
  private readonly leases = new Set<string>();
  private tables: Promise<void> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  readonly leaseTtlMs: number;

  private constructor(
    readonly pool: pg.Pool,
    options: LimitStoreOptions,
  ) {
    this.leaseTtlMs = options.leaseTtlMs ?? 60_000;
    pool.on("error", (err) => options.log?.warn({ err: err.message }, "limit store connection lost"));
    const renew = setInterval(() => void this.renewLeases().catch(() => undefined), this.leaseTtlMs / 3);
    renew.unref();
    this.timers.push(renew);
  }

  /**
   * Opens a pool on the service's database URL (its schema). Nothing is queried
   * yet: the tables are created on first use (see ready), so a service binds its
   * ports and reports its own health before its schema needs to exist.
   */
  static async open(databaseUrl: string, options: LimitStoreOptions = {}): Promise<LimitStore> {
    const pool = new pg.Pool(poolConfig(parseDatabaseUrl(databaseUrl), { max: options.poolSize ?? 4 }));
    return new LimitStore(pool, options);
  }

  /** Creates the two tables once; a failed attempt (database down) is retried on the next use. */
  private ready(): Promise<void> {
    this.tables ??= createTables(this.pool).catch((error: unknown) => {
      this.tables = undefined;
      throw error;
    });
    return this.tables;
  }

  /** A token bucket named `name` (one per limit), shared by every replica on this schema. */
  limiter(name: string, limit: RateLimit, now: () => number = Date.now): SharedRateLimiter {
    const limiter = new SharedRateLimiter(this, name, limit, now);
    const forget = setInterval(() => void limiter.forgetFull().catch(() => undefined), 60_000);
    forget.unref();
    this.timers.push(forget);
    return limiter;
  }

  /**
   * Takes one of `cap` leases for `key` (e.g. an account's live streams across
   * replicas); undefined when all are held. Expired leases (a replica that died)
   * are dropped first. Release the lease when the stream ends.
   */
  async acquireLease(name: string, key: string, cap: number): Promise<StreamLease | undefined> {
    await this.ready();
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      // Serialises opens for one key across replicas; other keys are not blocked.
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`${name}:${key}`]);
      await client.query(`DELETE FROM ${LEASES} WHERE name = $1 AND key = $2 AND expires_at < now()`, [name, key]);
      const held = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${LEASES} WHERE name = $1 AND key = $2`,
        [name, key],
      );
      const count = Number(held.rows[0].n);
      if (count >= cap) {
        await client.query("COMMIT");
        return undefined;
      }
      const id = randomUUID();
      await client.query(
        `INSERT INTO ${LEASES} (id, name, key, expires_at)
         VALUES ($1, $2, $3, now() + $4::float8 * interval '1 millisecond')`,
        [id, name, key, this.leaseTtlMs],
      );
      await client.query("COMMIT");
      this.leases.add(id);
      return { held: count + 1, release: () => this.releaseLease(id) };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async releaseLease(id: string): Promise<void> {
    if (!this.leases.delete(id)) return;
    await this.pool.query(`DELETE FROM ${LEASES} WHERE id = $1`, [id]);
  }

  /** Keeps this replica's leases alive; a replica that stops renewing frees its leases after leaseTtlMs. */
  async renewLeases(): Promise<void> {
    if (this.leases.size === 0) return;
    await this.pool.query(
      `UPDATE ${LEASES} SET expires_at = now() + $2::float8 * interval '1 millisecond' WHERE id = ANY($1::uuid[])`,
      [[...this.leases], this.leaseTtlMs],
    );
  }

  /** @internal one bucket statement. */
  async takeTokens(name: string, key: string, limit: RateLimit, cost: number, nowMs: number): Promise<boolean> {
    await this.ready();
    const result = await this.pool.query<{ granted: boolean }>(TAKE, [
      name,
      key,
      limit.capacity,
      limit.perSecond,
      cost,
      nowMs,
    ]);
    return result.rows[0].granted;
  }

  /** @internal drops refilled buckets of one limit. */
  async forget(name: string, limit: RateLimit, nowMs: number): Promise<void> {
    await this.ready();
    await this.pool.query(FORGET_FULL, [name, limit.capacity, limit.perSecond, nowMs]);
  }

  /** Frees this replica's leases and closes the pool (a stopping replica's streams end with it). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    if (this.leases.size > 0) {
      await this.pool
        .query(`DELETE FROM ${LEASES} WHERE id = ANY($1::uuid[])`, [[...this.leases]])
        .catch(() => undefined);
      this.leases.clear();
    }
    await this.pool.end();
  }
}

/** Creates the UNLOGGED bucket and lease tables in the pool's schema if missing. */
async function createTables(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    // Replicas start together: one creates, the others wait and find the tables.
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.seeme_limits'))");
    for (const statement of SETUP) await client.query(statement);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** A held lease: `held` counts this one; release() gives it back (idempotent). */
export interface StreamLease {
  held: number;
  release(): Promise<void>;
}

/**
 * A token bucket in PostgreSQL. When the database does not answer, it falls back
 * to this replica's own bucket (the limit then holds per replica, as before) rather
 * than refusing everyone: the requests it guards need the database anyway.
 */
export class SharedRateLimiter implements Limiter {
  private readonly local: RateLimiter;

  constructor(
    private readonly store: LimitStore,
    private readonly name: string,
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.local = new RateLimiter(limit, now);
  }

  async tryTake(key: string, cost = 1): Promise<boolean> {
    try {
      return await this.store.takeTokens(this.name, key, this.limit, cost, this.now());
    } catch {
      return this.local.tryTake(key, cost);
    }
  }

  async take(key: string, what: string, cost = 1): Promise<void> {
    if (!(await this.tryTake(key, cost))) {
      throw new ConnectError(`rate limit exceeded for ${what}; retry later`, Code.ResourceExhausted);
    }
  }

  /** @internal */
  forgetFull(): Promise<void> {
    return this.store.forget(this.name, this.limit, this.now());
  }
}
