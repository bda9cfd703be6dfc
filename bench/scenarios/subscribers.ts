import { createDevices, deviceFor, type Device } from "../lib/devices.js";
import { rssBytes } from "../lib/cpu.js";
import type { BenchStack } from "../lib/stack.js";
import { round, sleep } from "../lib/stats.js";

export interface SubscribersPoint {
  subscribers: number;
  /** Distinct accounts behind them (devices beyond that share accounts; see BENCHMARKS.md). */
  accounts: number;
  /** Time until every stream reported caught_up. */
  openSeconds: number;
  gatewayKiBPerSubscriber: number;
  locationKiBPerSubscriber: number;
}

/**
 * N live Subscribe streams on one gateway, each device on its own HTTP/2
 * connection; resident memory of the gateway and location processes before
 * and after, divided by N.
 */
export async function benchSubscribers(
  stack: BenchStack,
  levels: number[],
  registerBoundMs: number,
): Promise<SubscribersPoint[]> {
  const most = Math.max(...levels);
  const accounts: Device[] = [];
  const until = performance.now() + registerBoundMs;
  while (accounts.length < most && performance.now() < until)
    accounts.push(...(await createDevices(stack.gatewayUrl, Math.min(50, most - accounts.length), 16)));
  const points: SubscribersPoint[] = [];
  for (const n of levels) {
    const extra =
      accounts.length === 0
        ? []
        : Array.from({ length: n }, (_, i) => deviceFor(stack.gatewayUrl, accounts[i % accounts.length].account));
    const before = { gateway: rssBytes(stack.pid("gateway")), location: rssBytes(stack.pid("location")) };
    const started = performance.now();
    const aborts = extra.map(() => new AbortController());
    const ready: Array<Promise<void>> = [];
    const ended = extra.map((device, i) => {
      let caughtUp!: () => void;
      ready.push(new Promise<void>((resolve) => (caughtUp = resolve)));
      return (async () => {
        try {
          for await (const { event } of device.location.subscribe({}, { ...device.call, signal: aborts[i].signal }))
            if (event.case === "caughtUp") caughtUp();
        } catch {
          // Aborted at the end.
        }
        caughtUp();
      })();
    });
    await Promise.all(ready);
    const openSeconds = (performance.now() - started) / 1000;
    await sleep(1000);
    const after = { gateway: rssBytes(stack.pid("gateway")), location: rssBytes(stack.pid("location")) };
    for (const abort of aborts) abort.abort();
    await Promise.all(ended);
    for (const device of extra) device.close();
    points.push({
      subscribers: n,
      accounts: Math.min(n, accounts.length),
      openSeconds: round(openSeconds),
      gatewayKiBPerSubscriber: round((after.gateway - before.gateway) / 1024 / n, 1),
      locationKiBPerSubscriber: round((after.location - before.location) / 1024 / n, 1),
    });
    await sleep(500);
  }
  for (const device of accounts) device.close();
  return points;
}
