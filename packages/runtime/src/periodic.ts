import { outsideTrace } from "./tracing.js";

/**
 * The one way a service runs work on a period (sweepers, retry loops, relays):
 * a chained setTimeout, so a slow tick never overlaps the next and a tick that
 * runs long delays the following one instead of queueing it.
 */
export interface PeriodicOptions {
  /** Delay between the end of one tick and the start of the next. */
  intervalMs: number;
  /** Called with what a tick threw; the loop goes on at the next period. */
  onError: (error: unknown) => void;
  /** Run the first tick at once instead of after one period. Default false. */
  immediate?: boolean;
}

export interface Periodic {
  /** Runs a tick now (or right after the one in flight) and restarts the period. */
  trigger(): void;
  /** Stops the loop; resolves after the tick in flight (if any) has finished. */
  stop(): Promise<void>;
}

export function startPeriodic(tick: () => Promise<unknown> | unknown, options: PeriodicOptions): Periodic {
  const { intervalMs, onError } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let again = false;

  function schedule(): void {
    // unref: a loop someone forgot to stop must not keep the process alive.
    if (!stopped) timer = setTimeout(run, intervalMs).unref();
  }

  function run(): void {
    if (stopped) return;
    if (running) {
      // Asked for while a tick runs: what it should see may have landed after it read.
      again = true;
      return;
    }
    clearTimeout(timer);
    running = Promise.resolve()
      .then(() => outsideTrace(tick))
      .then(
        () => undefined,
        (error: unknown) => onError(error),
      )
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          run();
        } else schedule();
      });
  }

  if (options.immediate) run();
  else schedule();
  return {
    trigger: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // A tick may trigger a follow-up in its finally; wait until none runs.
      while (running) await running;
    },
  };
}
