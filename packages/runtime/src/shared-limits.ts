import { randomUUID } from "node:crypto";
import pg from "pg";
import { parseDatabaseUrl, poolConfig } from "./db/url.js";
import type { Logger } from "./logger.js";
import { RateLimiter, rateLimitExceeded, type RateLimit } from "./rate-limit.js";

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

/**
 * Takes from buckets in order in one statement: take i is one UPSERT (a CTE),
 * run only when take i-1 was granted, so the first refusal leaves the buckets
 * after it untouched, as separate statements one after another would. `$1` is
 * now (ms); take i's name, key, capacity, per second and cost follow from
 * `$(2 + 5i)`. A refused take still stores its refilled bucket; `b.` is the row
 * before the update.
 */
function takeStatement(count: number): string {
  const ctes = Array.from({ length: count }, (_, i) => {
    const [name, key, capacity, perSecond, cost] = [2, 3, 4, 5, 6].map((n) => `$${n + 5 * i}`);
    const available = `LEAST(${capacity}::float8, b.tokens + GREATEST(0, $1::float8 - b.updated_ms) / 1000 * ${perSecond}::float8)`;
    return `t${i} AS (
  INSERT INTO ${BUCKETS} AS b (name, key, tokens, updated_ms, granted)
  SELECT ${name}, ${key}, CASE WHEN ${capacity}::float8 >= ${cost}::float8 THEN ${capacity}::float8 - ${cost}::float8 ELSE ${capacity}::float8 END,
         $1::float8, ${capacity}::float8 >= ${cost}::float8
   WHERE ${i === 0 ? "true" : `(SELECT granted FROM t${i - 1})`}
  ON CONFLICT (name, key) DO UPDATE SET
    granted = ${available} >= ${cost}::float8,
    tokens = ${available} - CASE WHEN ${available} >= ${cost}::float8 THEN ${cost}::float8 ELSE 0 END,
    updated_ms = GREATEST(b.updated_ms, $1::float8)
  RETURNING granted)`;
  });
  const results = Array.from({ length: count }, (_, i) => `(SELECT granted FROM t${i}) AS g${i}`);
  return `WITH ${ctes.join(",\n")}\nSELECT ${results.join(", ")}`;
}
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

  /**
   * @internal Takes in order in one statement (takeStatement): for each take, granted,
   * or undefined when an earlier one was refused (it was not charged).
   */
  async takeTokens(takes: BucketTake[], nowMs: number): Promise<Array<boolean | undefined>> {
    await this.ready();
    const { rows } = await this.pool.query<Record<string, boolean | null>>(takeStatement(takes.length), [
      nowMs,
      ...takes.flatMap((take) => [take.name, take.key, take.limit.capacity, take.limit.perSecond, take.cost]),
    ]);
    return takes.map((_, i) => rows[0][`g${i}`] ?? undefined);
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
    readonly store: LimitStore,
    readonly name: string,
    private readonly limit: RateLimit,
    readonly now: () => number = Date.now,
  ) {
    this.local = new RateLimiter(limit, now);
  }

  async tryTake(key: string, cost = 1): Promise<boolean> {
    try {
      const [granted] = await this.store.takeTokens([this.bucket(key, cost)], this.now());
      return granted === true;
    } catch {
      return this.local.tryTake(key, cost);
    }
  }

  /** @internal this limiter's take of `cost` from `key`'s bucket, for the store's statement. */
  bucket(key: string, cost: number): BucketTake {
    return { name: this.name, key, limit: this.limit, cost };
  }

  /** @internal the take this replica falls back to when the database does not answer. */
  tryTakeLocally(key: string, cost: number): boolean {
    return this.local.tryTake(key, cost);
  }

  async take(key: string, what: string, cost = 1): Promise<void> {
    if (!(await this.tryTake(key, cost))) {
      throw rateLimitExceeded(what);
    }
  }

  /** @internal */
  forgetFull(): Promise<void> {
    return this.store.forget(this.name, this.limit, this.now());
  }
}

/** One bucket of a store's statement. */
interface BucketTake {
  name: string;
  key: string;
  limit: RateLimit;
  cost: number;
}

/** One take of `takeInOrder`. */
export interface Take {
  limiter: Limiter;
  key: string;
  /** Names the limit in the refusal ("packets sent by this account"). */
  what: string;
  cost: number;
}

/**
 * Takes from several buckets in order, as `take` one after another would: the
 * first refusal throws ResourceExhausted naming it, and the buckets after it are
 * not charged. Shared buckets of one store are taken in one statement — one
 * round trip instead of one per bucket (a Sync takes its sender's and each
 * recipient's); when the database does not answer, each falls back to this
 * replica's own bucket, in the same order.
 */
export async function takeInOrder(takes: Take[]): Promise<void> {
  const limiters = takes.map((take) => take.limiter);
  const shared = limiters.every((limiter) => limiter instanceof SharedRateLimiter) ? limiters : [];
  const store = shared[0]?.store;
  const buckets = new Set(takes.map((take, i) => `${shared[i]?.name}\0${take.key}`));
  // One statement cannot take twice from one bucket, nor span stores: such takes go one by one.
  if (takes.length < 2 || !store || shared.some((limiter) => limiter.store !== store) || buckets.size < takes.length) {
    for (const take of takes) await take.limiter.take(take.key, take.what, take.cost);
    return;
  }
  let granted: Array<boolean | undefined>;
  try {
    granted = await store.takeTokens(
      takes.map((take, i) => shared[i].bucket(take.key, take.cost)),
      shared[0].now(),
    );
  } catch {
    granted = [];
    for (const [i, take] of takes.entries()) {
      granted.push(shared[i].tryTakeLocally(take.key, take.cost));
      if (!granted[i]) break;
    }
  }
  const refused = takes.findIndex((_, i) => granted[i] !== true);
  if (refused !== -1) throw rateLimitExceeded(takes[refused].what);
}
