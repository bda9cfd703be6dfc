import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Admission control: a bound on the calls one process works on at once.
 *
 * Without it, load beyond what the process (and its database) can finish
 * queues up in the event loop and the pool: every call gets slower, until all
 * of them hit their deadline (issue #16: p99 28.5 s at 3,200 packets/s). With
 * it, at most `maxInFlight` calls run; a few more (`maxQueue`) may wait up to
 * `maxWaitMs` for a slot, which absorbs bursts without refusing them; the rest
 * are refused at once with `ResourceExhausted` and a `retry-after-ms` hint, so
 * admitted calls keep their latency and clients back off instead of piling on.
 */
export interface AdmissionLimits {
  /** Calls worked on at once (ADMISSION_MAX_IN_FLIGHT; read in config.ts with the defaults). */
  maxInFlight: number;
  /** Calls that may wait for a slot (ADMISSION_MAX_QUEUE); 0 refuses as soon as all slots are taken. */
  maxQueue: number;
  /** Longest wait for a slot before the call is refused (ADMISSION_MAX_WAIT). */
  maxWaitMs: number;
}

/** Header (Connect unary) or trailer (gRPC, gRPC-web, Connect streams) carrying how long to wait before retrying. */
export const RETRY_AFTER_HEADER = "retry-after-ms";

const MIN_RETRY_AFTER_MS = 50;
const MAX_RETRY_AFTER_MS = 5000;

interface Waiter {
  grant(): void;
  timer: NodeJS.Timeout;
}

export class Admission {
  private inFlight = 0;
  private readonly queue: Waiter[] = [];
  /** Moving average of how long an admitted call holds its slot: the basis of the retry hint. */
  private holdMs = 10;
  /** Refused calls since start, for metrics and tests. */
  refused = 0;

  constructor(readonly limits: AdmissionLimits) {}

  get active(): number {
    return this.inFlight;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with the function that frees the slot (call it exactly once, when
   * the call ends), or rejects with ResourceExhausted carrying the retry hint.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.inFlight < this.limits.maxInFlight && this.queue.length === 0) return Promise.resolve(this.admit());
    if (this.queue.length >= this.limits.maxQueue || this.limits.maxWaitMs === 0) return Promise.reject(this.refuse());
    return new Promise((resolve, reject) => {
      const leave = () => {
        clearTimeout(waiter.timer);
        const index = this.queue.indexOf(waiter);
        if (index >= 0) this.queue.splice(index, 1);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        leave();
        reject(new ConnectError("call cancelled while waiting for admission", Code.Canceled));
      };
      const waiter: Waiter = {
        grant: () => {
          leave();
          resolve(this.admit());
        },
        timer: setTimeout(() => {
          leave();
          reject(this.refuse());
        }, this.limits.maxWaitMs),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /** The retry hint for a refusal now: roughly how long until the work ahead of the caller drains. */
  retryAfterMs(): number {
    const ahead = (this.inFlight + this.queue.length) / this.limits.maxInFlight;
    const estimate = Math.ceil(this.holdMs * Math.max(1, ahead));
    return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, estimate));
  }

  private admit(): () => void {
    this.inFlight++;
    const started = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holdMs += (performance.now() - started - this.holdMs) / 16;
      this.inFlight--;
      // FIFO: the longest waiter gets the freed slot.
      this.queue[0]?.grant();
    };
  }

  private refuse(): ConnectError {
    this.refused++;
    return new ConnectError("server busy; retry later", Code.ResourceExhausted, {
      [RETRY_AFTER_HEADER]: String(this.retryAfterMs()),
    });
  }
}
