import { Code, ConnectError } from "@connectrpc/connect";

export interface RetryPolicy {
  /** Attempts for one call, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 15_000 };

/** Failures that may pass by themselves: the server is down, overloaded or rate limiting us. */
const TRANSIENT = new Set([Code.Unavailable, Code.ResourceExhausted, Code.DeadlineExceeded, Code.Aborted]);

export function isTransient(error: unknown): boolean {
  return TRANSIENT.has(ConnectError.from(error).code);
}

/**
 * Exponential backoff with full jitter: a random wait up to base·2^attempt (capped),
 * so many devices coming back after an outage do not retry in lockstep.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling * random());
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/** Runs `call`, retrying transient failures with backoff; any other error is thrown at once. */
export async function withRetry<T>(call: () => Promise<T>, policy: RetryPolicy, onRetry?: (error: ConnectError, delayMs: number) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isTransient(error) || attempt + 1 >= policy.attempts) throw error;
      const delay = backoffDelay(attempt, policy);
      onRetry?.(ConnectError.from(error), delay);
      await sleep(delay);
    }
  }
}
