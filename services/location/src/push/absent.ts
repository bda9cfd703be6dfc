// Accounts remembered at most; the oldest is forgotten first.
const CAPACITY = 100_000;

/**
 * Accounts found to have no push subscription, remembered for `ttlMs` so that
 * a hint (one per Sync that stores packets) does not ask the database each
 * time: most accounts (CLI, SDK, apps that never registered) have none, and the
 * question cost a query per packet. A registration through this replica
 * forgets the account at once; one through another replica is seen within
 * `ttlMs` — a wake-up is best effort, and an app registers while it is open
 * (its live stream gets the packets meanwhile).
 */
export class AbsentSubscriptions {
  private readonly until = new Map<string, number>();

  constructor(private readonly ttlMs: number) {}

  has(accountId: string, now: Date): boolean {
    const until = this.until.get(accountId);
    if (until === undefined) return false;
    if (until > now.getTime()) return true;
    this.until.delete(accountId);
    return false;
  }

  add(accountId: string, now: Date): void {
    if (this.ttlMs === 0) return;
    // Re-inserted, so the Map's first key stays the oldest.
    this.until.delete(accountId);
    this.until.set(accountId, now.getTime() + this.ttlMs);
    if (this.until.size > CAPACITY) this.until.delete(this.until.keys().next().value as string);
  }

  forget(accountId: string): void {
    this.until.delete(accountId);
  }
}
