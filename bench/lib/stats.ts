/** Latency samples in milliseconds; percentiles by sorting (runs hold at most a few hundred thousand). */
export class Latencies {
  private values: number[] = [];

  add(ms: number): void {
    this.values.push(ms);
  }

  get count(): number {
    return this.values.length;
  }

  percentile(p: number): number {
    if (this.values.length === 0) return 0;
    const sorted = Float64Array.from(this.values).sort();
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  }

  summary(): LatencySummary {
    return {
      samples: this.count,
      p50Ms: round(this.percentile(50)),
      p99Ms: round(this.percentile(99)),
      maxMs: round(this.percentile(100)),
    };
  }
}

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** 128 random bytes per packet, from a pool shared by every scenario so all of them move the same payloads. */
export const BLOB_BYTES = 128;
const POOL = Array.from({ length: 256 }, () => crypto.getRandomValues(new Uint8Array(BLOB_BYTES)));
export function blobFor(i: number): Uint8Array<ArrayBuffer> {
  return POOL[i % POOL.length];
}
export function blobPool(): Array<Uint8Array<ArrayBuffer>> {
  return POOL;
}

/**
 * Runs `work` from `concurrency` loops for `warmupMs + durationMs`; counts what
 * each call completed after the warm-up reports as done (rows, messages,
 * requests), and its latency.
 */
export async function closedLoop(
  options: { concurrency: number; durationMs: number; warmupMs?: number },
  work: (worker: number, iteration: number) => Promise<number>,
): Promise<{ perSecond: number; done: number; seconds: number; latency: LatencySummary }> {
  const latency = new Latencies();
  const from = performance.now() + (options.warmupMs ?? 0);
  const until = from + options.durationMs;
  let done = 0;
  let last = from;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < until; i++) {
        const t0 = performance.now();
        const n = await work(worker, i);
        const t1 = performance.now();
        if (t1 >= from) {
          done += n;
          latency.add(t1 - t0);
          last = Math.max(last, t1);
        }
      }
    }),
  );
  const seconds = (last - from) / 1000;
  return { perSecond: round(done / seconds, 0), done, seconds: round(seconds), latency: latency.summary() };
}

/** CPU milliseconds per acknowledged packet of a process that used `cores` (1.0 = one core busy) at `ackedPerSecond`. */
export function msPerPacket(cores: number, ackedPerSecond: number): number {
  return Math.round((cores * 1000 * 1000) / Math.max(ackedPerSecond, 1)) / 1000;
}
