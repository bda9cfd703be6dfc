import { Code, ConnectError } from "@connectrpc/connect";

/**
 * In-memory token buckets keyed by a string (a source address, an account, a
 * pairID), one replica's own. The services share their limits across replicas
 * through shared-limits.ts (PostgreSQL), which falls back to this when the
 * database does not answer.
 */
export interface RateLimit {
  /** Burst size. */
  capacity: number;
  /** Sustained rate. */
  perSecond: number;
}

/** The refusal of every limiter, local or shared: ResourceExhausted naming what was limited. */
export function rateLimitExceeded(what: string): ConnectError {
  return new ConnectError(`rate limit exceeded for ${what}; retry later`, Code.ResourceExhausted);
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes `cost` tokens for `key`; false when the bucket is empty (nothing is taken then). */
  tryTake(key: string, cost = 1): boolean {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.capacity, updated: now };
    bucket.tokens = Math.min(
      this.limit.capacity,
      bucket.tokens + ((now - bucket.updated) / 1000) * this.limit.perSecond,
    );
    bucket.updated = now;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 100_000) this.evictFull(now);
    if (bucket.tokens < cost) return false;
    bucket.tokens -= cost;
    return true;
  }

  /** Like tryTake, but throws ResourceExhausted naming what was limited. */
  take(key: string, what: string, cost = 1): void {
    if (!this.tryTake(key, cost)) throw rateLimitExceeded(what);
  }

  /** Full buckets carry no state worth keeping; dropping them bounds memory. */
  private evictFull(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updated) / 1000) * this.limit.perSecond >= this.limit.capacity)
        this.buckets.delete(key);
    }
  }
}

/** Header the gateway sets to the client's network address (clients cannot set it; the gateway overwrites it). */
export const CLIENT_ADDRESS_HEADER = "x-seeme-client-address";
