import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { startPeriodic, type Periodic } from "./periodic.js";
import { untraced } from "./tracing.js";
import type { Logger } from "./logger.js";

/** A dependency probe: resolves true when the dependency answers. */
export type Probe = () => Promise<boolean> | boolean;

const PROBE_TIMEOUT_MS = 1500;

async function runProbe(probe: Probe): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS)));
  try {
    // Untraced: a probe every few seconds would bury the traces worth reading.
    return await Promise.race([Promise.resolve().then(() => untraced(probe)), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Probes dependencies on an interval and reports the result as one serving
 * state, so health follows PostgreSQL and NATS going away and coming back
 * without a restart. Once shut down it stays NOT_SERVING.
 */
export class DependencyMonitor {
  private loop?: Periodic;
  private serving = false;
  private stopped = false;
  private readonly listeners: Array<(serving: boolean) => void> = [];
  readonly failing = new Set<string>();
  /** Reasons to stay NOT_SERVING that are not probes, e.g. "starting" until start-up has connected everything. */
  readonly holds = new Set<string>();

  constructor(
    private readonly probes: Record<string, Probe>,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  get isServing(): boolean {
    return this.serving && !this.stopped;
  }

  /** Calls `listener` on every change; returns a function that removes it. */
  onChange(listener: (serving: boolean) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  /** Stays NOT_SERVING for `reason` until the returned function is called. */
  hold(reason: string): () => void {
    this.holds.add(reason);
    this.set(false);
    return () => {
      if (!this.holds.delete(reason)) return;
      // Re-probe at once rather than waiting for the next interval.
      void this.check().catch(() => undefined);
    };
  }

  /** Probes once now, then keeps probing until stop(). */
  async start(): Promise<boolean> {
    await this.check();
    if (!this.stopped) {
      this.loop = startPeriodic(() => this.check(), {
        intervalMs: this.intervalMs,
        onError: (err) => this.log.warn({ err }, "dependency check failed"),
      });
    }
    return this.serving;
  }

  async check(): Promise<void> {
    const results = await Promise.all(
      Object.entries(this.probes).map(async ([name, probe]) => [name, await runProbe(probe)] as const),
    );
    if (this.stopped) return;
    for (const [name, ok] of results) {
      if (!ok && !this.failing.has(name)) this.log.warn({ dependency: name }, "dependency unreachable");
      if (ok && this.failing.has(name)) this.log.info({ dependency: name }, "dependency reachable again");
      if (ok) this.failing.delete(name);
      else this.failing.add(name);
    }
    this.set(this.failing.size === 0 && this.holds.size === 0);
  }

  stop(): void {
    this.stopped = true;
    void this.loop?.stop();
    this.set(false);
  }

  private set(serving: boolean): void {
    if (serving === this.serving) return;
    this.serving = serving;
    for (const listener of this.listeners) listener(serving);
  }
}

/**
 * Health name for liveness probes: SERVING while the process runs, whatever
 * its dependencies do, because restarting cannot bring a database back.
 */
export const LIVENESS_SERVICE = "liveness";

export interface HealthHandle {
  /** Reports these service names too (services registered once start-up has connected). */
  add(serviceNames: string[]): void;
  /** At shutdown: liveness goes NOT_SERVING too. */
  end(): void;
}

/**
 * grpc.health.v1 for the overall server ("") and each named service, driven by
 * a monitor (readiness), plus LIVENESS_SERVICE. Health checks never pass
 * admission control: they are answered even when the process sheds load.
 */
export function addHealthService(
  server: grpc.Server,
  serviceNames: string[],
  monitor: DependencyMonitor,
): HealthHandle {
  const names = [""];
  const status = (serving: boolean): ServingStatus => (serving ? "SERVING" : "NOT_SERVING");
  const health = new HealthImplementation({ [LIVENESS_SERVICE]: "SERVING" });
  const add = (more: string[]) => {
    for (const name of more) if (!names.includes(name)) names.push(name);
    for (const name of names) health.setStatus(name, status(monitor.isServing));
  };
  add(serviceNames);
  monitor.onChange((serving) => names.forEach((name) => health.setStatus(name, status(serving))));
  health.addToServer(server);
  return { add, end: () => health.setStatus(LIVENESS_SERVICE, "NOT_SERVING") };
}
