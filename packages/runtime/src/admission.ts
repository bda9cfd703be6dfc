import { Code, ConnectError } from "@connectrpc/connect";
import { Gauge, type Registry } from "prom-client";

/**
 * Admission control: a bound on the calls one process works on at once.
 *
 * Without it, load beyond what the process (and its database) can finish
 * queues up in the event loop and the pool: every call gets slower, until all
 * of them hit their deadline (issue #16: p99 28.5 s at 3,200 packets/s). With
 * it, at most `limit` calls run; a few more (`maxQueue`) may wait up to
 * `maxWaitMs` for a slot, which absorbs bursts without refusing them; the rest
 * are refused at once with `ResourceExhausted` and a `retry-after-ms` hint, so
 * admitted calls keep their latency and clients back off instead of piling on.
 *
 * A fixed bound cannot be right everywhere: by Little's law the latency of
 * admitted calls is in-flight ÷ throughput, and throughput depends on the
 * machine, the database and the neighbours. So `limit` adapts (AIMD, as TCP
 * does for its window): when a call held its slot longer than
 * `targetLatencyMs`, the limit shrinks by a fifth (at most once per target
 * interval, so one slow burst is one step); when the limit was reached and
 * calls are fast, it grows by about one per `limit` calls, up to `maxInFlight`.
 * "Longer" is also relative: on a machine where a call takes longer than the
 * target even alone, shrinking cannot help, so the bar is at least twice the
 * fastest recent hold time (the no-queue baseline).
 */
export interface AdmissionLimits {
  /** Ceiling of calls worked on at once (ADMISSION_MAX_IN_FLIGHT; read in config.ts with the defaults). */
  maxInFlight: number;
  /** Floor of the adaptive limit (ADMISSION_MIN_IN_FLIGHT). */
  minInFlight: number;
  /** Slot hold time above which the limit shrinks (ADMISSION_TARGET_LATENCY). */
  targetLatencyMs: number;
  /** Calls that may wait for a slot (ADMISSION_MAX_QUEUE); 0 refuses as soon as all slots are taken. */
  maxQueue: number;
  /** Longest wait for a slot before the call is refused (ADMISSION_MAX_WAIT). */
  maxWaitMs: number;
}

/** Header (Connect unary) or trailer (gRPC, gRPC-web, Connect streams) carrying how long to wait before retrying. */
export const RETRY_AFTER_HEADER = "retry-after-ms";

const MIN_RETRY_AFTER_MS = 50;
const DECREASE = 0.8;
/** Where the limit starts: low enough that a cold process under a flood does not take in a long queue first. */
const INITIAL_LIMIT = 16;
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
  private currentLimit: number;
  /** Fastest recent hold time: drops to any faster call, drifts up from lone calls so it follows a slower machine. */
  private baselineMs = Number.POSITIVE_INFINITY;
  private lastDecrease = Number.NEGATIVE_INFINITY;

  constructor(
    readonly limits: AdmissionLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.currentLimit = Math.min(limits.maxInFlight, Math.max(limits.minInFlight, INITIAL_LIMIT));
  }

  get active(): number {
    return this.inFlight;
  }

  /** Calls admitted at once right now (between minInFlight and maxInFlight). */
  get limit(): number {
    return Math.floor(this.currentLimit);
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with the function that frees the slot (call it exactly once, when
   * the call ends), or rejects with ResourceExhausted carrying the retry hint.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.inFlight < this.limit && this.queue.length === 0) return Promise.resolve(this.admit());
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
    const ahead = (this.inFlight + this.queue.length) / this.limit;
    const estimate = Math.ceil(this.holdMs * Math.max(1, ahead));
    return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, estimate));
  }

  private admit(): () => void {
    this.inFlight++;
    const started = this.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = this.now();
      this.adapt(now - started, now);
      this.inFlight--;
      // FIFO: the longest waiters get the freed slot(s).
      while (this.queue.length > 0 && this.inFlight < this.limit) this.queue[0]?.grant();
    };
  }

  private adapt(heldMs: number, now: number): void {
    this.holdMs += (heldMs - this.holdMs) / 16;
    // Up only from calls that ran (nearly) alone: under a queue every call is slow and would drag it up.
    if (heldMs < this.baselineMs) this.baselineMs = heldMs;
    else if (this.inFlight <= this.limits.minInFlight) this.baselineMs += (heldMs - this.baselineMs) / 16;
    const { minInFlight, maxInFlight, targetLatencyMs } = this.limits;
    if (heldMs > Math.max(targetLatencyMs, 2 * this.baselineMs)) {
      if (now - this.lastDecrease >= targetLatencyMs) {
        this.currentLimit = Math.max(minInFlight, this.currentLimit * DECREASE);
        this.lastDecrease = now;
      }
    } else if (this.inFlight >= this.limit) {
      // Only a limit that was actually reached grows: idle capacity proves nothing.
      this.currentLimit = Math.min(maxInFlight, this.currentLimit + 1 / this.currentLimit);
    }
  }

  private refuse(): ConnectError {
    this.refused++;
    return new ConnectError("server busy; retry later", Code.ResourceExhausted, {
      [RETRY_AFTER_HEADER]: String(this.retryAfterMs()),
    });
  }
}

/** Exposes the admission state on a service's Prometheus registry (read at scrape time). */
export function admissionMetrics(admission: Admission, registry: Registry): void {
  new Gauge({
    name: "seeme_admission_limit",
    help: "Unary calls admitted at once right now (adaptive).",
    registers: [registry],
    collect() {
      this.set(admission.limit);
    },
  });
  new Gauge({
    name: "seeme_admission_in_flight",
    help: "Unary calls being worked on.",
    registers: [registry],
    collect() {
      this.set(admission.active);
    },
  });
  new Gauge({
    name: "seeme_admission_refused",
    help: "Calls refused with ResourceExhausted since start.",
    registers: [registry],
    collect() {
      this.set(admission.refused);
    },
  });
}
