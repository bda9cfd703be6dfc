import type { Logger } from "./logger.js";
import { isDependencyOutage } from "./outage.js";

export interface RetryOptions {
  log: Logger;
  /** First wait after a failure; doubled per attempt up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Aborting ends the wait (the process is being stopped). */
  signal?: AbortSignal;
}

/** Error of a start-up step abandoned because the process is stopping. */
export class StartAborted extends Error {
  constructor(what: string) {
    super(`stopped while waiting for ${what}`);
    this.name = "StartAborted";
  }
}

/**
 * Runs a start-up step until it succeeds, as long as it fails for a reason
 * that goes away by itself (PostgreSQL or NATS unreachable: `isDependencyOutage`).
 * Services are started in any order (compose, Kubernetes), so a dependency that
 * is not up yet is a wait, not a crash loop. Each retry is one plain log line
 * (no stack); any other error (a bad migration, a wrong password) ends the
 * start-up as before.
 */
export async function retryUntilReachable<T>(what: string, step: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { log, signal } = options;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  let delayMs = options.initialDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new StartAborted(what);
    try {
      const result = await step();
      if (attempt > 1) log.info({ attempts: attempt }, `${what} reachable`);
      return result;
    } catch (error) {
      if (!isDependencyOutage(error)) throw error;
      log.warn(
        { attempt, retryInMs: delayMs, reason: reasonOf(error) },
        `${what} unreachable at start-up; NOT_SERVING, retrying`,
      );
      await sleep(delayMs, signal);
      // Jitter: a fleet restarted together does not knock on the database in step.
      delayMs = Math.min(maxDelayMs, Math.round(delayMs * (1.5 + Math.random())));
    }
  }
}

/** The innermost error's code or message, one line (driver errors wrap each other). */
function reasonOf(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (current as { cause?: unknown } | undefined)?.cause;
    if (!cause) break;
    current = cause;
  }
  const { code, message } = (current ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string" && code) return code;
  return typeof message === "string" ? (message.split("\n")[0] ?? "") : String(current);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
