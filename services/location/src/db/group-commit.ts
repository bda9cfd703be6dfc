import type { DirectDatabase, DirectSql } from "@seeme/runtime/db";

/** One caller's work: it runs on whatever it is given (the shared transaction, or the client alone). */
interface Job<T> {
  /** Orders the jobs of a batch (the caller's account), so batches take route locks in one order. */
  key: string;
  /** Needs a transaction of its own when it runs alone (more than one statement). */
  atomic: boolean;
  run: (db: DirectSql) => Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** How long the first job of a batch waits for others; 0: the jobs that arrive in the same event-loop turn. */
  windowMs: number;
  /** A batch this big runs at once; 1 runs every job alone (no group commit). */
  maxBatch: number;
}

/**
 * Group commit: Syncs that arrive within `windowMs` of each other run one after
 * another in one transaction, so they share one commit (one WAL flush, the
 * largest cost of a one-packet Sync) instead of paying one each. Each caller
 * still gets its own result, after the commit that made it durable. When any
 * job of a batch fails, nothing of the batch stays (the transaction rolls back)
 * and every job runs again alone, so one bad Sync fails only itself. Jobs are
 * idempotent in effect until committed: a rolled-back job changed nothing.
 *
 * Locks: a Sync locks only routes whose sender is its caller, in pairID order;
 * ordering a batch by caller keeps two batches from taking them in opposite
 * orders. Other rows two batches may both touch (a recipient acknowledging what
 * a sender's slot replaces) can still deadlock; PostgreSQL then cancels one,
 * which runs its jobs again alone.
 */
export class GroupCommit {
  private pending: Array<Job<unknown>> = [];
  private waiting = false;

  constructor(
    private readonly db: DirectDatabase,
    private readonly options: GroupCommitOptions,
  ) {}

  run<T>(key: string, atomic: boolean, run: (db: DirectSql) => Promise<T>): Promise<T> {
    if (this.options.maxBatch <= 1) return this.alone({ key, atomic, run, resolve: () => {}, reject: () => {} });
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ key, atomic, run, resolve, reject } as Job<unknown>);
      if (this.pending.length >= this.options.maxBatch) this.flush();
      else if (!this.waiting) {
        this.waiting = true;
        if (this.options.windowMs > 0) setTimeout(() => this.flush(), this.options.windowMs);
        else setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    // A batch flushed for its size leaves the pending timer to flush whatever came after it.
    if (this.pending.length === 0) {
      this.waiting = false;
      return;
    }
    if (this.pending.length < this.options.maxBatch) this.waiting = false;
    const batch = this.pending.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.pending = [];
    void this.commit(batch);
  }

  private async commit(batch: Array<Job<unknown>>): Promise<void> {
    if (batch.length === 1) {
      await this.settle(batch[0]);
      return;
    }
    let results: unknown[];
    try {
      results = await this.db.transaction(async (tx) => {
        const out: unknown[] = [];
        for (const job of batch) out.push(await job.run(tx));
        return out;
      });
    } catch {
      // Rolled back whole: each job again on its own, with its own result or error.
      await Promise.all(batch.map((job) => this.settle(job)));
      return;
    }
    batch.forEach((job, i) => job.resolve(results[i]));
  }

  private async settle(job: Job<unknown>): Promise<void> {
    try {
      job.resolve(await this.alone(job));
    } catch (error) {
      job.reject(error);
    }
  }

  private alone<T>(job: Job<T>): Promise<T> {
    return job.atomic ? this.db.transaction((tx) => job.run(tx)) : job.run(this.db);
  }
}
