import { loadConfig } from "@seeme/location/config";
import { startLocationService } from "@seeme/location/service";
import { sweepOnce } from "@seeme/location/sweeper";
import { createLogger } from "@seeme/runtime/logger";
import { round } from "../lib/stats.js";

export interface SweeperResult {
  expired: number;
  deleted: number;
  seconds: number;
  packetsPerSecond: number;
}

/**
 * Times one pass of the relay's own sweeper (sweepOnce on a real location
 * service's context) over the stack's database, with the service clock moved
 * past the seeded packets' expiry. Runs in this process; the stack is idle.
 */
export async function timeSweep(
  env: Record<string, string>,
  expired: number,
  clockAheadMs: number,
  boundMs: number,
): Promise<SweeperResult> {
  const config = loadConfig({ ...env, LOCATION_PORT: "0", METRICS_PORT: "0", SWEEP_INTERVAL: "1h", LOG_LEVEL: "warn" });
  const service = await startLocationService(config, {
    now: () => new Date(Date.now() + clockAheadMs),
    log: createLogger("bench-sweeper", "warn"),
  });
  try {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const deleted = await Promise.race([
      sweepOnce(service.context),
      new Promise<never>(
        (_, reject) =>
          (timer = setTimeout(() => reject(new Error(`sweep did not finish within ${boundMs / 1000} s`)), boundMs)),
      ),
    ]).finally(() => clearTimeout(timer));
    const seconds = (performance.now() - started) / 1000;
    return { expired, deleted, seconds: round(seconds), packetsPerSecond: round(deleted / seconds, 0) };
  } finally {
    await service.stop();
  }
}
